"""L2L-GAN's networks (Wang & Lu, "L2L-GAN: Layer to Layer Generative
Adversarial Networks"): DAGAN's UNet-ResNet conditional generator, DAGAN's
DenseNet-like pair critic, and the Generalization Enhancement Module (GEM).

Generator  (image x [B, R, R, C], z [B, latent_dim]) -> image [B, R, R, C].
           Encoder: stem conv stride 2 -> e0 (w @ R/2), residual blocks
           stride 2 -> e1 (w @ R/4), e2 (2w @ R/8), e3 (2w @ R/16).
           Decoder: five blocks (the GEM slots 1..5), each fed
           concat(previous output, the encoder feature at that size, a z map):
           four up-blocks to 2w @ R/8, 2w @ R/4, w @ R/2, w @ R, then a
           residual block at R whose skip is x itself; three convs -> tanh.
Critic     concat(x, candidate) [B, R, R, 2C] -> score [B, 1] (WGAN-GP).
GEM        x + gamma * branch(x), gamma = 0 at init (ReZero): an untrained
           GEM is the identity, and gamma's gradient is non-zero at once.

keras.layers / keras.ops only, so everything also runs under KERAS_BACKEND=jax.
Every model builds its weights on construction, so ``load_weights`` works
right after it.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfgen.checks import check_channels, check_int
from tfgen.families.l2l.config import L2L_DECODER_BLOCKS, L2L_GEM_TYPES, check_l2l_resolution, parse_gem_layers
from tfgen.layers import BatchNorm
from tfgen.weights import CheckedWeightsMixin
from tfgen.errors import InputError

LEAKY_SLOPE = 0.2
BN_MOMENTUM = 0.9  # torch's momentum 0.1
BN_EPSILON = 1e-5  # torch's default
ENCODER_STRIDES = 4  # the UNet halves the image four times (R/16 bottleneck)
CRITIC_LEVELS = 4


def _lrelu(x):
    return ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def _conv(filters, kernel_size=3, strides=1, name=None):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)


def _normal_cdf(x):
    return 0.5 * (1.0 + ops.erf(x / math.sqrt(2.0)))


# ------------------------------------------------------------------- GEM


@keras.saving.register_keras_serializable("tfgen")
class GEM(keras.layers.Layer):
    """Generalization Enhancement Module: ``x + gamma * branch(x)``.

    ``gamma`` is a scalar initialised to 0 (ReZero form), so inserting an
    untrained GEM into a trained generator changes nothing, while
    d(loss)/d(gamma) = <branch(x), d(loss)/d(out)> lets it start learning at
    once. Branches (3x3 kernels, ``channels`` filters, nearest x2 upsampling;
    the input size must be even so that stride 2 then x2 gives it back):

    - type 1: conv stride 2 -> upsample
    - type 2: conv stride 1 -> ReLU -> conv stride 2 -> upsample
    - type 3: type 2 -> transposed conv stride 1

    Args:
        gem_type: 1, 2 or 3.
        channels: channels of the feature map it is applied to.
    """

    def __init__(self, *, gem_type, channels, **kwargs):
        super().__init__(**kwargs)
        if gem_type not in L2L_GEM_TYPES:
            raise InputError(f"gem_type must be 1, 2 or 3. Received: gem_type={gem_type!r}")
        self.gem_type = int(gem_type)
        self.channels = check_int("channels", channels, 1)
        self.branch = []
        if self.gem_type >= 2:
            self.branch += [_conv(self.channels, name="conv_in"), keras.layers.ReLU(name="relu")]
        self.branch += [
            _conv(self.channels, strides=2, name="conv_down"),
            keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample"),
        ]
        if self.gem_type == 3:
            self.branch.append(
                keras.layers.Conv2DTranspose(self.channels, 3, strides=1, padding="same", name="deconv")
            )

    def build(self, input_shape):
        if input_shape[-1] != self.channels:
            raise InputError(
                f"GEM {self.name!r} was made for {self.channels} channels but got an input of "
                f"shape {tuple(input_shape)}."
            )
        for size in input_shape[1:3]:
            if size is not None and size % 2:
                raise InputError(f"GEM needs an even spatial size (stride 2 then x2). Received: {tuple(input_shape)}")
        shape = tuple(input_shape)
        for layer in self.branch:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.gamma = self.add_weight(name="gamma", shape=(), initializer="zeros")

    def call(self, x):
        y = x
        for layer in self.branch:
            y = layer(y)
        return x + ops.cast(self.gamma, x.dtype) * y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(gem_type=self.gem_type, channels=self.channels)
        return config


# ------------------------------------------------------------- generator


class ResidualBlock(keras.layers.Layer):
    """conv3x3(stride) -> BN -> lrelu -> conv3x3 -> BN, plus a shortcut (1x1
    conv with the stride when the shape changes), then lrelu. With
    ``upsample`` a nearest x2 upsampling comes first (DAGAN's up-block).

    Args:
        filters: output channels.
        strides: 1 or 2 (up-blocks use 1: they upsample instead).
        upsample: upsample the input x2 first.
    """

    def __init__(self, *, filters, strides=1, upsample=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, 1)
        self.strides = int(strides)
        self.upsample = bool(upsample)
        self.up = keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample") if self.upsample else None
        self.conv1 = _conv(self.filters, strides=self.strides, name="conv1")
        self.bn1 = BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="bn1")
        self.conv2 = _conv(self.filters, name="conv2")
        self.bn2 = BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="bn2")
        self.shortcut = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.up is not None:
            shape = self.up.compute_output_shape(shape)
        self.conv1.build(shape)
        out = self.conv1.compute_output_shape(shape)
        self.bn1.build(out)
        self.conv2.build(out)
        self.bn2.build(out)
        if self.strides != 1 or shape[-1] != self.filters:
            self.shortcut = _conv(self.filters, kernel_size=1, strides=self.strides, name="shortcut")
            self.shortcut.build(shape)

    def call(self, x, training=False):
        if self.up is not None:
            x = self.up(x)
        y = _lrelu(self.bn1(self.conv1(x), training=training))
        y = self.bn2(self.conv2(y), training=training)
        skip = x if self.shortcut is None else self.shortcut(x)
        return _lrelu(y + skip)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.up is not None:
            shape = self.up.compute_output_shape(shape)
        return self.conv1.compute_output_shape(shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, upsample=self.upsample)
        return config


@keras.saving.register_keras_serializable("tfgen")
class L2LGenerator(CheckedWeightsMixin, keras.Model):
    """DAGAN's UNet-ResNet generator with GEM slots after decoder blocks.

    ``G((images, z))`` maps conditioning images [B, R, R, channels] in [-1, 1]
    and z [B, latent_dim] to float32 images [B, R, R, channels] in [-1, 1].
    ``G(z)`` conditions on the images stored with :meth:`set_conditioning`
    (picked by z, see :meth:`conditioning_index`), which is how
    ``tfgen.sampling.generate`` calls every generator.

    Noise, as in DAGAN: for each decoder block, a Dense maps z to
    [B, s, s, noise_channels] at that block's input size s, concatenated as
    extra channels to the block's input. So one image gives varied outputs.

    Args:
        resolution: R, a multiple of 16 from 32 to 512 (paper: 96).
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of z.
        width: c1 (paper 64); the deeper features have c2 = 2 * width.
        noise_channels: channels of each block's z map.
        gem_type: 1, 2 or 3 (see :class:`GEM`).
        gem_layers: decoder blocks (1..5) that get a GEM: "3,4", (3, 4), or
            ""/() for none.
        conditioning_images: how many images ``G(z)`` can condition on
            (0: ``G(z)`` is refused; pass (images, z)).
    """

    def __init__(
        self,
        *,
        resolution,
        channels,
        latent_dim=100,
        width=64,
        noise_channels=8,
        gem_type=1,
        gem_layers=(),
        conditioning_images=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.resolution = check_l2l_resolution(resolution)
        self.channels = check_channels(channels)
        self.latent_dim = check_int("latent_dim", latent_dim, 1)
        self.width = check_int("width", width, 1)
        self.noise_channels = check_int("noise_channels", noise_channels, 1)
        if gem_type not in L2L_GEM_TYPES:
            raise InputError(f"gem_type must be 1, 2 or 3. Received: gem_type={gem_type!r}")
        self.gem_type = int(gem_type)
        empty = gem_layers is None or (isinstance(gem_layers, str) and not gem_layers.strip())
        empty = empty or (not isinstance(gem_layers, str) and len(gem_layers) == 0)
        self._gem_slots = () if empty else parse_gem_layers(gem_layers)
        self.conditioning_images = check_int("conditioning_images", conditioning_images, 0)

        r, c1, c2 = self.resolution, self.width, 2 * self.width
        # Encoder: e0 @ R/2, e1 @ R/4, e2 @ R/8, e3 @ R/16.
        self.stem = _conv(c1, strides=2, name="stem")
        self.encoder = [
            ResidualBlock(filters=f, strides=2, name=f"encoder{i + 1}") for i, f in enumerate((c1, c2, c2))
        ]
        self._encoder_shapes = ((r // 2, c1), (r // 4, c1), (r // 8, c2), (r // 16, c2))
        # Decoder: (output size, output channels) per block, and each block's input size.
        self._decoder_shapes = ((r // 8, c2), (r // 4, c2), (r // 2, c1), (r, c1), (r, c1))
        self._decoder_input_sizes = (r // 16, r // 8, r // 4, r // 2, r)
        self.decoder = [
            ResidualBlock(filters=c, upsample=k < L2L_DECODER_BLOCKS, name=f"decoder{k}")
            for k, (_, c) in enumerate(self._decoder_shapes, start=1)
        ]
        self.noise = [
            keras.layers.Dense(s * s * self.noise_channels, name=f"noise{k}")
            for k, s in enumerate(self._decoder_input_sizes, start=1)
        ]
        self.gems = [
            GEM(gem_type=self.gem_type, channels=self._decoder_shapes[k - 1][1], name=f"gem{k}")
            for k in self._gem_slots
        ]
        self.to_image = [_conv(c1, name="out1"), _conv(c1, name="out2"), _conv(self.channels, name="out3")]
        self.build(None)

    # ---------------------------------------------------------------- build

    def build(self, input_shape=None):
        if self.built:
            return
        r, ch, nc = self.resolution, self.channels, self.noise_channels
        self.stem.build((None, r, r, ch))
        shape = (None, r // 2, r // 2, self.width)
        for block in self.encoder:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        skips = [*self._encoder_shapes[2::-1], (r, ch)]  # e2, e1, e0, x (blocks 2..5)
        previous = self._encoder_shapes[-1][1]  # block 1 sees e3 only
        for k, block in enumerate(self.decoder):
            s = self._decoder_input_sizes[k]
            extra = 0 if k == 0 else skips[k - 1][1]
            block.build((None, s, s, previous + extra + nc))
            previous = self._decoder_shapes[k][1]
        for dense in self.noise:
            dense.build((None, self.latent_dim))
        for k, gem in zip(self._gem_slots, self.gems):
            s, c = self._decoder_shapes[k - 1]
            gem.build((None, s, s, c))
        shape = (None, r, r, self.width)
        for conv in self.to_image:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.conditioning_images > 0:
            self.conditioning = self.add_weight(
                name="conditioning",
                shape=(self.conditioning_images, r, r, ch),
                initializer="zeros",
                trainable=False,
                autocast=False,
            )
        else:
            self.conditioning = None
        self.built = True

    # ------------------------------------------------------------ properties

    @property
    def gem_slots(self) -> tuple[int, ...]:
        """Decoder blocks (1..5) that have a GEM, sorted."""
        return self._gem_slots

    @property
    def decoder_shapes(self) -> tuple[tuple[int, int], ...]:
        """(size, channels) of decoder blocks 1..5's outputs."""
        return self._decoder_shapes

    @property
    def conditioning_count(self) -> int:
        return self.conditioning_images

    def _active_gems(self, gems) -> tuple[int, ...]:
        if isinstance(gems, str):
            if gems == "all":
                return self._gem_slots
            if gems == "none":
                return ()
        elif isinstance(gems, (tuple, list)) and all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in gems
        ):
            missing = [int(k) for k in gems if k not in self._gem_slots]
            if missing:
                raise InputError(
                    f"gems names decoder blocks {missing} that have no GEM; this generator's GEM slots "
                    f"are {self._gem_slots}."
                )
            return tuple(sorted({int(k) for k in gems}))
        raise InputError(f'gems must be "all", "none" or a tuple of GEM slot indices. Received: gems={gems!r}')

    def gem_variables(self, indices=None):
        """Trainable variables of the GEMs in ``indices`` (None: every slot), in slot order."""
        if indices is None:
            wanted = self._gem_slots
        else:
            wanted = self._active_gems((indices,) if isinstance(indices, (int, np.integer)) else tuple(indices))
        return [v for k, gem in zip(self._gem_slots, self.gems) if k in wanted for v in gem.trainable_variables]

    def base_variables(self):
        """Every trainable variable that is not a GEM's (the plain network)."""
        gem_ids = {id(v) for gem in self.gems for v in gem.trainable_variables}
        return [v for v in self.trainable_variables if id(v) not in gem_ids]

    # ----------------------------------------------------------- conditioning

    def set_conditioning(self, images):
        """Store the images ``G(z)`` conditions on: uint8 [n, R, R, C] (scaled
        to [-1, 1]) or floats already in [-1, 1]; n must be conditioning_images."""
        if self.conditioning is None:
            raise InputError(
                "This generator was built with conditioning_images=0, so it has nowhere to store "
                "images; build it with conditioning_images=n."
            )
        images = np.asarray(keras.ops.convert_to_numpy(images))
        expected = (self.conditioning_images, self.resolution, self.resolution, self.channels)
        if images.shape != expected:
            raise InputError(
                f"set_conditioning needs {self.conditioning_images} images of shape {expected[1:]} "
                f"(conditioning_images={self.conditioning_images}). Received: shape {images.shape}"
            )
        if images.dtype == np.uint8:
            images = images.astype("float32") / 127.5 - 1.0
        else:
            images = images.astype("float32")
            if images.size and (images.min() < -1.0 - 1e-3 or images.max() > 1.0 + 1e-3):
                raise InputError(
                    "Float conditioning images must lie in [-1, 1] (pass uint8 for [0, 255]). "
                    f"Received: values in [{images.min():.3g}, {images.max():.3g}]"
                )
        self.conditioning.assign(images)

    def conditioning_index(self, z):
        """Which stored image ``G(z)`` uses: floor(Phi(sum(z) / sqrt(latent_dim)) * n),
        int32 [B]. Deterministic in z and uniform over the images for z ~ N(0, I)."""
        n = self.conditioning_images
        u = _normal_cdf(ops.sum(ops.cast(z, "float32"), axis=-1) / math.sqrt(self.latent_dim))
        return ops.clip(ops.cast(ops.floor(u * n), "int32"), 0, n - 1)

    # -------------------------------------------------------------- forward

    def _split_inputs(self, inputs):
        if isinstance(inputs, (tuple, list)):
            if len(inputs) != 2:
                raise InputError(f"Pass z or (images, z). Received a sequence of {len(inputs)} inputs.")
            return inputs[0], inputs[1]
        if self.conditioning is None:
            raise InputError(
                "G(z) needs stored conditioning images, but this L2LGenerator has conditioning_images=0. "
                "Call it as G((images, z)) with images [B, R, R, C] in [-1, 1], or train a run that "
                "stores its novel images (conditioning_images > 0) and load that."
            )
        images = ops.take(ops.convert_to_tensor(self.conditioning), self.conditioning_index(inputs), axis=0)
        return images, inputs

    def _decode(self, images, z, training, gems):
        """The one forward pass: decoder block outputs 1..5 (after active GEMs)."""
        active = self._active_gems(gems)
        expected = (self.resolution, self.resolution, self.channels)
        if tuple(images.shape[1:]) != expected:
            raise InputError(f"images must be [B, {', '.join(map(str, expected))}]. Received: shape {images.shape}")
        x = ops.cast(images, self.compute_dtype)
        z = ops.cast(z, self.compute_dtype)
        e0 = _lrelu(self.stem(x))
        features = [e0]
        for block in self.encoder:
            features.append(block(features[-1], training=training))
        skips = [features[2], features[1], features[0], x]  # e2, e1, e0, x for blocks 2..5
        gem_by_slot = dict(zip(self._gem_slots, self.gems))
        h, outputs = features[3], []
        for k, (block, dense) in enumerate(zip(self.decoder, self.noise), start=1):
            s = self._decoder_input_sizes[k - 1]
            noise = ops.reshape(dense(z), (-1, s, s, self.noise_channels))
            parts = [h] if k == 1 else [h, skips[k - 2]]
            h = block(ops.concatenate(parts + [noise], axis=-1), training=training)
            if k in active:
                h = gem_by_slot[k](h)
            outputs.append(h)
        return outputs

    def decoder_features(self, images, z, training=False, gems="all"):
        """The 5 decoder block outputs (after the GEM where active), index 0 =
        block 1, as float32: what the GEM losses match between generators."""
        return [ops.cast(f, "float32") for f in self._decode(images, z, training, gems)]

    def call(self, inputs, training=False, gems="all"):
        images, z = self._split_inputs(inputs)
        h = self._decode(images, z, training, gems)[-1]
        h = _lrelu(self.to_image[0](h))
        h = _lrelu(self.to_image[1](h))
        return ops.cast(ops.tanh(self.to_image[2](h)), "float32")  # [B, R, R, channels]

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
            noise_channels=self.noise_channels,
            gem_type=self.gem_type,
            gem_layers=list(self._gem_slots),
            conditioning_images=self.conditioning_images,
        )
        return config


# ---------------------------------------------------------------- critic


class DenseBlock(keras.layers.Layer):
    """Two layers of LayerNorm -> lrelu -> conv3x3 (``growth`` filters), each
    layer's output concatenated to its input (DenseNet, as DAGAN's critic)."""

    def __init__(self, *, growth, layers=2, **kwargs):
        super().__init__(**kwargs)
        self.growth = check_int("growth", growth, 1)
        self.num_layers = check_int("layers", layers, 1)
        self.norms = [keras.layers.LayerNormalization(name=f"norm{i}") for i in range(self.num_layers)]
        self.convs = [_conv(self.growth, name=f"conv{i}") for i in range(self.num_layers)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for norm, conv in zip(self.norms, self.convs):
            norm.build(shape)
            conv.build(shape)
            shape = (*shape[:-1], shape[-1] + self.growth)

    def call(self, x):
        for norm, conv in zip(self.norms, self.convs):
            x = ops.concatenate([x, conv(_lrelu(norm(x)))], axis=-1)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.num_layers * self.growth)

    def get_config(self):
        config = super().get_config()
        config.update(growth=self.growth, layers=self.num_layers)
        return config


class Transition(keras.layers.Layer):
    """LayerNorm -> lrelu -> conv1x1 (``filters``) -> 2x2 average pooling."""

    def __init__(self, *, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, 1)
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.conv = _conv(self.filters, kernel_size=1, name="conv")
        self.pool = keras.layers.AveragePooling2D(2, name="avgpool")

    def build(self, input_shape):
        self.norm.build(input_shape)
        self.conv.build(input_shape)

    def call(self, x):
        return self.pool(self.conv(_lrelu(self.norm(x))))

    def compute_output_shape(self, input_shape):
        return self.pool.compute_output_shape(self.conv.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config


@keras.saving.register_keras_serializable("tfgen")
class L2LCritic(CheckedWeightsMixin, keras.Model):
    """DAGAN's pair critic (WGAN-GP): concat(conditioning image, candidate) on
    the channel axis, [B, R, R, 2 * channels] -> float32 scores [B, 1].

    stem conv3x3 (width) -> 4 x [dense block (2 layers, growth width/2) ->
    transition to width * 2**level channels (capped at 4 * width) and 2x2
    average pooling] -> global average -> Dense(1). LayerNorm (over channels,
    per pixel) and no batch norm: the gradient penalty is per example, which
    batch statistics would break.

    Args:
        resolution: R, a multiple of 16 from 32 to 512.
        channels: image channels (the input has twice as many).
        width: stem channels (paper 64).
    """

    def __init__(self, *, resolution, channels, width=64, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_l2l_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, 1)
        growth = max(self.width // 2, 1)
        self.stem = _conv(self.width, name="stem")
        self.blocks, self.transitions = [], []
        for level in range(CRITIC_LEVELS):
            self.blocks.append(DenseBlock(growth=growth, name=f"dense{level}"))
            filters = min(self.width * 2**level, 4 * self.width)
            self.transitions.append(Transition(filters=filters, name=f"transition{level}"))
        self.score = keras.layers.Dense(1, name="score")
        self.build((None, self.resolution, self.resolution, 2 * self.channels))

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = self.stem.compute_output_shape(input_shape)
        for block, transition in zip(self.blocks, self.transitions):
            block.build(shape)
            shape = block.compute_output_shape(shape)
            transition.build(shape)
            shape = transition.compute_output_shape(shape)
        self.score.build((None, shape[-1]))
        self.built = True

    def call(self, pairs, training=False):
        # ``training`` is accepted for the shared interface; nothing here depends on it.
        if pairs.shape[-1] != 2 * self.channels:
            raise InputError(
                f"L2LCritic takes concat(conditioning image, candidate) with {2 * self.channels} channels. "
                f"Received: shape {pairs.shape}"
            )
        x = self.stem(ops.cast(pairs, self.compute_dtype))
        for block, transition in zip(self.blocks, self.transitions):
            x = transition(block(x))
        return ops.cast(self.score(ops.mean(x, axis=(1, 2))), "float32")  # [B, 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width)
        return config
