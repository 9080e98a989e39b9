"""The style-based generator (Karras et al., "A Style-Based Generator
Architecture for Generative Adversarial Networks", CVPR 2019) and a residual
discriminator (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020), in NHWC with keras.ops only.

Generator  z [B, latent_dim] -> MappingNetwork (pixel norm, 8 equalized dense
           lrelu layers, learning rate x0.01) -> w [B, w_dim], broadcast to
           ws [B, num_ws, w_dim] (optionally truncated towards the running
           average w_avg, or mixed with a second w in training) ->
           SynthesisNetwork: a learned 4x4 constant, then num_ws = 2 log2(R) - 2
           style layers, two per resolution 4..R:
               [bilinear x2 -> conv3x3 | conv3x3 | nothing (the constant)]
               -> noise (per-channel scale) -> bias -> lrelu
               -> AdaIN with style A_k(ws[:, k])
           -> toRGB (1x1 conv, linear) -> images [B, R, R, channels].
           The affine maps A_k (StyleAffine, ``synthesis.affine_layers``) are
           separate layers so that few-shot adaptation can train them alone.
Discriminator  fromRGB 1x1 -> residual blocks R..8 (two 3x3 convs + 2x2 average
           pool, 1x1 skip, sum / sqrt(2)) -> minibatch stddev at 4x4 -> conv3x3
           -> dense -> dense -> logits [B, 1].

Channels at resolution r: min(channel_base // r, channel_max)
(StyleGAN2-ADA's rule; channel_base 8192 and channel_max 512 give 512 up to
16 px and 8192 / r above).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfgen.checks import check_channels
from tfgen.families.stylegan.config import LATENT_SPACES, STYLEGAN_SAMPLING, check_stylegan_resolution
from tfgen.layers import AdaIN, EqualizedConv2D, EqualizedDense, NoiseInjection, PixelNorm, scaled_lrelu
from tfgen.weights import CheckedWeightsMixin
from tfgen.errors import InputError

CONSTANT_SIZE = 4  # the synthesis starts from a learned 4x4 map; the discriminator ends at 4x4


def check_positive(name, value) -> int:
    if int(value) != value or value < 1:
        raise InputError(f"{name} must be a positive integer. Received: {name}={value}")
    return int(value)


def num_style_layers(resolution) -> int:
    """num_ws: two style layers per resolution 4..R, i.e. 2 log2(R) - 2."""
    return 2 * int(round(math.log2(resolution))) - 2


def channels_by_resolution(resolution, channel_base, channel_max) -> dict[int, int]:
    """{r: min(channel_base // r, channel_max)} for r = 4, 8, ..., resolution.

    Raises ValueError when a resolution would get no channels.
    """
    check_positive("channel_base", channel_base)
    check_positive("channel_max", channel_max)
    sizes = [2**i for i in range(2, int(round(math.log2(resolution))) + 1)]
    channels = {r: min(int(channel_base) // r, int(channel_max)) for r in sizes}
    if channels[resolution] < 1:
        raise InputError(
            f"channel_base // resolution must be >= 1 (channels at resolution r are "
            f"min(channel_base // r, channel_max)): use channel_base >= {resolution}. "
            f"Received: channel_base={channel_base}, resolution={resolution}"
        )
    return channels


def upsample_bilinear(x):
    """Bilinear x2 upsampling of [B, H, W, C] (half-pixel centres, edges
    clamped: ``tf.image.resize(x, 2 * size, "bilinear")``), from shifted copies
    so that it is cheap, exact and the same on every backend."""

    def along(x, axis):
        n = x.shape[axis]
        if axis == 1:
            first, last, head, tail = x[:, :1], x[:, -1:], x[:, :-1], x[:, 1:]
        else:
            first, last, head, tail = x[:, :, :1], x[:, :, -1:], x[:, :, :-1], x[:, :, 1:]
        before = ops.concatenate([first, head], axis=axis)  # x[i - 1], edge clamped
        after = ops.concatenate([tail, last], axis=axis)  # x[i + 1]
        even = 0.25 * before + 0.75 * x  # output pixel 2i sits at i - 1/4
        odd = 0.75 * x + 0.25 * after  # output pixel 2i + 1 at i + 1/4
        out = ops.stack([even, odd], axis=axis + 1)  # interleave
        shape = [-1, x.shape[1], x.shape[2], x.shape[3]]
        shape[axis] = 2 * n
        return ops.reshape(out, shape)

    return along(along(x, 1), 2)


def downsample_avg(x):
    """2x2 average pooling of [B, H, W, C] (H, W even)."""
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    return ops.mean(ops.reshape(x, (-1, h // 2, 2, w // 2, 2, c)), axis=(2, 4))


# ------------------------------------------------------------------- mapping


@keras.saving.register_keras_serializable("tfgen")
class MappingNetwork(keras.layers.Layer):
    """z [B, latent_dim] -> pixel norm -> num_layers x (EqualizedDense lrelu) -> w [B, w_dim].

    Args:
        latent_dim: size of z.
        w_dim: size of w (and of every hidden layer).
        num_layers: dense layers (StyleGAN: 8).
        lr_multiplier: learning-rate multiplier of the dense layers (StyleGAN: 0.01).
    """

    def __init__(self, *, latent_dim, w_dim, num_layers=8, lr_multiplier=0.01, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = check_positive("latent_dim", latent_dim)
        self.w_dim = check_positive("w_dim", w_dim)
        self.num_layers = check_positive("num_layers", num_layers)
        self.lr_multiplier = float(lr_multiplier)
        self.pixel_norm = PixelNorm(name="pixel_norm")
        self.dense_layers = [
            EqualizedDense(units=self.w_dim, lr_multiplier=self.lr_multiplier, activation="lrelu", name=f"dense_{i}")
            for i in range(self.num_layers)
        ]
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        if self.built:
            return
        shape = (None, self.latent_dim)
        for layer in self.dense_layers:
            layer.build(shape)
            shape = (None, self.w_dim)

    def call(self, z):
        x = self.pixel_norm(z)  # [B, latent_dim]
        for layer in self.dense_layers:
            x = layer(x)
        return x  # [B, w_dim]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.w_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_dim=self.latent_dim,
            w_dim=self.w_dim,
            num_layers=self.num_layers,
            lr_multiplier=self.lr_multiplier,
        )
        return config


# ----------------------------------------------------------------- synthesis


@keras.saving.register_keras_serializable("tfgen")
class StyleAffine(EqualizedDense):
    """A_k: w [B, w_dim] -> style [B, 2 * channels] = (scale, bias) of one AdaIN.

    An equalized dense layer whose bias starts at 0, so that the initial
    style has no offset: with AdaIN's "+1" the mean style is the identity.

    Args:
        channels: channels of the feature map the style modulates.
    """

    def __init__(self, *, channels, **kwargs):
        for key in ("units", "lr_multiplier", "bias_init", "gain", "activation"):
            kwargs.pop(key, None)
        self.channels = check_positive("channels", channels)
        super().__init__(units=2 * self.channels, bias_init=0.0, **kwargs)

    def get_config(self):
        config = super().get_config()
        for key in ("units", "lr_multiplier", "bias_init", "gain", "activation"):
            config.pop(key)
        config.update(channels=self.channels)
        return config


@keras.saving.register_keras_serializable("tfgen")
class SynthesisLayer(keras.layers.Layer):
    """One style layer, ``layer([x, style])``:
    [bilinear x2] -> [conv3x3] -> noise -> bias -> lrelu -> AdaIN(style).

    Args:
        filters: output channels (with ``conv=False``: the input's channels).
        conv: apply a 3x3 equalized convolution first (False: the constant layer).
        upsample: double the resolution (bilinear) before the convolution.
        seed: seed of the noise stream (None: random).
    """

    def __init__(self, *, filters, conv=True, upsample=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive("filters", filters)
        self.use_conv = bool(conv)
        self.upsample = bool(upsample)
        if self.upsample and not self.use_conv:
            raise InputError("upsample=True needs conv=True (the convolution smooths the upsampled map).")
        self.seed = seed
        self.conv = (
            EqualizedConv2D(filters=self.filters, kernel_size=3, use_bias=False, name="conv") if self.use_conv else None
        )
        self.noise = NoiseInjection(per_channel=True, seed=seed, name="noise")
        self.adain = AdaIN(name="adain")

    def build(self, input_shape):
        x_shape, _ = input_shape
        if self.conv is not None:
            self.conv.build(x_shape)
        elif x_shape[-1] != self.filters:
            raise InputError(
                f"Without a convolution the input must have filters={self.filters} channels. "
                f"Received: input_shape={x_shape}"
            )
        self.noise.build((*x_shape[:-1], self.filters))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros", autocast=False)

    def call(self, inputs):
        x, style = inputs  # [B, H, W, C_in], [B, 2 * filters]
        if self.upsample:
            x = upsample_bilinear(x)  # [B, 2H, 2W, C_in]
        if self.conv is not None:
            x = self.conv(x)  # [B, H', W', filters]
        x = self.noise(x)
        x = scaled_lrelu(x + ops.cast(self.bias, x.dtype))
        return self.adain([x, style])

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape[0]
        if self.upsample:
            h, w = (None if h is None else 2 * h), (None if w is None else 2 * w)
        return (b, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, conv=self.use_conv, upsample=self.upsample, seed=self.seed)
        return config


@keras.saving.register_keras_serializable("tfgen")
class SynthesisNetwork(keras.layers.Layer):
    """ws [B, num_ws, w_dim] -> images [B, R, R, channels] (linear output, no tanh).

    A learned 4x4 constant, then ``num_ws = 2 log2(R) - 2`` style layers
    (two per resolution; the first of each resolution above 4 upsamples, the
    very first one is the constant itself, without a convolution), each
    modulated by its own StyleAffine ``affine_layers[k]`` applied to
    ``ws[:, k]``, then a 1x1 toRGB.

    Args:
        resolution: R, one of 32, 64, 128, 256, 512, 1024.
        channels: image channels, 1 (grey) or 3 (RGB).
        w_dim: size of w.
        channel_base, channel_max: feature channels at resolution r are
            min(channel_base // r, channel_max).
        seed: seed of the noise streams (layer k uses seed + k; None: random).
    """

    def __init__(self, *, resolution, channels, w_dim, channel_base, channel_max, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_stylegan_resolution(resolution)
        self.channels = check_channels(channels)
        self.w_dim = check_positive("w_dim", w_dim)
        self.channel_base = check_positive("channel_base", channel_base)
        self.channel_max = check_positive("channel_max", channel_max)
        self.seed = seed
        self.widths = channels_by_resolution(self.resolution, self.channel_base, self.channel_max)
        self.num_ws = num_style_layers(self.resolution)
        # Resolution of style layer k: 4 for k = 0, 1; 8 for k = 2, 3; ...
        self.layer_resolutions = [CONSTANT_SIZE * 2 ** (k // 2) for k in range(self.num_ws)]
        self.style_layers = []
        self.affine_layers = []  # A_k, in style-layer order (what AdaIN adaptation trains)
        for k, r in enumerate(self.layer_resolutions):
            self.style_layers.append(
                SynthesisLayer(
                    filters=self.widths[r],
                    conv=k > 0,
                    upsample=k > 0 and k % 2 == 0,
                    seed=None if seed is None else int(seed) + k,
                    name=f"layer_{k:02d}",
                )
            )
            self.affine_layers.append(StyleAffine(channels=self.widths[r], name=f"style_affine_{k:02d}"))
        self.to_rgb = EqualizedConv2D(filters=self.channels, kernel_size=1, name="to_rgb")
        self.build((None, self.num_ws, self.w_dim))

    def build(self, input_shape=None):
        if self.built:
            return
        c4 = self.widths[CONSTANT_SIZE]
        self.const = self.add_weight(
            name="const",
            shape=(CONSTANT_SIZE, CONSTANT_SIZE, c4),
            initializer=keras.initializers.RandomNormal(0.0, 1.0),
            autocast=False,
        )
        in_channels = c4
        for layer, affine, r in zip(self.style_layers, self.affine_layers, self.layer_resolutions):
            layer.build(((None, r, r, in_channels), (None, 2 * layer.filters)))
            affine.build((None, self.w_dim))
            in_channels = layer.filters
        self.to_rgb.build((None, self.resolution, self.resolution, in_channels))

    def style_layer_outputs(self, ws, training=False):
        """The feature map after every style layer: a list of num_ws [B, r, r, C_r]."""
        if ws.shape[1] is not None and ws.shape[1] != self.num_ws:
            raise InputError(
                f"ws must have num_ws={self.num_ws} style vectors for resolution {self.resolution}. "
                f"Received: ws.shape={tuple(ws.shape)}"
            )
        batch = ops.shape(ws)[0]
        const = ops.cast(self.const, self.compute_dtype)
        x = ops.broadcast_to(const[None], (batch, *const.shape))  # [B, 4, 4, C_4]
        outputs = []
        for k, (layer, affine) in enumerate(zip(self.style_layers, self.affine_layers)):
            style = affine(ws[:, k])  # [B, 2 C]
            x = layer([x, style])
            outputs.append(x)
        return outputs

    def call(self, ws, training=False):
        # ``training`` is accepted for the shared interface: noise is drawn in both modes.
        x = self.style_layer_outputs(ws, training=training)[-1]  # [B, R, R, C_R]
        return ops.cast(self.to_rgb(x), "float32")  # [B, R, R, channels]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            w_dim=self.w_dim,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            seed=self.seed,
        )
        return config


# ----------------------------------------------------------------- generator


def _normal_cdf(x):
    return 0.5 * (1.0 + ops.erf(x / math.sqrt(2.0)))


# What code that walks a style-based generator's latent spaces calls on it.
@keras.saving.register_keras_serializable("tfgen")
class StyleGenerator(CheckedWeightsMixin, keras.Model):
    """Style-based generator: z [B, latent_dim] -> images [B, R, R, channels].

    Images are linear outputs (no tanh) meant to lie in [-1, 1];
    ``tfgen.sampling.postprocess_images`` clips. ``G(z)`` samples for
    inference (see ``sampling``, with truncation); ``G(z, training=True)``
    is ``synthesize(mixed_ws(z, training=True))``. A trainer that updates
    ``w_avg`` calls the three steps itself::

        ws = G.mixed_ws(z, training=True)      # [B, num_ws, w_dim]
        G.update_w_avg(ws[:, 0])
        images = G.synthesize(ws, training=True)

    Non-trainable state: ``w_avg`` [w_dim], the running average of w (the
    truncation centre), and, when ``fitted_latents > 0``, ``fitted``
    [fitted_latents, dim] (dim: latent_dim for ``fitted_space="z"``, w_dim
    for "w"): the per-shot latents of an AdaIN-adapted generator.

    Args:
        resolution: R, one of 32, 64, 128, 256, 512, 1024.
        channels: image channels, 1 (grey) or 3 (RGB).
        latent_dim: size of z (paper: 512).
        w_dim: size of w (paper: 512).
        mapping_layers: dense layers of the mapping network (paper: 8).
        mapping_lr_multiplier: learning-rate multiplier of the mapping (paper: 0.01).
        channel_base, channel_max: feature channels at resolution r are
            min(channel_base // r, channel_max).
        style_mixing: probability, per training image, of mixing two w's.
        w_avg_beta: decay of the running average of w.
        truncation_psi: inference default of ``w = w_avg + psi (w - w_avg)``
            (1: no truncation). A plain attribute, settable.
        truncation_cutoff: truncate only the first this many style layers
            (0: every layer). Settable.
        fitted_latents: number of fitted per-shot latents held in ``fitted``
            (0: none; AdaIN adaptation sets it).
        fitted_space: "z" (fitted latents go through the mapping) or "w".
        sampling: how ``G(z)`` samples: "random" (z through the mapping) or
            "interpolate" (between two fitted latents chosen by z; needs
            fitted_latents >= 2). Settable.
        seed: seed of the style-mixing and noise streams (None: random).
    """

    # tfgen.export serves it: latents (and a class index) -> images.
    exportable = True

    def __init__(
        self,
        *,
        resolution=32,
        channels=1,
        latent_dim=512,
        w_dim=512,
        mapping_layers=8,
        mapping_lr_multiplier=0.01,
        channel_base=8192,
        channel_max=512,
        style_mixing=0.9,
        w_avg_beta=0.995,
        truncation_psi=1.0,
        truncation_cutoff=0,
        fitted_latents=0,
        fitted_space="z",
        sampling="random",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.resolution = check_stylegan_resolution(resolution)
        self.channels = check_channels(channels)
        self.latent_dim = check_positive("latent_dim", latent_dim)
        self.w_dim = check_positive("w_dim", w_dim)
        self.mapping_layers = check_positive("mapping_layers", mapping_layers)
        self.mapping_lr_multiplier = float(mapping_lr_multiplier)
        self.channel_base = check_positive("channel_base", channel_base)
        self.channel_max = check_positive("channel_max", channel_max)
        for name, value in (("style_mixing", style_mixing), ("w_avg_beta", w_avg_beta)):
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be in [0, 1]. Received: {name}={value}")
        self.style_mixing = float(style_mixing)
        self.w_avg_beta = float(w_avg_beta)
        self.truncation_psi = float(truncation_psi)
        self.truncation_cutoff = self._check_cutoff(truncation_cutoff)
        if int(fitted_latents) != fitted_latents or fitted_latents < 0:
            raise InputError(f"fitted_latents must be an integer >= 0. Received: fitted_latents={fitted_latents}")
        self.fitted_latents = int(fitted_latents)
        if fitted_space not in LATENT_SPACES:
            raise InputError(f"fitted_space must be 'z' or 'w'. Received: fitted_space={fitted_space!r}")
        self.fitted_space = fitted_space
        if self.fitted_latents >= 2 and self.latent_dim < 3:
            raise InputError(
                "Fitted-latent pairs are chosen from the first three entries of z, so latent_dim "
                f"must be >= 3 when fitted_latents >= 2. Received: latent_dim={latent_dim}"
            )
        self.sampling = sampling
        self._check_sampling()
        self.seed = seed

        self.mapping = MappingNetwork(
            latent_dim=self.latent_dim,
            w_dim=self.w_dim,
            num_layers=self.mapping_layers,
            lr_multiplier=self.mapping_lr_multiplier,
            name="mapping",
        )
        self.synthesis = SynthesisNetwork(
            resolution=self.resolution,
            channels=self.channels,
            w_dim=self.w_dim,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            seed=None if seed is None else int(seed) + 1,
            name="synthesis",
        )
        self.num_ws = self.synthesis.num_ws
        self.seed_generator = keras.random.SeedGenerator(seed)  # style mixing draws
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        # The mapping and synthesis networks built themselves on construction.
        if self.built:
            return
        # aggregation="mean": update_w_avg's assign works in a MirroredStrategy replica context.
        self.w_avg = self.add_weight(
            name="w_avg",
            shape=(self.w_dim,),
            initializer="zeros",
            trainable=False,
            autocast=False,
            aggregation="mean",
        )
        if self.fitted_latents > 0:
            dim = self.latent_dim if self.fitted_space == "z" else self.w_dim
            self.fitted = self.add_weight(
                name="fitted",
                shape=(self.fitted_latents, dim),
                initializer="zeros",
                trainable=False,
                autocast=False,
            )
        else:
            self.fitted = None
        self.built = True

    # -------------------------------------------------------------- checks

    @staticmethod
    def _check_cutoff(cutoff) -> int:
        if int(cutoff) != cutoff or cutoff < 0:
            raise InputError(
                f"truncation_cutoff must be an integer >= 0 (0: every layer). Received: truncation_cutoff={cutoff}"
            )
        return int(cutoff)

    def _check_sampling(self):
        if self.sampling not in STYLEGAN_SAMPLING:
            raise InputError(f"sampling must be one of {STYLEGAN_SAMPLING}. Received: sampling={self.sampling!r}")
        if self.sampling == "interpolate" and self.fitted_latents < 2:
            raise InputError(
                "sampling='interpolate' walks between fitted latents, which needs at least two "
                f"(an AdaIN-adapted generator). Received: fitted_latents={self.fitted_latents}"
            )

    # ------------------------------------------------------------- latents

    def broadcast_w(self, w, *, truncation_psi=None, truncation_cutoff=None):
        """w [B, w_dim] -> ws [B, num_ws, w_dim] (float32), truncated as
        ``w_avg + psi (w - w_avg)`` in the first ``truncation_cutoff`` layers
        (0: all). None takes the model's attribute."""
        psi = self.truncation_psi if truncation_psi is None else truncation_psi
        cutoff = self._check_cutoff(self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff)
        w = ops.cast(w, "float32")
        ws = ops.repeat(w[:, None, :], self.num_ws, axis=1)  # [B, num_ws, w_dim]
        if isinstance(psi, (int, float)) and float(psi) == 1.0:
            return ws
        w_avg = ops.convert_to_tensor(self.w_avg)  # [w_dim]
        truncated = w_avg + ops.cast(psi, "float32") * (ws - w_avg)
        if cutoff == 0 or cutoff >= self.num_ws:
            return truncated
        truncate = (np.arange(self.num_ws) < cutoff)[None, :, None]  # [1, num_ws, 1]
        return ops.where(truncate, truncated, ws)

    def map(self, z, *, truncation_psi=None, truncation_cutoff=None):
        """z [B, latent_dim] -> ws [B, num_ws, w_dim] (float32), with truncation
        as in :meth:`broadcast_w`."""
        w = self.mapping(z)  # [B, w_dim]
        return self.broadcast_w(w, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def mixed_ws(self, z, *, training):
        """Training ws [B, num_ws, w_dim] (float32), without truncation.

        With ``training`` true, each image, with probability ``style_mixing``,
        takes the layers >= a crossover drawn uniformly from [1, num_ws) from
        the w of a second z (drawn from the model's SeedGenerator): style
        mixing regularisation. With ``training`` false: no mixing.
        """
        w = ops.cast(self.mapping(z), "float32")  # [B, w_dim]
        ws = ops.repeat(w[:, None, :], self.num_ws, axis=1)
        if not training or self.style_mixing == 0.0:
            return ws
        batch = ops.shape(z)[0]
        z2 = keras.random.normal(ops.shape(z), seed=self.seed_generator)
        w2 = ops.cast(self.mapping(z2), "float32")
        crossover = keras.random.randint((batch,), 1, self.num_ws, seed=self.seed_generator)
        mix = keras.random.uniform((batch,), seed=self.seed_generator) < self.style_mixing
        crossover = ops.where(mix, crossover, self.num_ws)  # num_ws: no mixing
        use_w2 = ops.arange(self.num_ws)[None, :] >= crossover[:, None]  # [B, num_ws]
        return ops.where(use_w2[:, :, None], w2[:, None, :], ws)

    def update_w_avg(self, w):
        """``w_avg <- mean(w) + w_avg_beta (w_avg - mean(w))`` for w [B, w_dim]."""
        mean = ops.mean(ops.stop_gradient(ops.cast(w, "float32")), axis=0)  # [w_dim]
        self.w_avg.assign(mean + self.w_avg_beta * (ops.convert_to_tensor(self.w_avg) - mean))

    def synthesize(self, ws, training=False):
        """ws [B, num_ws, w_dim] -> images [B, R, R, channels] (float32)."""
        return self.synthesis(ws, training=training)

    # ------------------------------------------------------ fitted latents

    def _check_fitted(self):
        if self.fitted_latents < 2:
            raise InputError(
                "Pairs of fitted latents need a generator with fitted_latents >= 2 (an AdaIN-adapted "
                f"generator). Received: fitted_latents={self.fitted_latents}"
            )

    def fitted_pairs(self, z):
        """(i, j, t) for z [B, latent_dim]: int32 [B], int32 [B], float32 [B].

        A deterministic function of z, so that ``tfgen.generate(G, n, seed=s)``
        is reproducible: with u = Phi(z[:, :3]) (the normal CDF, uniform for
        normal z), i = floor(u0 k) is uniform in [0, k), j = i + 1 +
        floor(u1 (k - 1)) mod k is uniform over the others, and t = u2.
        """
        self._check_fitted()
        k = self.fitted_latents
        u = _normal_cdf(ops.cast(z, "float32")[:, :3])  # [B, 3] in [0, 1]
        i = ops.clip(ops.cast(ops.floor(u[:, 0] * k), "int32"), 0, k - 1)
        step = ops.clip(ops.cast(ops.floor(u[:, 1] * (k - 1)), "int32"), 0, k - 2)
        j = (i + 1 + step) % k
        return i, j, u[:, 2]

    def interpolated_latents(self, z):
        """``(1 - t) fitted[i] + t fitted[j]`` with (i, j, t) = fitted_pairs(z): [B, dim]."""
        i, j, t = self.fitted_pairs(z)
        fitted = ops.convert_to_tensor(self.fitted)  # [k, dim]
        t = t[:, None]
        return (1.0 - t) * ops.take(fitted, i, axis=0) + t * ops.take(fitted, j, axis=0)

    def fitted_ws(self, latents, *, truncation_psi=None, truncation_cutoff=None):
        """ws [B, num_ws, w_dim] of latents [B, dim] in the fitted space: through
        the mapping for ``fitted_space="z"``, broadcast for "w" (truncation as in ``map``)."""
        to_ws = self.map if self.fitted_space == "z" else self.broadcast_w
        return to_ws(latents, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    # ------------------------------------------------------------------ call

    def call(self, z, training=False):
        if training:
            return self.synthesize(self.mixed_ws(z, training=True), training=True)
        self._check_sampling()  # the attribute may have been changed
        if self.sampling == "interpolate":
            ws = self.fitted_ws(self.interpolated_latents(z))
        else:
            ws = self.map(z)
        return self.synthesize(ws)  # [B, R, R, channels]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            latent_dim=self.latent_dim,
            w_dim=self.w_dim,
            mapping_layers=self.mapping_layers,
            mapping_lr_multiplier=self.mapping_lr_multiplier,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            style_mixing=self.style_mixing,
            w_avg_beta=self.w_avg_beta,
            truncation_psi=self.truncation_psi,
            truncation_cutoff=self.truncation_cutoff,
            fitted_latents=self.fitted_latents,
            fitted_space=self.fitted_space,
            sampling=self.sampling,
            seed=self.seed,
        )
        return config


# ------------------------------------------------------------- discriminator


def _group_size(batch, group_size):
    """The largest divisor of ``batch`` that is <= ``group_size`` (int or int32 tensor)."""
    if isinstance(batch, int):
        return max(g for g in range(1, min(group_size, batch) + 1) if batch % g == 0)
    group = ops.convert_to_tensor(1, "int32")
    for g in range(2, group_size + 1):  # increasing: the largest divisor wins
        group = ops.where(batch % g == 0, g, group)
    return group


def minibatch_stddev(x, group_size=4):
    """Append the minibatch standard deviation as one channel: [B, H, W, C] -> [B, H, W, C + 1].

    Samples are split into groups of G = the largest divisor of B that is
    <= group_size (sample b in group b % (B / G), as StyleGAN2); per group,
    the std over its G samples, averaged over (H, W, C), is the new channel.
    """
    h, w, c = x.shape[1], x.shape[2], x.shape[3]
    group = _group_size(ops.shape(x)[0], int(group_size))
    y = ops.reshape(ops.cast(x, "float32"), (group, -1, h, w, c))  # [G, B/G, H, W, C]
    y = y - ops.mean(y, axis=0, keepdims=True)
    y = ops.sqrt(ops.mean(ops.square(y), axis=0) + 1e-8)  # [B/G, H, W, C]
    y = ops.mean(y, axis=(1, 2, 3))  # [B/G]
    y = ops.tile(ops.reshape(y, (-1, 1, 1, 1)), (group, h, w, 1))  # [B, H, W, 1]
    return ops.concatenate([x, ops.cast(y, x.dtype)], axis=-1)


@keras.saving.register_keras_serializable("tfgen")
class DiscriminatorBlock(keras.layers.Layer):
    """StyleGAN2's residual block: [B, r, r, in_filters] -> [B, r/2, r/2, filters].

    main: conv3x3 lrelu (in_filters) -> conv3x3 lrelu (filters) -> 2x2 average pool;
    skip: 2x2 average pool -> 1x1 conv without bias; out = (main + skip) / sqrt(2).

    Args:
        in_filters: input channels (also the first convolution's output).
        filters: output channels.
    """

    def __init__(self, *, in_filters, filters, **kwargs):
        super().__init__(**kwargs)
        self.in_filters = check_positive("in_filters", in_filters)
        self.filters = check_positive("filters", filters)
        self.conv0 = EqualizedConv2D(filters=self.in_filters, kernel_size=3, activation="lrelu", name="conv0")
        self.conv1 = EqualizedConv2D(filters=self.filters, kernel_size=3, activation="lrelu", name="conv1")
        self.skip = EqualizedConv2D(filters=self.filters, kernel_size=1, use_bias=False, name="skip")

    def build(self, input_shape):
        if input_shape[-1] != self.in_filters:
            raise InputError(
                f"DiscriminatorBlock expects in_filters={self.in_filters} channels. Received: input_shape={input_shape}"
            )
        self.conv0.build(input_shape)
        self.conv1.build(input_shape)
        self.skip.build(input_shape)

    def call(self, x):
        main = downsample_avg(self.conv1(self.conv0(x)))
        skip = self.skip(downsample_avg(x))
        return (main + skip) * ops.cast(math.sqrt(0.5), main.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(in_filters=self.in_filters, filters=self.filters)
        return config


@keras.saving.register_keras_serializable("tfgen")
class StyleDiscriminator(CheckedWeightsMixin, keras.Model):
    """Residual discriminator: images [B, R, R, channels] -> logits [B, 1].

    fromRGB (1x1 lrelu) -> a DiscriminatorBlock per resolution R..8 ->
    minibatch stddev at 4x4 -> conv3x3 lrelu -> dense lrelu -> dense 1.

    Args:
        resolution: R, one of 32, 64, 128, 256, 512, 1024.
        channels: image channels, 1 (grey) or 3 (RGB).
        channel_base, channel_max: feature channels at resolution r are
            min(channel_base // r, channel_max).
        mbstd_group_size: largest group of the minibatch-stddev statistic
            (the group is the largest divisor of the batch up to this).
    """

    def __init__(self, *, resolution=32, channels=1, channel_base=8192, channel_max=512, mbstd_group_size=4, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_stylegan_resolution(resolution)
        self.channels = check_channels(channels)
        self.channel_base = check_positive("channel_base", channel_base)
        self.channel_max = check_positive("channel_max", channel_max)
        self.mbstd_group_size = check_positive("mbstd_group_size", mbstd_group_size)
        self.widths = channels_by_resolution(self.resolution, self.channel_base, self.channel_max)
        self.from_rgb = EqualizedConv2D(
            filters=self.widths[self.resolution], kernel_size=1, activation="lrelu", name="from_rgb"
        )
        self.block_resolutions = [r for r in sorted(self.widths, reverse=True) if r > CONSTANT_SIZE]
        self.blocks = [
            DiscriminatorBlock(in_filters=self.widths[r], filters=self.widths[r // 2], name=f"block_{r}")
            for r in self.block_resolutions
        ]
        c4 = self.widths[CONSTANT_SIZE]
        self.epilogue_conv = EqualizedConv2D(filters=c4, kernel_size=3, activation="lrelu", name="epilogue_conv")
        self.epilogue_dense = EqualizedDense(units=c4, activation="lrelu", name="epilogue_dense")
        self.logits = EqualizedDense(units=1, name="logits")
        self.build((None, self.resolution, self.resolution, self.channels))

    def build(self, input_shape):
        r = self.resolution
        self.from_rgb.build((None, r, r, self.channels))
        for block, size in zip(self.blocks, self.block_resolutions):
            block.build((None, size, size, self.widths[size]))
        c4 = self.widths[CONSTANT_SIZE]
        self.epilogue_conv.build((None, CONSTANT_SIZE, CONSTANT_SIZE, c4 + 1))
        self.epilogue_dense.build((None, CONSTANT_SIZE * CONSTANT_SIZE * c4))
        self.logits.build((None, c4))
        self.built = True

    def call(self, images, training=False):
        # ``training`` is accepted for the shared interface; nothing here depends on it.
        x = self.from_rgb(ops.cast(images, self.compute_dtype))  # [B, R, R, C_R]
        for block in self.blocks:
            x = block(x)  # halves the resolution
        x = minibatch_stddev(x, self.mbstd_group_size)  # [B, 4, 4, C_4 + 1]
        x = self.epilogue_conv(x)
        x = ops.reshape(x, (-1, CONSTANT_SIZE * CONSTANT_SIZE * x.shape[-1]))
        x = self.epilogue_dense(x)
        return ops.cast(self.logits(x), "float32")  # [B, 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            mbstd_group_size=self.mbstd_group_size,
        )
        return config
