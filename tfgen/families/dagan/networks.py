"""DAGAN's networks (Antoniou, Storkey, Edwards, 2017; official code
AntreasAntoniou/DAGAN, dagan_architectures.py), scaled for 32 px images.

* :class:`DAGANUNet`: G(x, z). An encoder of x (a stride-2 conv, then
  residual blocks of stride 2) down to a 4x4 bottleneck; a decoder of
  residual blocks and x2 upsamplings, each fed the encoder's feature map of
  its size (the UNet skips) and, at the first three levels, z projected to a
  map of that size (8, 4, 2 channels: the official "vector expansion"); at
  full resolution x itself is concatenated before the last convs and tanh.
* :class:`DAGANGenerator`: the UNet plus the images it holds (the shots after
  adaptation), so that it samples from z alone like every tfgen generator:
  z's first entry picks the held image, the rest is the UNet's noise.
* :class:`DAGANCritic`: scores a pair concat(x, candidate) [B, R, R, 2C]
  (WGAN-GP; no batch norm, whose batch statistics the per-example gradient
  penalty would mix): a conv, residual blocks with 2x2 average pooling down
  to 4x4, and a linear score of the flattened map.

Sizes, with width w at 32 px: encoder 16x16xw, 8x8x2w, 4x4x4w; decoder
4x4x4w -> 8x8x2w -> 16x16xw -> 32x32; critic 32 -> 16 -> 8 -> 4 px with w,
2w, 4w channels. The official network is a DenseNet-like "UResNet" with
64/128 channels at 28 px (Omniglot) and dropout 0.5; here plain residual
blocks, no dropout.

keras.layers / keras.ops only: the networks also run under KERAS_BACKEND=jax.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.augment import flow_warp
from tfgen.checks import check_channels, check_int
from tfgen.config import check_few_shot_resolution
from tfgen.errors import InputError
from tfgen.layers import BatchNorm
from tfgen.weights import CheckedWeightsMixin

LRELU_SLOPE = 0.2
BN_MOMENTUM = 0.99  # the official batch_norm's decay
BN_EPSILON = 1e-5
MAX_WIDTH_FACTOR = 4  # channels stop doubling at 4 x width (official 64, 64, 128, 128)
NOISE_LEVELS = 3  # z enters the first three decoder levels (official)
BOTTLENECK = 4  # side of the encoder's last feature map


def _lrelu(x):
    # max(x, 0.2 x) rather than ops.leaky_relu: the same function, but TensorFlow's
    # oneDNN graph rewrites (conv + bias + LeakyRelu fusions) made cyclic graphs of
    # this training step (2 critic updates or more; TF 2.21, "N nodes in a cycle").
    return ops.maximum(x, LRELU_SLOPE * x)


def _conv(filters, kernel_size=3, strides=1, name=None):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)


def _batch_norm(name):
    return BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def level_channels(width, level):
    """Channels of the encoder feature map ``level`` (0: the stem's, at R/2)."""
    return width * min(2**level, MAX_WIDTH_FACTOR)


def num_levels(resolution):
    """Stride-2 halvings from ``resolution`` to the 4x4 bottleneck (3 at 32 px)."""
    return int(math.log2(resolution // BOTTLENECK))


def noise_channels_at(noise_channels, level):
    """Channels of z's map at decoder level ``level`` (0: the bottleneck): halved each level, at least 1."""
    return max(noise_channels // 2**level, 1)


def normal_cdf(x):
    return 0.5 * (1.0 + ops.erf(x / math.sqrt(2.0)))


# ------------------------------------------------------------- generator


@keras.saving.register_keras_serializable("tfgen")
class GeneratorBlock(keras.layers.Layer):
    """conv3x3 (stride) -> BN -> lrelu -> conv3x3 -> BN, plus the input (a
    1x1 conv with the stride where the shape changes), then lrelu.

    Args:
        filters: output channels.
        strides: 1, or 2 to halve the map (the encoder's blocks).
    """

    def __init__(self, *, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        if strides not in (1, 2):
            raise InputError(f"strides must be 1 or 2. Received: strides={strides!r}")
        self.strides = int(strides)
        self.conv1 = _conv(self.filters, strides=self.strides, name="conv1")
        self.bn1 = _batch_norm("bn1")
        self.conv2 = _conv(self.filters, name="conv2")
        self.bn2 = _batch_norm("bn2")
        self.shortcut = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.conv1.build(shape)
        out = self.conv1.compute_output_shape(shape)
        self.bn1.build(out)
        self.conv2.build(out)
        self.bn2.build(out)
        if self.strides != 1 or shape[-1] != self.filters:
            self.shortcut = _conv(self.filters, kernel_size=1, strides=self.strides, name="shortcut")
            self.shortcut.build(shape)
        self.built = True

    def call(self, x, training=False):
        y = _lrelu(self.bn1(self.conv1(x), training=training))
        y = self.bn2(self.conv2(y), training=training)
        skip = x if self.shortcut is None else self.shortcut(x)
        return _lrelu(y + skip)

    def compute_output_shape(self, input_shape):
        return self.conv1.compute_output_shape(tuple(input_shape))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable("tfgen")
class DAGANUNet(keras.layers.Layer):
    """G(x, z): ``(images [B, R, R, C] in [-1, 1], z [B, noise_dim])`` ->
    float32 images [B, R, R, C] in [-1, 1] (module doc for the layout).

    Args:
        resolution: R, 32 or 64.
        channels: C, 1 or 3.
        width: channels of the finest encoder / decoder level.
        noise_dim: size of z.
        noise_channels: channels of z's map at the bottleneck (halved at
            each of the next two levels).
        output_mode: "image" (the paper: the last conv makes the image) or
            "warp" (it makes a displacement field, tanh-bounded by
            ``max_shift`` x R pixels and averaged over a ``flow_grid`` x
            ``flow_grid`` grid then upsampled bilinearly, and the output is x
            resampled along it: a deformation of x, never a new class).
    """

    def __init__(self, *, resolution, channels=1, width=32, noise_dim=100, noise_channels=8, output_mode="image",
                 max_shift=0.25, flow_grid=8, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, minimum=1)
        self.noise_dim = check_int("noise_dim", noise_dim, minimum=1)
        self.noise_channels = check_int("noise_channels", noise_channels, minimum=1)
        if output_mode not in ("image", "warp"):
            raise InputError(f"output_mode must be 'image' or 'warp'. Received: output_mode={output_mode!r}")
        self.output_mode, self.max_shift = output_mode, float(max_shift)
        self.flow_grid = check_int("flow_grid", flow_grid, minimum=1)
        if self.resolution % self.flow_grid:
            raise InputError(f"flow_grid must divide {self.resolution}. Received: flow_grid={flow_grid}")
        self.levels = num_levels(self.resolution)
        levels, w = self.levels, self.width
        # Encoder: e_i at side R / 2**(i + 1) with level_channels(w, i) channels.
        self.sides = [self.resolution // 2 ** (i + 1) for i in range(levels)]
        self.stem = _conv(w, strides=2, name="stem")
        self.stem_bn = _batch_norm("stem_bn")
        self.encoder = [GeneratorBlock(filters=level_channels(w, i), strides=2, name=f"encoder{i}")
                        for i in range(1, levels)]  # fmt: skip
        # Decoder level j (0: the bottleneck) works at encoder level i = levels - 1 - j, then upsamples.
        self.decoder = [GeneratorBlock(filters=level_channels(w, levels - 1 - j), name=f"decoder{j}")
                        for j in range(levels)]  # fmt: skip
        self.noise = [
            keras.layers.Dense(self.sides[levels - 1 - j] ** 2 * noise_channels_at(self.noise_channels, j),
                               name=f"noise{j}")
            for j in range(min(NOISE_LEVELS, levels))
        ]  # fmt: skip
        self.upsample = keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample")
        self.out_conv = _conv(w, name="out_conv")
        self.out_bn = _batch_norm("out_bn")
        # warp: two channels, the (down, right) displacement; its zero initial bias starts G at the identity.
        if self.output_mode == "warp":
            self.to_image = keras.layers.Conv2D(2, 3, padding="same", kernel_initializer="zeros", name="to_image")
        else:
            self.to_image = _conv(self.channels, name="to_image")
        self._build_all()

    def _build_all(self):
        levels, w, c = self.levels, self.width, self.channels
        r = self.resolution
        self.stem.build((None, r, r, c))
        self.stem_bn.build((None, self.sides[0], self.sides[0], w))
        for i, block in enumerate(self.encoder, start=1):
            side = self.sides[i - 1]
            block.build((None, side, side, level_channels(w, i - 1)))
        previous = level_channels(w, levels - 1)  # the bottleneck's channels
        for j, block in enumerate(self.decoder):
            i = levels - 1 - j
            side = self.sides[i]
            skip = level_channels(w, i) if j > 0 else 0  # the bottleneck is the decoder's input itself
            noise = noise_channels_at(self.noise_channels, j) if j < len(self.noise) else 0
            block.build((None, side, side, previous + skip + noise))
            previous = block.filters
        for dense in self.noise:
            dense.build((None, self.noise_dim))
        self.out_conv.build((None, r, r, previous + c))
        self.out_bn.build((None, r, r, w))
        self.to_image.build((None, r, r, w))
        self.built = True

    def build(self, input_shape=None):
        if not self.built:
            self._build_all()

    def encode(self, images, training=False):
        """The encoder's feature maps [e_0 (R/2), ..., e_{L-1} (4x4)]."""
        features = [_lrelu(self.stem_bn(self.stem(images), training=training))]
        for block in self.encoder:
            features.append(block(features[-1], training=training))
        return features

    def call(self, inputs, training=False):
        images, z = inputs
        expected = (self.resolution, self.resolution, self.channels)
        if tuple(images.shape[1:]) != expected or z.shape[-1] != self.noise_dim:
            raise InputError(
                f"DAGANUNet takes (images [B, {', '.join(map(str, expected))}], z [B, {self.noise_dim}]). "
                f"Received: shapes {tuple(images.shape)}, {tuple(z.shape)}"
            )
        x = ops.cast(images, self.compute_dtype)
        z = ops.cast(z, self.compute_dtype)
        features = self.encode(x, training=training)
        h = features[-1]  # [B, 4, 4, 4w]
        for j, block in enumerate(self.decoder):
            i = self.levels - 1 - j
            parts = [h] if j == 0 else [h, features[i]]
            if j < len(self.noise):
                side = self.sides[i]
                parts.append(ops.reshape(self.noise[j](z), (-1, side, side, noise_channels_at(self.noise_channels, j))))
            h = self.upsample(block(ops.concatenate(parts, axis=-1), training=training))
        h = ops.concatenate([h, x], axis=-1)  # [B, R, R, w + C]: x itself, as the official last level
        h = self.out_bn(_lrelu(self.out_conv(h)), training=training)
        out = ops.cast(ops.tanh(self.to_image(h)), "float32")
        if self.output_mode == "image":
            return out
        return flow_warp(ops.cast(images, "float32"), self.smooth_flow(out))

    def smooth_flow(self, field):
        """[B, R, R, 2] in [-1, 1] -> displacements in pixels, averaged on the coarse grid and upsampled."""
        r, g = self.resolution, self.flow_grid
        coarse = ops.average_pool(field * (self.max_shift * r), r // g, strides=r // g, padding="valid")
        return ops.image.resize(coarse, (r, r), interpolation="bilinear")

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width,
                      noise_dim=self.noise_dim, noise_channels=self.noise_channels, output_mode=self.output_mode,
                      max_shift=self.max_shift, flow_grid=self.flow_grid)  # fmt: skip
        return config


@keras.saving.register_keras_serializable("tfgen")
class DAGANGenerator(CheckedWeightsMixin, keras.Model):
    """The UNet and the images it holds: G(z) for sampling, G.transform(x, z) for training.

    ``G(z)``, z [B, noise_dim + 1] ~ N(0, I): held image
    ``floor(Phi(z[:, 0]) * held_shots)`` turned by the UNet with noise
    ``z[:, 1:]``, so each entry of z is used once and the held image is
    uniform and independent of the noise. ``latent_dim`` is noise_dim + 1,
    what :func:`tfgen.sampling.generate` draws.

    Args:
        resolution, channels, width, noise_dim, noise_channels, output_mode, max_shift, flow_grid: the UNet's
            (:class:`DAGANUNet`).
        held_shots: images the generator holds (:meth:`set_shots`).
    """

    def __init__(self, *, resolution, channels=1, width=32, noise_dim=100, noise_channels=8, held_shots=1,
                 output_mode="image", max_shift=0.25, flow_grid=8, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.unet = DAGANUNet(resolution=resolution, channels=channels, width=width, noise_dim=noise_dim,
                              noise_channels=noise_channels, output_mode=output_mode, max_shift=max_shift,
                              flow_grid=flow_grid, name="unet")  # fmt: skip
        self.output_mode, self.max_shift, self.flow_grid = self.unet.output_mode, self.unet.max_shift, self.unet.flow_grid
        self.resolution, self.channels, self.width = self.unet.resolution, self.unet.channels, self.unet.width
        self.noise_dim, self.noise_channels = self.unet.noise_dim, self.unet.noise_channels
        self.held_shots = check_int("held_shots", held_shots, minimum=1)
        self.latent_dim = self.noise_dim + 1
        side = self.resolution
        self.shots = self.add_weight(shape=(self.held_shots, side, side, self.channels), initializer="zeros",
                                     trainable=False, autocast=False, name="shots")  # fmt: skip
        self.built = True

    def set_shots(self, images) -> None:
        """Hold ``images``: float [held_shots, R, R, C] in [-1, 1]."""
        shape = tuple(ops.shape(images))
        if shape != tuple(self.shots.shape):
            raise InputError(
                f"This generator holds {self.held_shots} images of {self.resolution}x{self.resolution}x{self.channels} "
                f"in [-1, 1]. Received: shape={shape}"
            )
        self.shots.assign(ops.cast(images, self.shots.dtype))

    def shot_index(self, z):
        """int32 [B]: the held image ``G(z)`` turns, ``floor(Phi(z[:, 0]) * held_shots)``."""
        u = normal_cdf(ops.cast(z[:, 0], "float32"))
        return ops.clip(ops.cast(ops.floor(u * self.held_shots), "int32"), 0, self.held_shots - 1)

    def transform(self, images, z, training=False):
        """G(x, z): images [B, R, R, C] and noise [B, noise_dim] -> new images [B, R, R, C]."""
        return self.unet((images, z), training=training)

    def call(self, z, training=False):
        images = ops.take(ops.convert_to_tensor(self.shots), self.shot_index(z), axis=0)
        return self.transform(images, z[:, 1:], training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width,
                      noise_dim=self.noise_dim, noise_channels=self.noise_channels,
                      held_shots=self.held_shots, output_mode=self.output_mode, max_shift=self.max_shift,
                      flow_grid=self.flow_grid)  # fmt: skip
        return config


# ---------------------------------------------------------------- critic


@keras.saving.register_keras_serializable("tfgen")
class CriticBlock(keras.layers.Layer):
    """lrelu -> conv3x3 -> lrelu -> conv3x3 -> 2x2 average pooling, plus the
    input pooled (through a 1x1 conv where the channels change).

    Args:
        filters: output channels.
    """

    def __init__(self, *, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)
        self.conv1 = _conv(self.filters, name="conv1")
        self.conv2 = _conv(self.filters, name="conv2")
        self.pool = keras.layers.AveragePooling2D(2, name="pool")
        self.shortcut = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.conv1.build(shape)
        self.conv2.build(shape[:-1] + (self.filters,))
        if shape[-1] != self.filters:
            self.shortcut = _conv(self.filters, kernel_size=1, name="shortcut")
            self.shortcut.build(shape)
        self.built = True

    def call(self, x):
        y = self.conv2(_lrelu(self.conv1(_lrelu(x))))
        skip = x if self.shortcut is None else self.shortcut(x)
        return self.pool(y + skip)

    def compute_output_shape(self, input_shape):
        side = None if input_shape[1] is None else input_shape[1] // 2
        return (input_shape[0], side, side, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable("tfgen")
class DAGANCritic(CheckedWeightsMixin, keras.Model):
    """Pairs concat(x, candidate) [B, R, R, 2C] -> float32 scores [B].

    A 3x3 conv (width), then one :class:`CriticBlock` per halving down to
    4x4 (level_channels(width, i) channels), lrelu, and a linear score of the
    flattened map (the official critic ends in dense layers too).

    Args:
        resolution: R, 32 or 64.
        channels: C of one image (the input has 2C).
        width: channels of the first conv.
    """

    def __init__(self, *, resolution, channels=1, width=32, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, minimum=1)
        levels = num_levels(self.resolution)
        self.stem = _conv(self.width, name="stem")
        self.blocks = [CriticBlock(filters=level_channels(self.width, i), name=f"block{i}") for i in range(levels)]
        self.score = keras.layers.Dense(1, name="score")
        shape = (None, self.resolution, self.resolution, 2 * self.channels)
        self.stem.build(shape)
        shape = self.stem.compute_output_shape(shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.score.build((None, shape[1] * shape[2] * shape[3]))
        self.built = True

    def call(self, pairs, training=False):
        # ``training`` is accepted for the shared interface; nothing here depends on it.
        if pairs.shape[-1] != 2 * self.channels:
            raise InputError(
                f"DAGANCritic takes concat(x, candidate) with {2 * self.channels} channels. "
                f"Received: shape {tuple(pairs.shape)}"
            )
        h = self.stem(ops.cast(pairs, self.compute_dtype))
        for block in self.blocks:
            h = block(h)
        h = ops.reshape(_lrelu(h), (ops.shape(h)[0], -1))
        return ops.cast(self.score(h)[:, 0], "float32")

    def score_pairs(self, images, candidates, training=False):
        """Scores [B] of the pairs (images[b], candidates[b])."""
        return self(ops.concatenate([images, ops.cast(candidates, images.dtype)], axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width)
        return config


__all__ = ["CriticBlock", "DAGANCritic", "DAGANGenerator", "DAGANUNet", "GeneratorBlock"]
