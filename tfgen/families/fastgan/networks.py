"""FastGAN / SLE-GAN (Liu et al., "Towards Faster and Stabilized GAN Training
for High-fidelity Few-shot Image Synthesis", ICLR 2021).

Layer for layer the official PyTorch code (odegeasslbc/FastGAN-pytorch,
models.py), in NHWC:

Generator  z [B, nz] -> 4x4 (transposed conv + BN + GLU) -> up blocks to R.
           Up blocks: nearest x2 -> conv3x3 (2x channels) -> BN -> GLU; the
           "comp" blocks at 8, 32, 128, 512 add noise injection and a second
           conv. SLE gates 4->64, 8->128, 16->256, 32->512. Outputs the R x R
           image and a small S x S image, S = min(R, 128).
Discriminator  big branch down to 8x8 with blocks that average a conv path
           and an avgpool+1x1 path, SLE 256->32, 128->16, 64->8 (by spatial
           size), 5x5 logits; small branch on the S x S image, 5x5 logits;
           self-supervised decoders 8x8 -> S x S on real images.

Below 256 px (not in the paper) the discriminator's stem keeps the input
size, so there are fewer down blocks and only the SLE links whose source
exists (128: 128->16, 64->8; 64: 64->8); widths stay keyed by spatial size.
At 64 px the small image is 64x64 and the decoders stop at 64.
"""

from __future__ import annotations

import keras
from keras import ops

from tfgen.layers import (
    GLU,
    NoiseInjection,
    SkipLayerExcitation,
    SpectralConv2D,
    SpectralLatentProjection,
    adaptive_avg_pool,
    batch_norm,
)
from tfgen.families.fastgan.config import check_fastgan_resolution
from tfgen.weights import CheckedWeightsMixin


# Generator channel multipliers of ngf, by spatial size (official nfc_multi).
GENERATOR_WIDTHS = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
# Up blocks with noise injection and a second conv ("UpBlockComp").
GENERATOR_COMP_SIZES = (8, 32, 128, 512)
# Generator SLE links: source spatial size -> target spatial size.
GENERATOR_SLE = {4: 64, 8: 128, 16: 256, 32: 512}

# Discriminator big-branch width multipliers of ndf, by spatial size. In the
# official code the map at spatial s has nfc[2s] channels.
DISCRIMINATOR_WIDTHS = {256: 0.25, 128: 0.5, 64: 1, 32: 2, 16: 4, 8: 8}
# Small-branch widths by spatial size (official down_from_small).
DISCRIMINATOR_SMALL_WIDTHS = {64: 0.5, 32: 1, 16: 2, 8: 4}
# Discriminator SLE links by spatial size: source -> target.
DISCRIMINATOR_SLE = {256: 32, 128: 16, 64: 8}
# Decoder width multipliers of ndf by output spatial size. The official
# SimpleDecoder hard-codes {16: 128, 32: 64, 64: 64, 128: 32} (base 32), which
# is this at the official ndf=64; scaling with ndf keeps narrow
# discriminators (CPU demos) from spending most of their time in decoders.
DECODER_WIDTHS = {16: 2, 32: 1, 64: 1, 128: 0.5}


def small_resolution_for(resolution):
    return min(int(resolution), 128)


def upsample_nearest(x):
    """Nearest-neighbour x2 (PyTorch ``Upsample(scale_factor=2)``)."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def crop_image_by_part(images, part):
    """Quadrant ``part`` of NHWC images: 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right. ``part`` may be a Python int or an int32 scalar tensor.

    The four quadrants are stacked and one is taken, rather than slicing at a
    data-dependent offset, so XLA compiles one program for every ``part``.
    """
    h, w = images.shape[1] // 2, images.shape[2] // 2
    quadrants = ops.stack(
        [images[:, :h, :w], images[:, :h, w:], images[:, h:, :w], images[:, h:, w:]], axis=0
    )
    return ops.take(quadrants, ops.convert_to_tensor(part, dtype="int32"), axis=0)


class _Block(keras.layers.Layer):
    """A sequence of sublayers; each gets ``training`` if it takes it."""

    def __init__(self, layers, **kwargs):
        super().__init__(**kwargs)
        self.sublayers = layers

    def build(self, input_shape):
        shape = input_shape
        for layer in self.sublayers:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._output_shape = shape

    def call(self, x, training=False):
        for layer in self.sublayers:
            if isinstance(layer, (SpectralConv2D, keras.layers.BatchNormalization)):
                x = layer(x, training=training)
            else:
                x = layer(x)
        return x

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self.sublayers:
            shape = layer.compute_output_shape(shape)
        return shape


class _Upsample(keras.layers.Layer):
    def call(self, x):
        return upsample_nearest(x)

    def compute_output_shape(self, input_shape):
        s = input_shape
        return (s[0], None if s[1] is None else 2 * s[1], None if s[2] is None else 2 * s[2], s[3])


def _up_block(out_channels, comp, name):
    """Official UpBlock / UpBlockComp."""
    layers = [
        _Upsample(name="up"),
        SpectralConv2D(filters=2 * out_channels, kernel_size=3, name="conv1"),
    ]
    if comp:
        layers.append(NoiseInjection(name="noise1"))
    layers += [batch_norm("bn1"), GLU(name="glu1")]
    if comp:
        layers += [
            SpectralConv2D(filters=2 * out_channels, kernel_size=3, name="conv2"),
            NoiseInjection(name="noise2"),
            batch_norm("bn2"),
            GLU(name="glu2"),
        ]
    return _Block(layers, name=name)


@keras.saving.register_keras_serializable("tfgen")
class FastGANGenerator(CheckedWeightsMixin, keras.Model):
    """FastGAN generator: z [B, latent_dim] -> image [B, R, R, 3] in [-1, 1].

    ``G(z)`` returns the full-resolution image; ``G(z, training=True,
    return_small=True)`` returns ``(image, small_image)`` for training.

    Args:
        output_resolution: R, one of 64, 128, 256, 512, 1024.
        latent_dim: size of z (official nz=256).
        ngf: width multiplier (official 64; channels at 4x4 are 16*ngf).
    """

    # tfgen.export serves it: latents (and a class index) -> images.
    exportable = True

    def __init__(self, *, output_resolution=256, latent_dim=256, ngf=64, **kwargs):
        super().__init__(**kwargs)
        self.output_resolution = check_fastgan_resolution(output_resolution)
        self.small_resolution = small_resolution_for(output_resolution)
        self.latent_dim = int(latent_dim)
        self.ngf = int(ngf)
        width = {s: int(m * ngf) for s, m in GENERATOR_WIDTHS.items()}
        self.widths = width

        self.init_projection = SpectralLatentProjection(filters=2 * width[4], name="init_convT")
        self.init_bn = batch_norm("init_bn")
        self.init_glu = GLU(name="init_glu")
        self.sizes = [s for s in (8, 16, 32, 64, 128, 256, 512, 1024) if s <= self.output_resolution]
        self.up_blocks = [
            _up_block(width[s], comp=s in GENERATOR_COMP_SIZES, name=f"feat_{s}") for s in self.sizes
        ]
        self.sle_pairs = [(s, t) for s, t in GENERATOR_SLE.items() if t <= self.output_resolution]
        self.sle_layers = [
            SkipLayerExcitation(target_channels=width[t], name=f"sle_{s}_{t}") for s, t in self.sle_pairs
        ]
        self.to_big = SpectralConv2D(filters=3, kernel_size=3, name="to_big")
        self.to_small = SpectralConv2D(filters=3, kernel_size=1, name="to_small")
        self.build((None, self.latent_dim))

    def build(self, input_shape):
        width = self.widths
        self.init_projection.build(input_shape)
        self.init_bn.build((None, 4, 4, 2 * width[4]))
        channels = width[4]
        for size, block in zip(self.sizes, self.up_blocks):
            block.build((None, size // 2, size // 2, channels))
            channels = width[size]
        for (source, target), sle in zip(self.sle_pairs, self.sle_layers):
            sle.build(((None, source, source, width[source]), (None, target, target, width[target])))
        self.to_big.build((None, None, None, width[self.output_resolution]))
        self.to_small.build((None, None, None, width[self.small_resolution]))
        self.built = True

    def call(self, z, training=False, return_small=False):
        x = self.init_projection(ops.cast(z, self.compute_dtype), training=training)
        x = self.init_glu(self.init_bn(x, training=training))
        sle_by_target = {t: (s, layer) for (s, t), layer in zip(self.sle_pairs, self.sle_layers)}
        features = {4: x}  # spatial size -> feature map [B, s, s, C]
        for size, block in zip(self.sizes, self.up_blocks):
            x = block(x, training=training)
            if size in sle_by_target:
                source, sle = sle_by_target[size]
                x = sle([features[source], x], training=training)
            features[size] = x
        image = ops.tanh(self.to_big(x, training=training))
        image = ops.cast(image, "float32")
        if not return_small:
            return image
        small = ops.tanh(self.to_small(features[self.small_resolution], training=training))
        return image, ops.cast(small, "float32")

    def compute_output_shape(self, input_shape):
        r = self.output_resolution
        return (input_shape[0], r, r, 3)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras' ``export`` of ``G(z)``, which works on a fresh generator too:
        the input signature defaults to z float32 [None, latent_dim]. The
        graph draws the injected noise itself and outputs float images; for
        a served model (noise as an input, uint8 images, TFLite with builtin
        ops) use :func:`tfgen.export.export_generator`."""
        if input_signature is None:
            input_signature = [keras.InputSpec(shape=(None, self.latent_dim), dtype="float32")]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            output_resolution=self.output_resolution, latent_dim=self.latent_dim, ngf=self.ngf
        )
        return config


def _down_block_comp(out_channels, name):
    """Official DownBlockComp: mean of a strided conv path and an avgpool+1x1 path."""
    main = _Block(
        [
            SpectralConv2D(filters=out_channels, kernel_size=4, strides=2, name="conv1"),
            batch_norm("bn1"),
            keras.layers.LeakyReLU(0.2, name="lrelu1"),
            SpectralConv2D(filters=out_channels, kernel_size=3, name="conv2"),
            batch_norm("bn2"),
            keras.layers.LeakyReLU(0.2, name="lrelu2"),
        ],
        name=f"{name}_main",
    )
    direct = _Block(
        [
            keras.layers.AveragePooling2D(2, name="pool"),
            SpectralConv2D(filters=out_channels, kernel_size=1, name="conv"),
            batch_norm("bn"),
            keras.layers.LeakyReLU(0.2, name="lrelu"),
        ],
        name=f"{name}_direct",
    )
    return main, direct


def _down_block(out_channels, name):
    """Official DownBlock: strided conv4x4 -> BN -> LeakyReLU."""
    return [
        SpectralConv2D(filters=out_channels, kernel_size=4, strides=2, name=f"{name}_conv"),
        batch_norm(f"{name}_bn"),
        keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu"),
    ]


def _decoder(output_size, ndf, name):
    """Official SimpleDecoder: (pool to 8x8) -> up blocks to output_size -> conv3x3 -> tanh."""
    layers = []
    size = 8
    while size < output_size:
        size *= 2
        layers += [
            _Upsample(name=f"up_{size}"),
            SpectralConv2D(filters=2 * int(DECODER_WIDTHS[size] * ndf), kernel_size=3, name=f"conv_{size}"),
            batch_norm(f"bn_{size}"),
            GLU(name=f"glu_{size}"),
        ]
    layers.append(SpectralConv2D(filters=3, kernel_size=3, name="to_rgb"))
    return _Block(layers, name=name)


@keras.saving.register_keras_serializable("tfgen")
class FastGANDiscriminator(CheckedWeightsMixin, keras.Model):
    """FastGAN discriminator with self-supervised reconstruction decoders.

    ``D([big, small])`` -> logits [B, N] (both branches' 5x5 maps,
    flattened). ``D([big, small], part=p)`` -> ``(logits, (rec_big,
    rec_small, rec_part))``: S x S reconstructions of the whole image (from
    the big branch's 8x8 features), of the whole image (from the small
    branch) and of quadrant ``p`` (from that quadrant of the 16x16 features).

    Args:
        input_resolution: R, one of 64, 128, 256, 512, 1024.
        ndf: width multiplier (official 64).
    """

    def __init__(self, *, input_resolution=256, ndf=64, **kwargs):
        super().__init__(**kwargs)
        self.input_resolution = check_fastgan_resolution(input_resolution)
        self.small_resolution = small_resolution_for(input_resolution)
        self.ndf = int(ndf)
        width = {s: int(m * ndf) for s, m in DISCRIMINATOR_WIDTHS.items()}
        small_width = {s: int(m * ndf) for s, m in DISCRIMINATOR_SMALL_WIDTHS.items()}
        self.widths = width
        self.small_widths = small_width
        r = self.input_resolution
        self.stem_size = min(r, 256)

        # Stem: bring the image to min(R, 256) spatial.
        if r == 1024:
            stem = [
                SpectralConv2D(filters=int(0.125 * ndf), kernel_size=4, strides=2, name="conv1"),
                keras.layers.LeakyReLU(0.2, name="lrelu1"),
                SpectralConv2D(filters=width[256], kernel_size=4, strides=2, name="conv2"),
                batch_norm("bn2"),
                keras.layers.LeakyReLU(0.2, name="lrelu2"),
            ]
        elif r == 512:
            stem = [
                SpectralConv2D(filters=width[256], kernel_size=4, strides=2, name="conv1"),
                keras.layers.LeakyReLU(0.2, name="lrelu1"),
            ]
        else:
            stem = [
                SpectralConv2D(filters=width[self.stem_size], kernel_size=3, name="conv1"),
                keras.layers.LeakyReLU(0.2, name="lrelu1"),
            ]
        self.down_from_big = _Block(stem, name="down_from_big")

        self.down_sizes = [s for s in (128, 64, 32, 16, 8) if s < self.stem_size]
        self.down_blocks = [_down_block_comp(width[s], name=f"down_{s}") for s in self.down_sizes]
        self.sle_pairs = [(s, t) for s, t in DISCRIMINATOR_SLE.items() if s <= self.stem_size]
        self.sle_layers = [
            SkipLayerExcitation(target_channels=width[t], name=f"sle_{s}_{t}") for s, t in self.sle_pairs
        ]
        self.rf_big = _Block(
            [
                SpectralConv2D(filters=int(16 * ndf), kernel_size=1, name="conv1"),
                batch_norm("bn"),
                keras.layers.LeakyReLU(0.2, name="lrelu"),
                SpectralConv2D(filters=1, kernel_size=4, padding="valid", name="conv2"),
            ],
            name="rf_big",
        )

        s = self.small_resolution // 2
        small = [
            SpectralConv2D(filters=small_width[s], kernel_size=4, strides=2, name="conv_stem"),
            keras.layers.LeakyReLU(0.2, name="lrelu_stem"),
        ]
        while s > 8:
            s //= 2
            small += _down_block(small_width[s], name=f"down_{s}")
        self.down_from_small = _Block(small, name="down_from_small")
        self.rf_small = SpectralConv2D(filters=1, kernel_size=4, padding="valid", name="rf_small")

        self.decoder_big = _decoder(self.small_resolution, ndf, name="decoder_big")
        self.decoder_part = _decoder(self.small_resolution, ndf, name="decoder_part")
        self.decoder_small = _decoder(self.small_resolution, ndf, name="decoder_small")
        self.build(None)

    def build(self, input_shape):
        r, width = self.input_resolution, self.widths
        self.down_from_big.build((None, r, r, 3))
        channels = width[self.stem_size]
        for size, (main, direct) in zip(self.down_sizes, self.down_blocks):
            main.build((None, 2 * size, 2 * size, channels))
            direct.build((None, 2 * size, 2 * size, channels))
            channels = width[size]
        for (source, target), sle in zip(self.sle_pairs, self.sle_layers):
            sle.build(((None, source, source, width[source]), (None, target, target, width[target])))
        self.rf_big.build((None, 8, 8, width[8]))
        sr = self.small_resolution
        self.down_from_small.build((None, sr, sr, 3))
        self.rf_small.build((None, 8, 8, self.small_widths[8]))
        self.decoder_big.build((None, 8, 8, width[8]))
        self.decoder_part.build((None, 8, 8, width[16]))
        self.decoder_small.build((None, 8, 8, self.small_widths[8]))
        self.built = True

    def call(self, inputs, training=False, part=None):
        big, small = inputs
        big = ops.cast(big, self.compute_dtype)
        small = ops.cast(small, self.compute_dtype)

        x = self.down_from_big(big, training=training)
        sle_by_target = {t: (s, layer) for (s, t), layer in zip(self.sle_pairs, self.sle_layers)}
        features = {self.stem_size: x}  # spatial size -> feature map
        for size, (main, direct) in zip(self.down_sizes, self.down_blocks):
            x = (main(x, training=training) + direct(x, training=training)) / 2
            if size in sle_by_target:
                source, sle = sle_by_target[size]
                x = sle([features[source], x], training=training)
            features[size] = x
        feat_last = x  # [B, 8, 8, 8*ndf]
        logits_big = self.rf_big(feat_last, training=training)  # [B, 5, 5, 1]

        feat_small = self.down_from_small(small, training=training)  # [B, 8, 8, 4*ndf]
        logits_small = self.rf_small(feat_small, training=training)
        logits = ops.concatenate(
            [ops.reshape(logits_big, (-1, 25)), ops.reshape(logits_small, (-1, 25))], axis=1
        )
        logits = ops.cast(logits, "float32")
        if part is None:
            return logits

        def decode(decoder, feature):
            out = decoder(adaptive_avg_pool(feature, 8), training=training)
            return ops.cast(ops.tanh(out), "float32")

        rec_big = decode(self.decoder_big, feat_last)
        rec_small = decode(self.decoder_small, feat_small)
        rec_part = decode(self.decoder_part, crop_image_by_part(features[16], part))
        return logits, (rec_big, rec_small, rec_part)

    def get_config(self):
        config = super().get_config()
        config.update(input_resolution=self.input_resolution, ndf=self.ndf)
        return config


def build_fastgan(config):
    """(generator, discriminator) from a :class:`tfgen.families.fastgan.config.FastGANConfig`
    (the discriminator its ``discriminator`` names)."""
    from tfgen.families.fastgan import build_discriminator, build_generator

    return build_generator(config), build_discriminator(config)
