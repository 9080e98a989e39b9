"""Transfer-learning baselines for few-shot generation: DCGAN, conditional
DCGAN and InfoGAN at 32 or 64 px.

- DCGAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with
  Deep Convolutional Generative Adversarial Networks", ICLR 2016), sized as
  the PyTorch DCGAN example: bias-free (transposed) convolutions 4x4 stride 2,
  batch norm everywhere but G's output and D's input layer, ReLU in G, leaky
  ReLU 0.2 in D, N(0, 0.02) weights. G's first layer is a Dense to 4x4 (the
  example's 4x4 transposed conv of a 1x1 input, the same map); D's last is a
  Dense on the flattened 4x4 features (the example's 4x4 valid conv).
- Conditional DCGAN (Mirza & Osindero, "Conditional Generative Adversarial
  Nets", 2014): a one-hot label concatenated to z in G and, as constant maps,
  to the image channels in D.
- InfoGAN (Chen et al., "InfoGAN: Interpretable Representation Learning by
  Information Maximizing Generative Adversarial Nets", NeurIPS 2016): G's
  input is noise + a categorical code + continuous codes, all derived from
  one z ~ N(0, I) (see :func:`infogan_codes`), and D has a Q head that
  predicts the codes back.

G and InfoGAN G share one generator body, D and InfoGAN D one discriminator
body.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.checks import check_channels, check_int
from tfgen.config import check_few_shot_resolution
from tfgen.layers import batch_norm, conv_initializer
from tfgen.weights import CheckedWeightsMixin
from tfgen.errors import InputError

START_SIZE = 4  # G starts, D ends, at 4x4
Q_HIDDEN = 128  # units of InfoGAN's Q head
LEAKY_SLOPE = 0.2


def _num_resamplings(resolution) -> int:
    """Stride-2 layers between 4x4 and ``resolution`` (3 at 32 px, 4 at 64)."""
    return int(math.log2(resolution // START_SIZE))


def label_maps(labels, num_classes, resolution, dtype="float32"):
    """Int labels [B] -> one-hot maps [B, resolution, resolution, num_classes],
    the conditional discriminator's extra input channels."""
    one_hot = ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), num_classes, dtype=dtype)
    return ops.tile(one_hot[:, None, None, :], (1, resolution, resolution, 1))


def infogan_codes(z, *, noise_dim, num_categories, num_continuous):
    """InfoGAN's codes read off z ~ N(0, I) of size noise_dim + C + D.

    ``z[:, :noise_dim]`` is the noise. The category is the argmax of the next C
    entries: i.i.d. normals, so every category is equally likely. The
    continuous codes are erf(x / sqrt(2)) of the last D entries, 2 Phi(x) - 1,
    which is exactly U(-1, 1). Drawing all codes from one Gaussian z lets the
    generic sampling code (``tfgen.generate``) drive InfoGAN unchanged.

    Returns:
        (category int32 [B], zeros when C == 0;
         continuous float32 [B, D], [B, 0] when D == 0)
    """
    z = ops.cast(z, "float32")
    total = noise_dim + num_categories + num_continuous
    if z.shape[-1] is not None and z.shape[-1] != total:
        raise InputError(
            f"z must have noise_dim + num_categories + num_continuous = {total} entries per row. "
            f"Received: z.shape={tuple(z.shape)}"
        )
    start = noise_dim + num_categories
    if num_categories:
        category = ops.cast(ops.argmax(z[:, noise_dim:start], axis=-1), "int32")
    else:
        category = ops.cast(ops.zeros_like(z[:, 0]), "int32")
    # An explicit slice: z[:, -0:] would be all of z.
    continuous = ops.erf(z[:, start : start + num_continuous] / math.sqrt(2.0))
    return category, continuous


class GeneratorBody(keras.layers.Layer):
    """DCGAN generator body: x [B, input_dim] -> images [B, R, R, channels],
    tanh, in the compute dtype.

    Dense -> 4x4 x (width * 2**(n-1)) -> BN -> ReLU, then n-1 transposed convs
    halving the channels (+ BN, ReLU) and one to ``channels`` at R.
    """

    def __init__(self, *, resolution, channels, width, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.width = int(width)
        n = _num_resamplings(resolution)
        self.start_channels = self.width * 2 ** (n - 1)
        self.project = keras.layers.Dense(
            START_SIZE * START_SIZE * self.start_channels,
            use_bias=False,
            kernel_initializer=conv_initializer(),
            name="project",
        )
        self.project_bn = batch_norm("project_bn")
        self.up_convs, self.up_bns = [], []
        for i in range(n - 1):
            self.up_convs.append(_conv_transpose(self.start_channels // 2 ** (i + 1), name=f"up{i}_conv"))
            self.up_bns.append(batch_norm(f"up{i}_bn"))
        self.to_image = _conv_transpose(self.channels, name="to_image")

    def build(self, input_shape):
        self.project.build(input_shape)
        shape = (None, START_SIZE, START_SIZE, self.start_channels)
        self.project_bn.build(shape)
        for conv, bn in zip(self.up_convs, self.up_bns):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            bn.build(shape)
        self.to_image.build(shape)

    @property
    def norm_layers(self):
        """The batch norms, input side first: one after every hidden layer."""
        return [self.project_bn, *self.up_bns]

    def call(self, x, training=False, modulations=None, return_features=False):
        """Images [B, R, R, channels] of the inputs x [B, input_dim].

        Args:
            modulations: None, or one ``(scale, shift)`` per norm layer
                (:attr:`norm_layers`), each [channels]: that norm's output
                becomes ``scale * output + shift`` before the ReLU (batch
                statistics adaptation; ones and zeros change nothing).
            return_features: also return the hidden layers' outputs (after
                the ReLU), input side first: ``(images, [features])``.
        """
        if modulations is not None and len(modulations) != len(self.norm_layers):
            raise InputError(
                f"modulations needs one (scale, shift) per norm layer, {len(self.norm_layers)} here. "
                f"Received: {len(modulations)}"
            )
        features = []

        def hidden(x, bn, index):
            x = bn(x, training=training)
            if modulations is not None:
                scale, shift = modulations[index]
                x = x * ops.cast(scale, x.dtype) + ops.cast(shift, x.dtype)
            x = ops.relu(x)
            features.append(x)
            return x

        x = ops.reshape(self.project(x), (-1, START_SIZE, START_SIZE, self.start_channels))
        x = hidden(x, self.project_bn, 0)
        for index, (conv, bn) in enumerate(zip(self.up_convs, self.up_bns), start=1):
            x = hidden(conv(x), bn, index)
        images = ops.tanh(self.to_image(x))
        return (images, features) if return_features else images

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width)
        return config


class DiscriminatorBody(keras.layers.Layer):
    """DCGAN discriminator body: images [B, R, R, any channels] -> flattened
    4x4 features [B, 16 * width * 2**(n-1)], in the compute dtype.

    Strided conv -> leaky ReLU (no BN on the input layer), then n-1 strided
    convs doubling the channels (+ BN, leaky ReLU).
    """

    def __init__(self, *, resolution, width, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.width = int(width)
        n = _num_resamplings(resolution)
        self.convs = [_conv(self.width * 2**i, name=f"down{i}_conv") for i in range(n)]
        self.bns = [None] + [batch_norm(f"down{i}_bn") for i in range(1, n)]
        self.final_channels = self.width * 2 ** (n - 1)
        self.features = START_SIZE * START_SIZE * self.final_channels

    def build(self, input_shape):
        shape = input_shape
        for conv, bn in zip(self.convs, self.bns):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if bn is not None:
                bn.build(shape)

    def call(self, x, training=False):
        for conv, bn in zip(self.convs, self.bns):
            x = conv(x)
            if bn is not None:
                x = bn(x, training=training)
            x = ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)
        return ops.reshape(x, (-1, self.features))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.features)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, width=self.width)
        return config


def _conv_transpose(filters, name):
    return keras.layers.Conv2DTranspose(
        filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=conv_initializer(), name=name
    )


def _conv(filters, name):
    return keras.layers.Conv2D(
        filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=conv_initializer(), name=name
    )


def _split_conditional(model, inputs, what):
    """``inputs`` -> (main input, labels or None), checking them against
    ``model.num_classes``; ``what`` names the main input in messages."""
    if isinstance(inputs, (tuple, list)):
        if len(inputs) != 2:
            raise InputError(
                f"{type(model).__name__} takes {what} or ({what}, labels). Received {len(inputs)} inputs."
            )
        if not model.num_classes:
            raise InputError(
                f"{type(model).__name__} was built unconditional (num_classes=0) but received labels. "
                f"Call it on {what} alone, or build it with num_classes > 0."
            )
        return inputs[0], inputs[1]
    return inputs, None


def check_truncation_psi(psi) -> float:
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 < psi <= 2.0:
        raise InputError(f"truncation_psi must be a number in (0, 2] (1: no truncation). Received: {psi!r}")
    return float(psi)


def fitted_gaussian(latents):
    """``(mean [d], std [d])`` of the Gaussian with diagonal covariance fitted
    to ``latents`` [k, d] (the unbiased per-dimension spread); with a single
    latent, whose spread is unknown, the prior's: std 1."""
    latents = ops.cast(latents, "float32")
    count = latents.shape[0]
    mean = ops.mean(latents, axis=0)
    if count < 2:
        return mean, ops.ones_like(mean)
    variance = ops.sum(ops.square(latents - mean), axis=0) / (count - 1)
    return mean, ops.sqrt(variance)


class FittedLatentsMixin:
    """A generator that may hold ``fitted_latents`` per-shot latents (set by
    batch statistics adaptation) and then draws its latent from the Gaussian
    fitted to them: ``z -> mean + std * z`` (:func:`fitted_gaussian`) before
    anything else reads z. With none (0) it is the generator as trained."""

    def _add_fitted(self, fitted_latents):
        self.fitted_latents = check_int("fitted_latents", fitted_latents, 0)
        self.fitted = None
        if self.fitted_latents:
            self.fitted = self.add_weight(
                shape=(self.fitted_latents, self.latent_dim), initializer="zeros", trainable=False,
                name="fitted_latents",
            )  # fmt: skip

    def fitted_latent(self, z):
        """z [B, latent_dim] -> the latent the generator reads (z itself without fitted latents)."""
        if not self.fitted_latents:
            return z
        mean, std = fitted_gaussian(self.fitted)
        return ops.cast(mean, z.dtype) + ops.cast(std, z.dtype) * z


@keras.saving.register_keras_serializable("tfgen")
class DCGANGenerator(FittedLatentsMixin, CheckedWeightsMixin, keras.Model):
    """DCGAN generator, optionally class-conditional: ``G(z)`` or
    ``G((z, labels))`` -> images [B, R, R, channels] in [-1, 1].

    With ``num_classes > 0``, ``G(z)`` uses ``sample_class`` for every row, or
    class ``i mod num_classes`` for row i when ``sample_class`` is None.

    Args:
        resolution: R, 32 or 64.
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of z.
        width: channels before the output layer (DCGAN's ngf); 4x4 has
            width * R/8.
        num_classes: labels one-hot into the input; 0: unconditional.
        sample_class: the label of ``G(z)`` calls (e.g. the new class's slot
            after fine-tuning), or None.
        truncation_psi: z is scaled by this when sampling (``training=False``):
            the truncation trick (Brock et al., BigGAN 2019) trades variety for
            fidelity; 1: none. Training always sees z itself.
        fitted_latents: 0, or the number of per-shot latents it holds (batch
            statistics adaptation, ``tfgen.families.transfer.adapt``): z,
            truncated, is then mapped to ``mean + std * z`` of their fitted
            Gaussian (:class:`FittedLatentsMixin`).
    """

    # tfgen.export serves it: latents (and a class index) -> images.
    exportable = True

    def __init__(
        self, *, resolution=32, channels=1, latent_dim=100, width=64, num_classes=0, sample_class=None,
        truncation_psi=1.0, fitted_latents=0, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.width = check_int("width", width, 1)
        self.num_classes = check_int("num_classes", num_classes, 0)
        if sample_class is not None:
            sample_class = check_int("sample_class", sample_class, 0)
            if sample_class >= self.num_classes:
                raise InputError(
                    f"sample_class must index one of the num_classes={self.num_classes} classes "
                    f"(a conditional generator). Received: sample_class={sample_class}"
                )
        self.sample_class = sample_class
        self.truncation_psi = check_truncation_psi(truncation_psi)
        self.trunk = GeneratorBody(resolution=self.resolution, channels=self.channels, width=self.width, name="trunk")
        self._add_fitted(fitted_latents)
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        self.trunk.build((None, self.latent_dim + self.num_classes))
        self.built = True

    def default_labels(self, batch_size):
        """Labels of a ``G(z)`` call: int32 [batch_size]."""
        if self.sample_class is not None:
            return ops.full((batch_size,), self.sample_class, dtype="int32")
        return ops.mod(ops.arange(batch_size, dtype="int32"), self.num_classes)

    def trunk_inputs(self, z, labels=None):
        """The body's input for latents z [B, latent_dim] as they are (no
        truncation, no fitted Gaussian): z and, when conditional, the one-hot
        labels (None: :meth:`default_labels`)."""
        x = ops.cast(z, self.compute_dtype)
        if not self.num_classes:
            return x
        if labels is None:
            labels = self.default_labels(ops.shape(z)[0])
        labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
        return ops.concatenate([x, ops.one_hot(labels, self.num_classes, dtype=self.compute_dtype)], axis=-1)

    def call(self, inputs, training=False):
        z, labels = _split_conditional(self, inputs, "z")
        x = ops.cast(z, self.compute_dtype)
        if not training and self.truncation_psi != 1.0:
            x = x * self.truncation_psi
        x = self.fitted_latent(x)
        return ops.cast(self.trunk(self.trunk_inputs(x, labels), training=training), "float32")

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0] if isinstance(input_shape[0], (tuple, list)) else input_shape[0]
        return (batch, self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            latent_dim=self.latent_dim,
            width=self.width,
            num_classes=self.num_classes,
            sample_class=self.sample_class,
            truncation_psi=self.truncation_psi,
            fitted_latents=self.fitted_latents,
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class DCGANDiscriminator(CheckedWeightsMixin, keras.Model):
    """DCGAN discriminator, optionally class-conditional: ``D(images)``, or
    ``D((images, labels))`` when ``num_classes > 0`` -> logits [B, 1].

    Args:
        resolution: R, 32 or 64.
        channels: 1 (grey) or 3 (RGB).
        width: channels of the first layer (DCGAN's ndf); 4x4 has width * R/8.
        num_classes: labels enter as one-hot maps beside the image channels;
            0: unconditional.
    """

    def __init__(self, *, resolution=32, channels=1, width=64, num_classes=0, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, 1)
        self.num_classes = check_int("num_classes", num_classes, 0)
        self.trunk = DiscriminatorBody(resolution=self.resolution, width=self.width, name="trunk")
        self.logits = keras.layers.Dense(1, use_bias=False, kernel_initializer=conv_initializer(), name="logits")
        self.build((None, self.resolution, self.resolution, self.channels))

    def build(self, input_shape):
        r = self.resolution
        self.trunk.build((None, r, r, self.channels + self.num_classes))
        self.logits.build((None, self.trunk.features))
        self.built = True

    def call(self, inputs, training=False):
        images, labels = _split_conditional(self, inputs, "images")
        if self.num_classes and labels is None:
            raise InputError(
                f"This DCGANDiscriminator is conditional (num_classes={self.num_classes}): "
                "call it as D((images, labels)) with int labels [B]."
            )
        x = ops.cast(images, self.compute_dtype)
        if self.num_classes:
            maps = label_maps(labels, self.num_classes, self.resolution, dtype=self.compute_dtype)
            x = ops.concatenate([x, maps], axis=-1)
        return ops.cast(self.logits(self.trunk(x, training=training)), "float32")

    def compute_output_shape(self, input_shape):
        batch = input_shape[0][0] if isinstance(input_shape[0], (tuple, list)) else input_shape[0]
        return (batch, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution, channels=self.channels, width=self.width, num_classes=self.num_classes
        )
        return config


def _check_codes(num_categories, num_continuous):
    num_categories = check_int("num_categories", num_categories, 0)
    num_continuous = check_int("num_continuous", num_continuous, 0)
    if num_categories + num_continuous < 1:
        raise InputError(
            "InfoGAN needs at least one code: num_categories and num_continuous must not both be 0. "
            f"Received: num_categories={num_categories}, num_continuous={num_continuous}"
        )
    return num_categories, num_continuous


@keras.saving.register_keras_serializable("tfgen")
class InfoGANGenerator(FittedLatentsMixin, CheckedWeightsMixin, keras.Model):
    """InfoGAN generator: z ~ N(0, I) [B, latent_dim] -> images [B, R, R,
    channels] in [-1, 1], latent_dim = noise_dim + num_categories +
    num_continuous.

    The DCGAN body gets [noise, one_hot(category), continuous], the codes read
    off z by :func:`infogan_codes`; :meth:`from_codes` takes them directly.

    Args:
        resolution: R, 32 or 64.
        channels: 1 (grey) or 3 (RGB).
        noise_dim: size of the incompressible noise.
        num_categories: values of the categorical code (0: none).
        num_continuous: continuous codes, U(-1, 1) (0: none).
        width: as in :class:`DCGANGenerator`.
        fitted_latents: as in :class:`DCGANGenerator` (the Gaussian is fitted
            in z, before the codes are read off it).
    """

    # tfgen.export serves it: latents (and a class index) -> images.
    exportable = True

    def __init__(
        self, *, resolution=32, channels=1, noise_dim=100, num_categories=10, num_continuous=2, width=64,
        fitted_latents=0, **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.noise_dim = check_int("noise_dim", noise_dim, 1)
        self.num_categories, self.num_continuous = _check_codes(num_categories, num_continuous)
        self.width = check_int("width", width, 1)
        self.latent_dim = self.noise_dim + self.num_categories + self.num_continuous
        self.trunk = GeneratorBody(resolution=self.resolution, channels=self.channels, width=self.width, name="trunk")
        self._add_fitted(fitted_latents)
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        self.trunk.build((None, self.latent_dim))
        self.built = True

    def codes(self, z):
        """``(category int32 [B], continuous float32 [B, D])`` of z."""
        return infogan_codes(
            z, noise_dim=self.noise_dim, num_categories=self.num_categories, num_continuous=self.num_continuous
        )

    def code_inputs(self, noise, category, continuous):
        """The body's input: [noise, one_hot(category), continuous]."""
        parts = [ops.cast(noise, self.compute_dtype)]
        if self.num_categories:
            parts.append(ops.one_hot(ops.cast(category, "int32"), self.num_categories, dtype=self.compute_dtype))
        if self.num_continuous:
            parts.append(ops.cast(continuous, self.compute_dtype))
        return ops.concatenate(parts, axis=-1)

    def from_codes(self, noise, category, continuous, training=False):
        """Images from noise [B, noise_dim], category int [B], continuous [B, D]."""
        x = self.code_inputs(noise, category, continuous)
        return ops.cast(self.trunk(x, training=training), "float32")

    def trunk_inputs(self, z, labels=None):
        """The body's input for z [B, latent_dim] as it is (no fitted
        Gaussian): the noise and the codes read off z. ``labels`` is ignored
        (InfoGAN is unconditional; the same signature as DCGANGenerator's)."""
        category, continuous = self.codes(z)
        return self.code_inputs(z[:, : self.noise_dim], category, continuous)

    def call(self, z, training=False):
        z = self.fitted_latent(ops.cast(z, "float32"))
        return ops.cast(self.trunk(self.trunk_inputs(z), training=training), "float32")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            noise_dim=self.noise_dim,
            num_categories=self.num_categories,
            num_continuous=self.num_continuous,
            width=self.width,
            fitted_latents=self.fitted_latents,
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class InfoGANDiscriminator(CheckedWeightsMixin, keras.Model):
    """InfoGAN discriminator with its Q head: ``D(images)`` -> ``(logits
    [B, 1], category_logits [B, C], continuous_mean [B, D])``, all float32.

    The Q head (Dense 128 -> BN -> leaky ReLU -> Dense per code) shares the
    DCGAN body with the real/fake logits.

    Args:
        resolution, channels, width: as in :class:`DCGANDiscriminator`.
        num_categories, num_continuous: as in :class:`InfoGANGenerator`.
    """

    def __init__(self, *, resolution=32, channels=1, width=64, num_categories=10, num_continuous=2, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, 1)
        self.num_categories, self.num_continuous = _check_codes(num_categories, num_continuous)
        self.trunk = DiscriminatorBody(resolution=self.resolution, width=self.width, name="trunk")
        self.logits = keras.layers.Dense(1, use_bias=False, kernel_initializer=conv_initializer(), name="logits")
        self.q_dense = keras.layers.Dense(
            Q_HIDDEN, use_bias=False, kernel_initializer=conv_initializer(), name="q_dense"
        )
        self.q_bn = batch_norm("q_bn")
        # Keras has no zero-unit Dense: an absent code gets no head.
        self.category_head = (
            keras.layers.Dense(self.num_categories, name="category_logits") if self.num_categories else None
        )
        self.continuous_head = (
            keras.layers.Dense(self.num_continuous, name="continuous_mean") if self.num_continuous else None
        )
        self.build((None, self.resolution, self.resolution, self.channels))

    def build(self, input_shape):
        r = self.resolution
        self.trunk.build((None, r, r, self.channels))
        features = (None, self.trunk.features)
        self.logits.build(features)
        self.q_dense.build(features)
        self.q_bn.build((None, Q_HIDDEN))
        for head in (self.category_head, self.continuous_head):
            if head is not None:
                head.build((None, Q_HIDDEN))
        self.built = True

    def call(self, images, training=False):
        if isinstance(images, (tuple, list)):
            raise InputError(f"InfoGANDiscriminator takes images only. Received {len(images)} inputs.")
        features = self.trunk(ops.cast(images, self.compute_dtype), training=training)
        logits = self.logits(features)
        q = ops.leaky_relu(self.q_bn(self.q_dense(features), training=training), negative_slope=LEAKY_SLOPE)
        category_logits = self.category_head(q) if self.category_head is not None else q[:, :0]
        continuous_mean = self.continuous_head(q) if self.continuous_head is not None else q[:, :0]
        return tuple(ops.cast(t, "float32") for t in (logits, category_logits, continuous_mean))

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        return ((batch, 1), (batch, self.num_categories), (batch, self.num_continuous))

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            width=self.width,
            num_categories=self.num_categories,
            num_continuous=self.num_continuous,
        )
        return config
