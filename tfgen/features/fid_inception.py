"""The FID Inception network of TTUR / pytorch-fid, in Keras: FIDs comparable with papers.

Published FIDs (Heusel et al., NeurIPS 2017, TTUR's ``fid.py``; pytorch-fid;
the StyleGAN/FastGAN papers) read the 2048-d ``pool_3`` features of one
network: the 2015-12-05 TensorFlow Inception graph (``inception-2015-12-05.tgz``),
not ``keras.applications.InceptionV3`` (other weights, a 1000-class head;
``tfgen.features.inception``). pytorch-fid ported that graph to PyTorch
(``pytorch_fid.inception.fid_inception_v3``): torchvision's Inception3 with a
1008-class ``fc`` and four blocks patched to behave as the TF graph does. This
module builds the same network with ``keras.layers`` / ``keras.ops`` only (so
it runs under the TensorFlow and the JAX backend) and loads pytorch-fid's
weights file ``pt_inception-2015-12-05-6726825d.pth`` with
``tfgen.features.torch_pickle`` (no torch needed).

What pytorch-fid does, and so what this does:

* input: uint8 images (any size) -> x / 255 (``ToTensor``); bilinear resize to
  299x299 *without* antialiasing, half-pixel centres (``F.interpolate(...,
  mode="bilinear", align_corners=False)``: an image already 299x299 is left
  as it is); then 2x - 1, into [-1, 1].
* every conv is torchvision's ``BasicConv2d``: conv without bias ->
  BatchNorm (eps 0.001, inference statistics) -> ReLU. Paddings are
  torchvision's: ``padding=k//2`` (Keras "same" at stride 1) or none (Keras
  "valid": every stride-2 conv, Conv2d_2a_3x3, Conv2d_4a_3x3); max pools 3x3
  stride 2 without padding.
* Mixed_5b-5d (``FIDInceptionA``), Mixed_6b-6e (``FIDInceptionC``) and
  Mixed_7b (``FIDInceptionE_1``): the pool branch is a 3x3 stride-1 average
  pool that does *not* count the zero padding (``count_include_pad=False``;
  Keras' "same" average pooling divides by the valid count on every backend).
* Mixed_7c (``FIDInceptionE_2``): that pool is a 3x3 stride-1 *max* pool (the
  TF graph's quirk). Mixed_6a and Mixed_7a are torchvision's InceptionB / D.
* features: the global average pool after Mixed_7c, [B, 2048] (pytorch-fid's
  block 3, ``dims=2048``).
* logits: the 1008-class ``fc`` (the TF graph's ``softmax`` layer). The model
  returns ``fc``'s output with its bias, as torch does; the extractor's
  ``"logits"`` (what ``tfgen.metrics`` reads for the Inception Score) leave
  the bias out, as the original Inception Score code (Salimans et al. 2016,
  ``softmax/logits/MatMul``) and torch-fidelity's ``logits_unbiased`` do.

Weights: an explicit path (``weights_path=``; ``evaluate.py --features
fid_inception --inception-weights FILE``; ``train.py --fid --fid-features
fid_inception --fid-weights FILE``), else the file in the Keras cache
($KERAS_HOME/models, ~/.keras/models) or in torch's hub cache
($TORCH_HOME/hub/checkpoints, ~/.cache/torch/hub/checkpoints), where
pytorch-fid itself leaves it. When it is in neither place and the network is
reachable, it is downloaded once from pytorch-fid's release into the Keras
cache (and its SHA-256 checked against the ``6726825d`` in its name);
offline, the error says where to put the file and which flag names it.
"""

from __future__ import annotations

import functools
import hashlib
import os

import keras
import numpy as np
from keras import ops

from tfgen.errors import InputError
from tfgen.features.extractor import (
    FID_INCEPTION_WEIGHTS_FILE,
    FeatureExtractor,
    file_fingerprint,
    find_fid_inception_weights,
    fid_inception_search_dirs,
    keras_cache_dirs,
)
from tfgen.features.downloads import download_failure, fetch
from tfgen.features.inception import given_weights_file, offline_features_advice, weights_flag_advice
from tfgen.features.torch_pickle import load_torch_state_dict

FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_INCEPTION_WEIGHTS_FILE
)
# torch.hub's convention: the name ends with the first hex digits of the file's SHA-256.
FID_WEIGHTS_SHA256_PREFIX = "6726825d"
RESOLUTION = 299
FEATURE_DIM = 2048
NUM_CLASSES = 1008  # the 2015 graph's classes (1000 ImageNet + 8 unused)
BATCH_NORM_EPSILON = 1e-3  # torchvision's BasicConv2d
# Metrics are computed in float32 even when training set a mixed global policy.
_DTYPE = "float32"
# How the extractor's name reads beside a number ("FID (pytorch-fid Inception)").
LABEL = "pytorch-fid Inception"


# --- the network ----------------------------------------------------------------


@keras.saving.register_keras_serializable("tfgen")
class FIDInceptionPreprocessing(keras.layers.Layer):
    """Float images with values 0..255, any size -> [B, 299, 299, 3] in [-1, 1],
    as pytorch-fid: x / 255, bilinear resize without antialiasing (half-pixel
    centres, edges clamped: torch's ``align_corners=False``), then 2x - 1."""

    def __init__(self, *, resolution: int = RESOLUTION, **kwargs):
        super().__init__(**kwargs)
        self.resolution = resolution

    def call(self, images):
        images = ops.cast(images, "float32") / 255.0  # [B, H, W, 3], 0..1
        size = (self.resolution, self.resolution)
        if tuple(images.shape[1:3]) != size:  # unknown (None) sizes resize: 299 -> 299 is exact
            images = ops.image.resize(images, size, interpolation="bilinear", antialias=False)
        return 2.0 * images - 1.0

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution}


def _conv(x, name, filters, kernel_size, *, strides=1, padding="same"):
    """torchvision's BasicConv2d ``name``: conv (no bias) -> BatchNorm -> ReLU.

    Layers are named ``<name>.conv`` and ``<name>.bn``, the module paths of the
    PyTorch state dict, so the weight mapping is the layer name itself.
    ``padding``: "same" where torchvision pads ``k // 2`` (odd kernels, stride 1:
    symmetric, as Keras' "same"), "valid" where it does not pad (every stride-2
    conv and the stem's Conv2d_2a_3x3 and Conv2d_4a_3x3).
    """
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False,
        name=f"{name}.conv", dtype=_DTYPE,
    )(x)  # fmt: skip
    x = keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, name=f"{name}.bn", dtype=_DTYPE)(x)
    return keras.layers.ReLU(name=f"{name}.relu", dtype=_DTYPE)(x)


def _pool_3x3(x, name, kind, *, strides=1):
    """3x3 pool: stride 1 pads "same" (an average excluding the padding), stride 2 none."""
    layer = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
    padding = "same" if strides == 1 else "valid"
    return layer(3, strides=strides, padding=padding, name=name, dtype=_DTYPE)(x)


def _concat(branches, name):
    return keras.layers.Concatenate(axis=-1, name=name, dtype=_DTYPE)(branches)


def _inception_a(x, name, pool_features):
    """FIDInceptionA: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1 -> 224 + pool_features channels."""
    branch1x1 = _conv(x, f"{name}.branch1x1", 64, 1)
    branch5x5 = _conv(_conv(x, f"{name}.branch5x5_1", 48, 1), f"{name}.branch5x5_2", 64, 5)
    branch3x3dbl = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3)
    branch3x3dbl = _conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3)
    branch_pool = _conv(_pool_3x3(x, f"{name}.avg_pool", "avg"), f"{name}.branch_pool", pool_features, 1)
    return _concat([branch1x1, branch5x5, branch3x3dbl, branch_pool], f"{name}.concat")


def _inception_b(x, name):
    """InceptionB (Mixed_6a), stride 2: 3x3 | 1x1-3x3-3x3 | max pool -> 384 + 96 + C channels."""
    branch3x3 = _conv(x, f"{name}.branch3x3", 384, 3, strides=2, padding="valid")
    branch3x3dbl = _conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = _conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3)
    branch3x3dbl = _conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, strides=2, padding="valid")
    branch_pool = _pool_3x3(x, f"{name}.max_pool", "max", strides=2)
    return _concat([branch3x3, branch3x3dbl, branch_pool], f"{name}.concat")


def _inception_c(x, name, channels_7x7):
    """FIDInceptionC: factorised 7x7 branches (1x7 then 7x1) -> 768 channels."""
    c7 = channels_7x7
    branch1x1 = _conv(x, f"{name}.branch1x1", 192, 1)
    branch7x7 = _conv(x, f"{name}.branch7x7_1", c7, 1)
    branch7x7 = _conv(branch7x7, f"{name}.branch7x7_2", c7, (1, 7))
    branch7x7 = _conv(branch7x7, f"{name}.branch7x7_3", 192, (7, 1))
    branch7x7dbl = _conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    for index, (filters, kernel_size) in enumerate(
        ((c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))), start=2
    ):
        branch7x7dbl = _conv(branch7x7dbl, f"{name}.branch7x7dbl_{index}", filters, kernel_size)
    branch_pool = _conv(_pool_3x3(x, f"{name}.avg_pool", "avg"), f"{name}.branch_pool", 192, 1)
    return _concat([branch1x1, branch7x7, branch7x7dbl, branch_pool], f"{name}.concat")


def _inception_d(x, name):
    """InceptionD (Mixed_7a), stride 2: 1x1-3x3 | 1x1-1x7-7x1-3x3 | max pool -> 320 + 192 + C."""
    branch3x3 = _conv(x, f"{name}.branch3x3_1", 192, 1)
    branch3x3 = _conv(branch3x3, f"{name}.branch3x3_2", 320, 3, strides=2, padding="valid")
    branch7x7x3 = _conv(x, f"{name}.branch7x7x3_1", 192, 1)
    branch7x7x3 = _conv(branch7x7x3, f"{name}.branch7x7x3_2", 192, (1, 7))
    branch7x7x3 = _conv(branch7x7x3, f"{name}.branch7x7x3_3", 192, (7, 1))
    branch7x7x3 = _conv(branch7x7x3, f"{name}.branch7x7x3_4", 192, 3, strides=2, padding="valid")
    branch_pool = _pool_3x3(x, f"{name}.max_pool", "max", strides=2)
    return _concat([branch3x3, branch7x7x3, branch_pool], f"{name}.concat")


def _inception_e(x, name, pool):
    """FIDInceptionE_1 (``pool="avg"``) / FIDInceptionE_2 (``pool="max"``) -> 2048 channels."""
    branch1x1 = _conv(x, f"{name}.branch1x1", 320, 1)
    branch3x3 = _conv(x, f"{name}.branch3x3_1", 384, 1)
    branch3x3 = _concat([
        _conv(branch3x3, f"{name}.branch3x3_2a", 384, (1, 3)),
        _conv(branch3x3, f"{name}.branch3x3_2b", 384, (3, 1)),
    ], f"{name}.branch3x3_concat")  # fmt: skip
    branch3x3dbl = _conv(_conv(x, f"{name}.branch3x3dbl_1", 448, 1), f"{name}.branch3x3dbl_2", 384, 3)
    branch3x3dbl = _concat([
        _conv(branch3x3dbl, f"{name}.branch3x3dbl_3a", 384, (1, 3)),
        _conv(branch3x3dbl, f"{name}.branch3x3dbl_3b", 384, (3, 1)),
    ], f"{name}.branch3x3dbl_concat")  # fmt: skip
    branch_pool = _conv(_pool_3x3(x, f"{name}.{pool}_pool", pool), f"{name}.branch_pool", 192, 1)
    return _concat([branch1x1, branch3x3, branch3x3dbl, branch_pool], f"{name}.concat")


def build_fid_inception() -> keras.Model:
    """pytorch-fid's FID Inception with freshly initialised weights.

    Input: float images ``[B, H, W, 3]`` with values 0..255, any size (resized
    inside to 299x299). Output: a dict with ``"features"`` ``[B, 2048]`` (the
    pool_3 features of FID) and ``"logits"`` ``[B, 1008]`` (``fc``, with its bias).
    """
    images = keras.Input((None, None, 3), name="images")  # [B, H, W, 3], 0..255
    x = FIDInceptionPreprocessing(name="preprocess", dtype=_DTYPE)(images)  # [B, 299, 299, 3]
    x = _conv(x, "Conv2d_1a_3x3", 32, 3, strides=2, padding="valid")  # [B, 149, 149, 32]
    x = _conv(x, "Conv2d_2a_3x3", 32, 3, padding="valid")  # [B, 147, 147, 32]
    x = _conv(x, "Conv2d_2b_3x3", 64, 3)  # [B, 147, 147, 64]
    x = _pool_3x3(x, "maxpool1", "max", strides=2)  # [B, 73, 73, 64]
    x = _conv(x, "Conv2d_3b_1x1", 80, 1)  # [B, 73, 73, 80]
    x = _conv(x, "Conv2d_4a_3x3", 192, 3, padding="valid")  # [B, 71, 71, 192]
    x = _pool_3x3(x, "maxpool2", "max", strides=2)  # [B, 35, 35, 192]
    x = _inception_a(x, "Mixed_5b", pool_features=32)  # [B, 35, 35, 256]
    x = _inception_a(x, "Mixed_5c", pool_features=64)  # [B, 35, 35, 288]
    x = _inception_a(x, "Mixed_5d", pool_features=64)  # [B, 35, 35, 288]
    x = _inception_b(x, "Mixed_6a")  # [B, 17, 17, 768]
    for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        x = _inception_c(x, name, channels_7x7)  # [B, 17, 17, 768]
    x = _inception_d(x, "Mixed_7a")  # [B, 8, 8, 1280]
    x = _inception_e(x, "Mixed_7b", pool="avg")  # [B, 8, 8, 2048]
    x = _inception_e(x, "Mixed_7c", pool="max")  # [B, 8, 8, 2048]
    features = keras.layers.GlobalAveragePooling2D(name="avgpool", dtype=_DTYPE)(x)  # [B, 2048]
    logits = keras.layers.Dense(NUM_CLASSES, name="fc", dtype=_DTYPE)(features)  # [B, 1008]
    return keras.Model(images, {"features": features, "logits": logits}, name="fid_inception")


# --- pytorch-fid's state dict -> the Keras model ------------------------------------


def torch_weight_names(model: keras.Model) -> dict[str, list[tuple[str, tuple[int, ...] | None]]]:
    """Keras layer name -> [(state dict key, permutation to Keras' layout or None)]
    in the order of ``layer.weights``, for every layer with weights.

    Conv kernels ``[out, in, kh, kw]`` become ``[kh, kw, in, out]``, the Linear
    ``fc.weight`` ``[out, in]`` becomes ``[in, out]``; BatchNorm weight, bias,
    running_mean, running_var become gamma, beta, moving_mean, moving_variance.
    """
    names = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            names[layer.name] = [(f"{layer.name}.weight", (2, 3, 1, 0))]
        elif isinstance(layer, keras.layers.BatchNormalization):
            parts = ("weight", "bias", "running_mean", "running_var")
            names[layer.name] = [(f"{layer.name}.{part}", None) for part in parts]
        elif isinstance(layer, keras.layers.Dense):
            names[layer.name] = [(f"{layer.name}.weight", (1, 0)), (f"{layer.name}.bias", None)]
        elif layer.weights:  # guards this module's own layer choices
            raise InputError(f"FID Inception layer {layer.name!r} has weights no mapping names.")
    return names


def load_torch_weights(model: keras.Model, state_dict: dict, *, source: str = "state dict") -> None:
    """Assign pytorch-fid's FID Inception state dict to ``build_fid_inception()``.

    Every tensor of the state dict must find its place (BatchNorm's
    ``num_batches_tracked`` counters excepted: they do nothing at inference)
    and every Keras weight must be assigned, with matching shapes; otherwise
    ValueError, raised before any weight changes (no half-loaded model).
    """
    pending = {k: v for k, v in state_dict.items() if not k.endswith(".num_batches_tracked")}
    advice = (
        f"Pass pytorch-fid's {FID_INCEPTION_WEIGHTS_FILE} ({FID_WEIGHTS_URL}) with "
        f"{weights_flag_advice()}."
    )
    plan = []  # (layer, [arrays in the order of layer.weights])
    for layer_name, entries in torch_weight_names(model).items():
        layer = model.get_layer(layer_name)
        arrays = []
        for (key, permutation), weight in zip(entries, layer.weights):
            if key not in pending:
                raise InputError(
                    f"{source} is not pytorch-fid's FID Inception state dict: tensor {key!r} is "
                    f"missing. {advice}"
                )
            value = np.asarray(pending.pop(key), dtype=np.float32)
            if permutation is not None and value.ndim == len(permutation):
                value = value.transpose(permutation)
            if value.shape != tuple(weight.shape):
                raise InputError(
                    f"{source} is not pytorch-fid's FID Inception state dict: tensor {key!r} has "
                    f"shape {np.shape(state_dict[key])}, which does not map to the Keras shape "
                    f"{tuple(weight.shape)}. {advice}"
                )
            arrays.append(value)
        plan.append((layer, arrays))
    if pending:
        unused = ", ".join(sorted(pending)[:5])
        raise InputError(
            f"{source} is not pytorch-fid's FID Inception state dict: {len(pending)} tensors have "
            f"no place in the model (e.g. {unused}). {advice}"
        )
    for layer, arrays in plan:
        layer.set_weights(arrays)


# --- finding (or downloading) the weights ------------------------------------------


def _where_to_get_weights() -> str:
    places = " or ".join(os.path.join(d, FID_INCEPTION_WEIGHTS_FILE) for d in fid_inception_search_dirs())
    return (
        f"Download {FID_WEIGHTS_URL} on a machine with network access and put it at {places}, "
        f"or pass its path with {weights_flag_advice()}. Without these weights, "
        f"{offline_features_advice()} works offline."
    )


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_weights(weights_path: str | os.PathLike | None = None, *, download: bool = True) -> str:
    """pytorch-fid's weights file: ``weights_path`` when given, else the one in
    the Keras or torch hub cache, else (``download``) fetched into the Keras cache.

    Raises:
        FileNotFoundError: a given path that is not a file, or no file and no
            download: the message says where to put one and which flag names it.
    """
    if weights_path is not None:
        return given_weights_file(weights_path, "FID Inception", _where_to_get_weights())
    found = find_fid_inception_weights()
    if found is not None:
        return found
    if not download:
        raise FileNotFoundError(
            f"pytorch-fid's FID Inception weights ({FID_INCEPTION_WEIGHTS_FILE}) are not on this "
            f"machine. {_where_to_get_weights()}"
        )
    try:
        destination = fetch(FID_WEIGHTS_URL, FID_INCEPTION_WEIGHTS_FILE, keras_cache_dirs()[0])
    except Exception as error:  # offline, proxy, disk full: all end the same way
        raise FileNotFoundError(
            f"{download_failure(f'pytorch-fid FID Inception weights ({FID_INCEPTION_WEIGHTS_FILE})', error)} "
            f"{_where_to_get_weights()}"
        ) from None
    if not _sha256(destination).startswith(FID_WEIGHTS_SHA256_PREFIX):
        os.remove(destination)
        raise InputError(
            f"The file downloaded from {FID_WEIGHTS_URL} is not pytorch-fid's weights (its SHA-256 "
            f"does not start with {FID_WEIGHTS_SHA256_PREFIX}); it was deleted. {_where_to_get_weights()}"
        )
    return destination


@functools.lru_cache(maxsize=2)
def _load_cached(path: str, fingerprint: str) -> keras.Model:
    # Keyed on the fingerprint too, so a replaced file is loaded afresh.
    del fingerprint
    try:
        state_dict = load_torch_state_dict(path)
    except ValueError as error:
        raise InputError(
            f"{error} pytorch-fid's FID Inception weights are the PyTorch file "
            f"{FID_INCEPTION_WEIGHTS_FILE} ({FID_WEIGHTS_URL}); pass it with {weights_flag_advice()}."
        ) from None
    model = build_fid_inception()
    load_torch_weights(model, state_dict, source=path)
    model.trainable = False
    return model


def load_fid_inception(weights_path: str | os.PathLike | None = None, *, download: bool = True) -> keras.Model:
    """pytorch-fid's FID Inception with its weights (:func:`find_weights` finds
    them), built once per weights file and process."""
    path = find_weights(weights_path, download=download)
    return _load_cached(os.path.realpath(path), file_fingerprint(path))


class FIDInceptionExtractor(FeatureExtractor):
    """pytorch-fid's FID Inception: pool_3 features (2048) and the 1008 logits
    without ``fc``'s bias (the original Inception Score's). See the module docstring.

    Args:
        weights_path: pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``;
            None looks in the Keras and torch hub caches, then downloads.
        download: whether a missing file may be downloaded (into the Keras cache).
    """

    name = "fid_inception"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, *, weights_path: str | os.PathLike | None = None, download: bool = True):
        self.weights_path = find_weights(weights_path, download=download)
        self.fingerprint = file_fingerprint(self.weights_path)
        self.model = _load_cached(os.path.realpath(self.weights_path), self.fingerprint)
        # [2048, 1008]: logits = features @ kernel, no bias (see the module docstring).
        self._fc_kernel = ops.convert_to_numpy(self.model.get_layer("fc").kernel)

    def _extract(self, images: np.ndarray) -> dict:
        features = ops.convert_to_numpy(self.model.predict_on_batch(images.astype(np.float32))["features"])
        return {"features": features, "logits": features @ self._fc_kernel}
