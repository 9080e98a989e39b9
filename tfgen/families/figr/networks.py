"""FIGR's ResNet WGAN-GP (Clouâtre & Demers, "FIGR: Few-shot Image Generation
with Reptile", 2019).

Layer for layer the FIGR code (LuEE-C/FIGR, model.py: ResNetGenerator,
ResNetDiscriminator), in NHWC:

Generator  z [B, latent_dim] -> Linear -> PReLU -> LayerNorm -> [B, s, s, 16w]
           (s = R/16) -> 4 stages -> conv5x5 -> tanh. Stage i (C = w*2**(4-i)):
           two residual units, a transition conv3x3 C -> C/2 (+ PReLU, LN)
           and a nearest x2 upsampling.
Critic     conv7x7 -> w (+ PReLU, LN) -> 4 stages -> global average pool ->
           Linear -> score [B, 1]. Stage i (C = w*2**i): two residual units,
           a transition conv3x3 C -> 2C (+ PReLU, LN) and a 2x2 average pool.

A residual unit is x + LN(PReLU(conv(LN(PReLU(conv(x)))))). Every LayerNorm
normalises one sample over all of (H, W, C), with a scale and shift per
element (torch's LayerNorm([C, H, W])): there is no batch normalisation, so
an image's output never depends on the rest of the batch. Reptile's inner
loop trains on 4-image tasks and the gradient penalty is per sample, both of
which batch statistics would break.

Initialisers follow torch's defaults (uniform in +-1/sqrt(fan_in), PReLU
slopes 0.25, LayerNorm eps 1e-5), so that the reference's learning rates
carry over.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.checks import check_channels
from tfgen.config import check_few_shot_resolution
from tfgen.weights import CheckedWeightsMixin
from tfgen.errors import InputError

# Residual stages of both networks (the reference's blocks=4): R/16 is the
# generator's start size (2x2 at 32 px) and the critic's last.
NUM_STAGES = 4
LAYER_NORM_EPSILON = 1e-5  # torch's default (Keras' is 1e-3)
PRELU_INIT = 0.25  # torch's default (Keras' is 0)


def check_positive(name, value) -> int:
    if int(value) != value or value < 1:
        raise InputError(f"{name} must be a positive integer. Received: {name}={value}")
    return int(value)


def _torch_init(fan_in):
    """Kernel and bias initialisers of torch's Linear/Conv2d: U(+-1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return {
        # VarianceScaling's uniform limit is sqrt(3 * scale / fan_in) = bound.
        "kernel_initializer": keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
        "bias_initializer": keras.initializers.RandomUniform(-bound, bound),
    }


def _prelu(name, shared_axes=None):
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(PRELU_INIT), shared_axes=shared_axes, name=name
    )


def _layer_norm(name, axis):
    return keras.layers.LayerNormalization(axis=axis, epsilon=LAYER_NORM_EPSILON, name=name)


class ConvPReLUNorm(keras.layers.Layer):
    """conv (same padding) -> PReLU (one slope per channel) -> LayerNorm over
    (H, W, C): the reference's conv / activ / norm triple.

    Args:
        filters: output channels.
        in_channels: input channels (sets the torch-style initialiser bounds).
        kernel_size: square kernel size.
    """

    def __init__(self, *, filters, in_channels, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.in_channels = int(in_channels)
        self.kernel_size = int(kernel_size)
        self.conv = keras.layers.Conv2D(
            self.filters,
            self.kernel_size,
            padding="same",
            name="conv",
            **_torch_init(self.kernel_size**2 * self.in_channels),
        )
        self.prelu = _prelu("prelu", shared_axes=[1, 2])
        self.norm = _layer_norm("norm", axis=[1, 2, 3])

    def build(self, input_shape):
        self.conv.build(input_shape)
        shape = self.conv.compute_output_shape(input_shape)
        self.prelu.build(shape)
        self.norm.build(shape)

    def call(self, x):
        return self.norm(self.prelu(self.conv(x)))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, in_channels=self.in_channels, kernel_size=self.kernel_size)
        return config


class ResidualUnit(keras.layers.Layer):
    """x + (ConvPReLUNorm -> ConvPReLUNorm)(x), channels unchanged."""

    def __init__(self, *, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.first = ConvPReLUNorm(filters=self.channels, in_channels=self.channels, name="first")
        self.second = ConvPReLUNorm(filters=self.channels, in_channels=self.channels, name="second")

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build(input_shape)

    def call(self, x):
        return x + self.second(self.first(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels)
        return config


class ResNetStage(keras.layers.Layer):
    """Two residual units, a transition ConvPReLUNorm to ``out_channels``, then
    nearest x2 upsampling (``resample="up"``, generator) or 2x2 average
    pooling (``"down"``, critic)."""

    def __init__(self, *, channels, out_channels, resample, **kwargs):
        super().__init__(**kwargs)
        if resample not in ("up", "down"):
            raise InputError(f"resample must be 'up' or 'down'. Received: resample={resample!r}")
        self.channels = int(channels)
        self.out_channels = int(out_channels)
        self.resample = resample
        self.unit1 = ResidualUnit(channels=self.channels, name="unit1")
        self.unit2 = ResidualUnit(channels=self.channels, name="unit2")
        self.transition = ConvPReLUNorm(filters=self.out_channels, in_channels=self.channels, name="transition")
        if resample == "up":
            self.resampler = keras.layers.UpSampling2D(2, interpolation="nearest", name="upsample")
        else:
            self.resampler = keras.layers.AveragePooling2D(2, name="avgpool")

    def build(self, input_shape):
        self.unit1.build(input_shape)
        self.unit2.build(input_shape)
        self.transition.build(input_shape)

    def call(self, x):
        x = self.unit2(self.unit1(x))
        return self.resampler(self.transition(x))

    def compute_output_shape(self, input_shape):
        return self.resampler.compute_output_shape(self.transition.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, out_channels=self.out_channels, resample=self.resample)
        return config


@keras.saving.register_keras_serializable("tfgen")
class FIGRGenerator(CheckedWeightsMixin, keras.Model):
    """FIGR's ResNet generator: z [B, latent_dim] -> images [B, R, R, channels]
    in [-1, 1].

    Args:
        resolution: R, 32 or 64.
        channels: 1 (grey) or 3 (RGB).
        latent_dim: size of z (reference: 100).
        width: channels of the finest stage (reference hidden_size=64); the
            coarsest has 16 * width.
    """

    # tfgen.export serves it: latents (and a class index) -> images.
    exportable = True

    def __init__(self, *, resolution=32, channels=1, latent_dim=100, width=64, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.latent_dim = check_positive("latent_dim", latent_dim)
        self.width = check_positive("width", width)
        self.start_size = self.resolution // 2**NUM_STAGES
        self.start_channels = self.width * 2**NUM_STAGES
        features = self.start_size**2 * self.start_channels

        # The reference views the flat vector as [C, s, s]; reshaping it to
        # [s, s, C] only relabels elements whose parameters are all per element.
        self.stem_dense = keras.layers.Dense(features, name="stem_dense", **_torch_init(self.latent_dim))
        self.stem_prelu = _prelu("stem_prelu")  # one slope per element
        self.stem_norm = _layer_norm("stem_norm", axis=-1)
        self.stages = []
        for i in range(NUM_STAGES):
            c = self.width * 2 ** (NUM_STAGES - i)
            self.stages.append(ResNetStage(channels=c, out_channels=c // 2, resample="up", name=f"stage{i}"))
        self.to_image = keras.layers.Conv2D(
            self.channels, 5, padding="same", name="to_image", **_torch_init(25 * self.width)
        )
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        features = self.start_size**2 * self.start_channels
        self.stem_dense.build(input_shape)
        self.stem_prelu.build((None, features))
        self.stem_norm.build((None, features))
        shape = (None, self.start_size, self.start_size, self.start_channels)
        for stage in self.stages:
            stage.build(shape)
            shape = stage.compute_output_shape(shape)
        self.to_image.build(shape)
        self.built = True

    def call(self, z, training=False):
        # ``training`` is accepted for the shared interface; no layer here
        # behaves differently in training.
        x = self.stem_norm(self.stem_prelu(self.stem_dense(ops.cast(z, self.compute_dtype))))
        x = ops.reshape(x, (-1, self.start_size, self.start_size, self.start_channels))
        for stage in self.stages:
            x = stage(x)
        return ops.cast(ops.tanh(self.to_image(x)), "float32")  # [B, R, R, channels]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution, channels=self.channels, latent_dim=self.latent_dim, width=self.width
        )
        return config


@keras.saving.register_keras_serializable("tfgen")
class FIGRCritic(CheckedWeightsMixin, keras.Model):
    """FIGR's ResNet critic: images [B, R, R, channels] -> scores [B, 1]
    (unbounded, WGAN-GP).

    Args:
        resolution: R, 32 or 64.
        channels: 1 (grey) or 3 (RGB).
        width: channels after the stem (reference hidden_size=64); the last
            stage outputs 16 * width.
    """

    def __init__(self, *, resolution=32, channels=1, width=64, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_few_shot_resolution(resolution)
        self.channels = check_channels(channels)
        self.width = check_positive("width", width)
        self.stem = ConvPReLUNorm(filters=self.width, in_channels=self.channels, kernel_size=7, name="stem")
        self.stages = []
        for i in range(NUM_STAGES):
            c = self.width * 2**i
            self.stages.append(ResNetStage(channels=c, out_channels=2 * c, resample="down", name=f"stage{i}"))
        final_channels = self.width * 2**NUM_STAGES
        self.score = keras.layers.Dense(1, name="score", **_torch_init(final_channels))
        self.build((None, self.resolution, self.resolution, self.channels))

    def build(self, input_shape):
        self.stem.build(input_shape)
        shape = self.stem.compute_output_shape(input_shape)
        for stage in self.stages:
            stage.build(shape)
            shape = stage.compute_output_shape(shape)
        self.score.build((None, shape[-1]))
        self.built = True

    def call(self, images, training=False):
        x = self.stem(ops.cast(images, self.compute_dtype))
        for stage in self.stages:
            x = stage(x)
        x = ops.mean(x, axis=(1, 2))  # global average pool -> [B, 16 * width]
        return ops.cast(self.score(x), "float32")  # [B, 1]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width)
        return config
