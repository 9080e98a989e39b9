"""LoFGAN's networks (Gu et al., ICCV 2021; official code edward3862/LoFGAN-pytorch,
networks/lofgan.py), scaled for 32 px images.

* :class:`LoFGANGenerator`: an encoder of each shot to a feature map, the
  local fusion module (:mod:`tfgen.families.lofgan.fusion`) and a decoder.
  It holds ``held_shots`` images (set by adaptation) and maps z to a new
  image made from them, so it samples like every tfgen generator; training
  calls :meth:`LoFGANGenerator.fuse_shots` with each episode's images.
* :class:`LoFGANDiscriminator`: residual blocks with spectral norm, a
  real/fake head and a head of logits over the training classes.

The encoder and decoder follow the official ones (5x5 conv, stride-2 3x3
convs doubling the channels, BatchNorm, leaky ReLU 0.2; the decoder mirrors
it with nearest upsampling and ends in a 5x5 conv and tanh) with zero
instead of reflection padding. The official LFM's 1x1 conv ``W`` is built
but never used in its forward pass, so it is left out.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfgen.checks import check_channels, check_int
from tfgen.errors import InputError
from tfgen.families.lofgan.fusion import (
    draw_fusion,
    fuse_local,
    latent_size,
    match_positions,
    num_selected,
    take_images,
)
from tfgen.layers import SpectralConv2D, batch_norm

LRELU_SLOPE = 0.2
MAX_WIDTH_FACTOR = 8  # channels stop doubling at 8 x width (the official 128 = 4 x 32, 1024 = 16 x 64)


def level_channels(width, level):
    """Channels at ``level`` stride-2 steps below the image."""
    return width * min(2**level, MAX_WIDTH_FACTOR)


def _conv(filters, kernel_size, strides=1, name=None):
    return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=name)


def _build_chain(layers, input_shape):
    """Build ``layers`` one after the other from ``input_shape``; the last output shape."""
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape


def _run_chain(layers, x, training):
    for layer in layers:
        x = layer(x, training=training)  # Keras passes `training` on only to layers whose call takes it
    return x


@keras.saving.register_keras_serializable("tfgen")
class LoFGANEncoder(keras.layers.Layer):
    """Images [N, R, R, C] -> features [N, R / 2**d, R / 2**d, width * 2**d].

    Args:
        width: channels of the first conv; each of the ``downsamples``
            stride-2 convs doubles them (up to 8 x width).
        downsamples: d, the stride-2 convs.
    """

    def __init__(self, *, width, downsamples, **kwargs):
        super().__init__(**kwargs)
        self.width = check_int("width", width, minimum=1)
        self.downsamples = check_int("downsamples", downsamples, minimum=1)
        self.chain = [_conv(width, 5, name="conv_in"), batch_norm("bn_in"), keras.layers.LeakyReLU(LRELU_SLOPE)]
        for level in range(1, self.downsamples + 1):
            self.chain += [
                _conv(level_channels(width, level), 3, strides=2, name=f"down{level}"),
                batch_norm(f"bn_down{level}"),
                keras.layers.LeakyReLU(LRELU_SLOPE),
            ]

    def build(self, input_shape):
        _build_chain(self.chain, input_shape)
        self.built = True

    def call(self, images, training=False):
        return _run_chain(self.chain, images, training)

    def compute_output_shape(self, input_shape):
        side = None if input_shape[1] is None else input_shape[1] // 2**self.downsamples
        return (input_shape[0], side, side, level_channels(self.width, self.downsamples))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "downsamples": self.downsamples}


@keras.saving.register_keras_serializable("tfgen")
class LoFGANDecoder(keras.layers.Layer):
    """Features [N, h, h, c] -> images [N, h * 2**d, h * 2**d, channels] in [-1, 1] (the encoder mirrored)."""

    def __init__(self, *, width, upsamples, channels, **kwargs):
        super().__init__(**kwargs)
        self.width = check_int("width", width, minimum=1)
        self.upsamples = check_int("upsamples", upsamples, minimum=1)
        self.channels = check_channels(channels)
        self.chain = []
        for level in range(self.upsamples - 1, -1, -1):
            self.chain += [
                keras.layers.UpSampling2D(2, interpolation="nearest"),
                _conv(level_channels(width, level), 3, name=f"up{level}"),
                batch_norm(f"bn_up{level}"),
                keras.layers.LeakyReLU(LRELU_SLOPE),
            ]
        self.chain.append(_conv(self.channels, 5, name="conv_out"))

    def build(self, input_shape):
        _build_chain(self.chain, input_shape)
        self.built = True

    def call(self, features, training=False):
        return ops.tanh(_run_chain(self.chain, features, training))

    def compute_output_shape(self, input_shape):
        side = None if input_shape[1] is None else input_shape[1] * 2**self.upsamples
        return (input_shape[0], side, side, self.channels)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "upsamples": self.upsamples, "channels": self.channels}


@keras.saving.register_keras_serializable("tfgen")
class LoFGANGenerator(keras.Model):
    """Encoder, local fusion module, decoder; holds the shots it samples from.

    Args:
        resolution, channels: the images' side and channels.
        width: channels of the encoder's first and the decoder's last conv.
        encoder_downsamples: d; the feature map is R / 2**d on a side.
        fused_shots: images fused into one (k in training, the paper's 3).
        held_shots: images the generator holds (``set_shots``); each sample
            fuses ``min(fused_shots, held_shots)`` of them, chosen by z.
        fusion_rate: share of the base's positions replaced.

    Call: z [B, latent_dim] ~ N(0, I) -> images [B, R, R, C] in [-1, 1]; z
    picks the fused shots and the base among them, the replaced positions
    and the coefficients (:func:`tfgen.families.lofgan.fusion.draw_fusion`).
    """

    def __init__(self, *, resolution, channels=1, width=16, encoder_downsamples=2, fused_shots=3, held_shots=3,
                 fusion_rate=0.5, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.resolution = check_int("resolution", resolution, minimum=4)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, minimum=1)
        self.encoder_downsamples = check_int("encoder_downsamples", encoder_downsamples, minimum=1)
        self.fused_shots = check_int("fused_shots", fused_shots, minimum=1)
        self.held_shots = check_int("held_shots", held_shots, minimum=1)
        if not 0.0 < float(fusion_rate) <= 1.0:
            raise InputError(f"fusion_rate must be in (0, 1]. Received: fusion_rate={fusion_rate!r}")
        self.fusion_rate = float(fusion_rate)
        self.feature_side = self.resolution // 2**self.encoder_downsamples
        if self.feature_side < 1 or self.feature_side * 2**self.encoder_downsamples != self.resolution:
            raise InputError(
                f"resolution must be divisible by 2**encoder_downsamples. Received: resolution={resolution}, "
                f"encoder_downsamples={encoder_downsamples}"
            )
        self.num_positions = self.feature_side**2
        self.num_fused = min(self.fused_shots, self.held_shots)
        self.num_selected = num_selected(self.fusion_rate, self.num_positions)
        self.latent_dim = latent_size(self.num_positions, self.held_shots, self.num_fused)
        side = self.resolution
        self.encoder = LoFGANEncoder(width=self.width, downsamples=self.encoder_downsamples, name="encoder")
        self.decoder = LoFGANDecoder(width=self.width, upsamples=self.encoder_downsamples, channels=self.channels,
                                     name="decoder")  # fmt: skip
        self.encoder.build((None, side, side, self.channels))
        self.decoder.build(self.encoder.compute_output_shape((None, side, side, self.channels)))
        self.shots = self.add_weight(
            shape=(self.held_shots, side, side, self.channels), initializer="zeros", trainable=False, name="shots"
        )
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

    def encode(self, images, training=False):
        """Images [N, R, R, C] -> flattened features [N, P, c]."""
        features = self.encoder(images, training=training)
        return ops.reshape(features, (ops.shape(features)[0], self.num_positions, features.shape[-1]))

    def fuse_features(self, features, z, training=False):
        """The LFM and the decoder on features [B, k, P, c] of k images per
        sample, z [B, P + k + min(k, fused_shots)]. Returns ``(images, fusion)``,
        ``fusion`` the choices the local reconstruction loss repeats:
        ``chosen`` [B, m] (base first), ``positions`` [B, n], ``matched`` [B, m, n],
        ``coefficients`` [B, m]."""
        held = features.shape[1]
        fused = min(self.fused_shots, held)
        chosen, positions, coefficients = draw_fusion(
            z, positions=self.num_positions, held=held, fused=fused, selected=self.num_selected
        )
        maps = take_images(features, chosen)  # [B, m, P, c]
        matched = match_positions(maps, positions)
        base = fuse_local(maps, positions, matched, coefficients)  # [B, P, c]
        side = self.feature_side
        images = self.decoder(ops.reshape(base, (-1, side, side, base.shape[-1])), training=training)
        fusion = dict(chosen=chosen, positions=positions, matched=matched, coefficients=coefficients)
        return images, fusion

    def fuse_shots(self, shots, z, training=False):
        """New images from each sample's own shots [B, k, R, R, C] and z [B, P + k + min(k, fused_shots)]:
        what training calls. Returns ``(images, fusion)`` as :meth:`fuse_features`."""
        batch, held = ops.shape(shots)[0], shots.shape[1]
        flat = ops.reshape(shots, (-1,) + tuple(shots.shape[2:]))
        features = self.encode(flat, training=training)
        features = ops.reshape(features, (batch, held) + tuple(features.shape[1:]))
        return self.fuse_features(features, z, training=training)

    def call(self, z, training=False):
        features = self.encode(self.shots, training=training)  # the held shots, encoded once
        batch = ops.shape(z)[0]
        features = ops.broadcast_to(features[None], (batch,) + tuple(features.shape))
        return self.fuse_features(features, z, training=training)[0]

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution, channels=self.channels, width=self.width,
            encoder_downsamples=self.encoder_downsamples, fused_shots=self.fused_shots,
            held_shots=self.held_shots, fusion_rate=self.fusion_rate,
        )  # fmt: skip
        return config


@keras.saving.register_keras_serializable("tfgen")
class ActFirstResBlock(keras.layers.Layer):
    """The official discriminator's residual block: leaky ReLU before each of
    two 3x3 spectral-norm convs, plus the input (a 1x1 conv without bias where
    the channels change).

    Args:
        filters: output channels (the hidden conv has max(in, out)).
    """

    def __init__(self, *, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int("filters", filters, minimum=1)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = max(channels, self.filters)
        self.conv0 = SpectralConv2D(filters=hidden, kernel_size=3, use_bias=True, name="conv0")
        self.conv1 = SpectralConv2D(filters=self.filters, kernel_size=3, use_bias=True, name="conv1")
        self.conv0.build(input_shape)
        self.conv1.build(tuple(input_shape[:-1]) + (hidden,))
        self.shortcut = None
        if channels != self.filters:
            self.shortcut = SpectralConv2D(filters=self.filters, kernel_size=1, use_bias=False, name="shortcut")
            self.shortcut.build(input_shape)
        self.built = True

    def call(self, x, training=False):
        skip = x if self.shortcut is None else self.shortcut(x, training=training)
        h = self.conv0(ops.leaky_relu(x, LRELU_SLOPE), training=training)
        h = self.conv1(ops.leaky_relu(h, LRELU_SLOPE), training=training)
        return skip + h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable("tfgen")
class LoFGANDiscriminator(keras.Model):
    """Images [B, R, R, C] -> ``(real/fake logits [B], class logits [B, num_classes])``.

    A 5x5 spectral-norm conv, log2(R) - 2 residual blocks each followed by
    2x2 average pooling (the official pads and pools 3x3 with stride 2), a
    last residual block, global average pooling and two linear heads.

    Args:
        width: channels of the first conv, doubled by every block (up to 8 x width).
        num_classes: the training classes the class head tells apart.
    """

    def __init__(self, *, resolution, channels=1, width=16, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.resolution = check_int("resolution", resolution, minimum=8)
        self.channels = check_channels(channels)
        self.width = check_int("width", width, minimum=1)
        if not isinstance(num_classes, int) or num_classes < 1:
            raise InputError(
                "The discriminator's class head needs the number of training classes (>= 1); "
                f"LoFGAN's trainer sets it from the data. Received: num_classes={num_classes!r}"
            )
        self.num_classes = num_classes
        self.stem = SpectralConv2D(filters=width, kernel_size=5, use_bias=True, name="stem")
        blocks = int(math.log2(self.resolution)) - 2
        self.blocks = [ActFirstResBlock(filters=level_channels(width, i + 1), name=f"block{i}") for i in range(blocks)]
        self.pool = keras.layers.AveragePooling2D(2)
        self.last = ActFirstResBlock(filters=level_channels(width, blocks + 1), name="block_last")
        self.adversarial_head = keras.layers.Dense(1, name="adversarial_head")
        self.class_head = keras.layers.Dense(num_classes, name="class_head")
        side = self.resolution
        shape = (None, side, side, self.channels)
        self.stem.build(shape)
        shape = self.stem.compute_output_shape(shape)
        for block in self.blocks:
            block.build(shape)
            shape = self.pool.compute_output_shape(block.compute_output_shape(shape))
        self.last.build(shape)
        self.adversarial_head.build((None, self.last.filters))
        self.class_head.build((None, self.last.filters))
        self.built = True

    def call(self, images, training=False):
        x = self.stem(images, training=training)
        for block in self.blocks:
            x = self.pool(block(x, training=training))
        x = ops.mean(self.last(x, training=training), axis=(1, 2))
        return self.adversarial_head(x)[:, 0], self.class_head(x)

    def get_config(self):
        config = super().get_config()
        config.update(resolution=self.resolution, channels=self.channels, width=self.width,
                      num_classes=self.num_classes)  # fmt: skip
        return config


__all__ = ["ActFirstResBlock", "LoFGANDecoder", "LoFGANDiscriminator", "LoFGANEncoder", "LoFGANGenerator"]
