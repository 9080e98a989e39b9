"""A VGG16 perceptual distance for FastGAN's reconstruction loss.

The official FastGAN compares the decoders' reconstructions with LPIPS-VGG
(Zhang et al., CVPR 2018). LPIPS needs ImageNet VGG16 weights (and its own
learned per-channel weights), none of which can be downloaded offline, so
tfgen defaults to L1 and offers this distance when the user supplies VGG16
weights (a Keras ``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`` file):

    d(x, y) = sum over layers l of mean_hw || f_l(x) - f_l(y) ||^2

with f_l the channel-unit-normalised activations at relu1_2, relu2_2,
relu3_3, relu4_3 and relu5_3 -- LPIPS with every per-channel weight equal
to 1 (the paper's "baseline" variant), since the learned ones are not
available.
"""

from __future__ import annotations

import os
import warnings

import keras
from keras import ops

LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
# Caffe-style preprocessing of the Keras VGG16 weights: BGR, mean-subtracted, 0..255.
_BGR_MEAN = (103.939, 116.779, 123.68)


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
        raise ValueError(
            f"{weights_path!r} does not hold VGG16 (include_top=False) weights: {e}"
        ) from None
    vgg.trainable = False
    outputs = [vgg.get_layer(name).output for name in LPIPS_LAYERS]
    return keras.Model(vgg.input, outputs, name="vgg16_lpips_features")


class PerceptualDistance:
    """Callable ``(pred, target) -> [B]`` distances between images in [-1, 1]."""

    def __init__(self, weights_path):
        self.features = load_vgg16_features(weights_path)

    @staticmethod
    def _preprocess(images):
        images = (ops.cast(images, "float32") + 1.0) * 127.5
        bgr = images[..., ::-1]
        return bgr - ops.convert_to_tensor(_BGR_MEAN, "float32")

    @staticmethod
    def _unit_normalize(features):
        features = ops.cast(features, "float32")
        norm = ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True))
        return features / (norm + 1e-10)

    def __call__(self, pred, target):
        pred_features = self.features(self._preprocess(pred))
        target_features = self.features(self._preprocess(target))
        distance = 0.0
        for a, b in zip(pred_features, target_features):
            diff = self._unit_normalize(a) - self._unit_normalize(b)
            distance = distance + ops.mean(ops.sum(ops.square(diff), axis=-1), axis=(1, 2))
        return distance
