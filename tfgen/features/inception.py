"""InceptionV3 features (2048-d pool) and ImageNet logits: the FID/KID/IS network.

FID (Heusel et al., NeurIPS 2017, "GANs trained by a two time-scale update
rule converge to a local Nash equilibrium"), KID (Binkowski et al., ICLR 2018)
and the Inception Score (Salimans et al., NeurIPS 2016) all read an ImageNet
InceptionV3 (Szegedy et al., CVPR 2016): the 2048-d global-average-pool
output for FID/KID, the 1000 class logits for IS.

Weights. The Keras application weights are read from the Keras cache, where
``keras.applications.InceptionV3(weights="imagenet")`` leaves them,

    $KERAS_HOME/models/inception_v3_weights_tf_dim_ordering_tf_kernels.h5
    ~/.keras/models/inception_v3_weights_tf_dim_ordering_tf_kernels.h5

downloaded there as Keras does when missing and the network answers (not
with ``--offline`` / ``TFGEN_OFFLINE=1``: :mod:`tfgen.features.downloads`),
or from an explicit path (``weights_path=`` / ``evaluate.py --inception-weights
PATH`` / ``train.py --fid --fid-weights PATH``).
The ``..._notop.h5`` file works too but holds no classifier, so it gives
features only (``num_classes`` is None and the Inception Score is impossible).
A Keras 3 ``.weights.h5`` file saved from ``keras.applications.InceptionV3``
is accepted as well.

Preprocessing, inside the Keras model: uint8 values as float are resized to
299x299 with an *antialiased* bilinear filter, then mapped to [-1, 1]
(x / 127.5 - 1, what these weights were trained with). Parmar et al.
("On aliased resizing and surprising subtleties in GAN evaluation", CVPR
2022, clean-fid) showed that resizing without an antialiasing filter (as the
original TF graph does) aliases when shrinking large images and shifts FID
noticeably; an antialiased filter makes the features follow image content,
not the resize. Upsampling (small images to 299) is unaffected. Non-square
images are stretched to 299x299, as in the reference implementations.

Comparability. The Keras InceptionV3 weights are not the 2015 TF graph
(``pool_3``) that TTUR and pytorch-fid use, and the resize differs, so FID
numbers from tfgen are comparable with each other (same extractor, same
weights: see ``fingerprint``) but not identical to published TTUR /
pytorch-fid / clean-fid values. Offline without these weights,
``features="efficientnet_lite0"`` (``evaluate.py --features``, ``train.py
--fid-features``) works out of the box.
"""

from __future__ import annotations

import functools
import os
import warnings

import h5py
import keras
import numpy as np
from keras import ops

from tfgen.features.downloads import download_failure, fetch
from tfgen.features.extractor import FeatureExtractor, file_fingerprint, keras_cache_dirs
from tfgen.weights import load_weights_checked
from tfgen.errors import InputError

INCEPTION_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
INCEPTION_NOTOP_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
# Where and what keras.applications.InceptionV3 downloads (keras/src/applications/inception_v3.py).
INCEPTION_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
)
INCEPTION_WEIGHTS_MD5 = "9a0d58056eeedaa3f26cb7ebd46da564"
INCEPTION_RESOLUTION = 299
INCEPTION_FEATURE_DIM = 2048
IMAGENET_CLASSES = 1000
# The flags that name the weights file and the extractor, per command: the
# errors name those of the command in use (train.py has no --inception-weights).
COMMAND_FLAGS = (
    # (command, weights file flag, extractor flag)
    ("evaluate.py", "inception-weights", "features"),
    ("train.py --fid", "fid-weights", "fid-features"),
)


def _command_flags() -> list[tuple[str, str, str]]:
    """The entries of ``COMMAND_FLAGS`` whose two flags are defined in this
    process (absl's registry): those of the running command; none from Python."""
    try:
        from absl import flags
    except ImportError:
        return []
    return [entry for entry in COMMAND_FLAGS if entry[1] in flags.FLAGS and entry[2] in flags.FLAGS]


def _flag_advice(position: int, value: str, python: str) -> str:
    """``--FLAG VALUE`` in the spelling of the command in use (``position`` 1: the
    weights flag, 2: the features flag), or every command's spelling after ``python``."""
    in_use = _command_flags()
    if len(in_use) == 1:
        return f"--{in_use[0][position]}{value}"
    spellings = "; ".join(f"{entry[0]}: --{entry[position]}{value}" for entry in (in_use or COMMAND_FLAGS))
    return f"{python} ({spellings})"


def weights_flag_advice(metavar: str = " PATH") -> str:
    """How to pass a weights file, in the spelling of the command in use."""
    return _flag_advice(1, metavar, "weights_path= in Python")


def offline_features_advice() -> str:
    """How to choose the offline extractor, in the spelling of the command in use."""
    return _flag_advice(2, " efficientnet_lite0", 'features="efficientnet_lite0"')


def _wrong_file_advice() -> str:
    return (
        f"Pass the file {INCEPTION_WEIGHTS_FILE} (or {INCEPTION_NOTOP_WEIGHTS_FILE}) made by "
        f"keras.applications.InceptionV3, or use {offline_features_advice()}."
    )


# --- finding the weights ------------------------------------------------------


def given_weights_file(weights_path: str | os.PathLike, network: str, where_to_get: str) -> str:
    """The absolute path of a weights file the user named, or FileNotFoundError
    saying which flag named it (in the command's spelling) and ``where_to_get``."""
    path = os.path.abspath(os.path.expanduser(os.fspath(weights_path)))
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{network} weights file not found: {path!r} (from {weights_flag_advice(metavar='')}). {where_to_get}"
        )
    return path


def find_inception_weights(weights_path: str | os.PathLike | None = None) -> str:
    """The InceptionV3 weights file to use: ``weights_path`` when given, else the
    full (with classifier) file from the Keras cache, else the ``_notop`` one.

    Raises:
        FileNotFoundError: no file, with where to put one and the alternatives.
    """
    if weights_path is not None:
        return given_weights_file(weights_path, "InceptionV3", _where_to_get_weights())
    for name in (INCEPTION_WEIGHTS_FILE, INCEPTION_NOTOP_WEIGHTS_FILE):
        for folder in keras_cache_dirs():
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                return candidate
    try:  # as keras.applications.InceptionV3(weights="imagenet") does
        return fetch(INCEPTION_WEIGHTS_URL, INCEPTION_WEIGHTS_FILE, keras_cache_dirs()[0],
                     file_hash=INCEPTION_WEIGHTS_MD5)  # fmt: skip
    except Exception as error:  # offline (--offline), no route, a timeout, HTTP errors
        raise FileNotFoundError(
            f"{download_failure('InceptionV3 weights', error)} {_where_to_get_weights()}"
        ) from None


def _where_to_get_weights() -> str:
    places = " or ".join(os.path.join(d, INCEPTION_WEIGHTS_FILE) for d in keras_cache_dirs())
    return (
        f"Put the Keras file {INCEPTION_WEIGHTS_FILE} (made by "
        "keras.applications.InceptionV3(weights='imagenet') on a machine with network "
        f"access) at {places} (the _notop.h5 file also works, without the Inception "
        f"Score), or pass its path with {weights_flag_advice()}. "
        f"Without these weights, {offline_features_advice()} works offline."
    )


# --- reading and checking the file --------------------------------------------


def _has_classifier(path: str) -> bool:
    """Whether a Keras weights file holds InceptionV3's 1000-class head (the
    [2048, 1000] dense kernel); raises ValueError for non-Keras files."""
    shapes: list[tuple[int, ...]] = []
    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            legacy = any(key.startswith("layer_names") for key in group.attrs)
            keras3 = "layers" in group or "vars" in group
            if not (legacy or keras3):
                raise InputError(
                    f"{path!r} is an HDF5 file but not Keras InceptionV3 weights (no Keras "
                    f"layer list). {_wrong_file_advice()}"
                )
            group.visititems(
                lambda name, obj: shapes.append(tuple(obj.shape))
                if isinstance(obj, h5py.Dataset)
                else None
            )
    except OSError as error:
        raise InputError(
            f"{path!r} is not a readable HDF5 file ({error}), so not Keras InceptionV3 "
            f"weights. {_wrong_file_advice()}"
        ) from None
    return (INCEPTION_FEATURE_DIM, IMAGENET_CLASSES) in shapes


def _load_inception_v3(path: str) -> tuple[keras.Model, bool]:
    """A built InceptionV3 with the file's weights, and whether it has the head."""
    include_top = _has_classifier(path)
    network = keras.applications.InceptionV3(
        include_top=include_top,
        weights=None,  # never let Keras reach for the network
        input_shape=(INCEPTION_RESOLUTION, INCEPTION_RESOLUTION, 3),
        pooling=None if include_top else "avg",
        classifier_activation=None,  # logits, as the Inception Score wants
    )
    if path.endswith(".weights.h5"):
        # Keras 3 format: checked variable by variable, all or nothing.
        load_weights_checked(network, path, expected="Keras InceptionV3", advice=_wrong_file_advice())
        return network, include_top
    try:
        # The legacy .h5 loader raises on a layer-count or shape mismatch;
        # warnings are errors too, so a half-loaded, half-random network is
        # never used (the model is thrown away on any error).
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            network.load_weights(path)
    except (ValueError, OSError, KeyError, TypeError, UserWarning) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(
            f"{path!r} does not hold Keras InceptionV3 weights ({first_line}). {_wrong_file_advice()}"
        ) from None
    return network, include_top


@keras.saving.register_keras_serializable("tfgen")
class InceptionPreprocessing(keras.layers.Layer):
    """Float images with values 0..255 (any size) -> [B, 299, 299, 3] in [-1, 1].

    Antialiased bilinear resize (clean-fid's recommendation; see the module
    docstring), then x / 127.5 - 1.
    """

    def __init__(self, *, resolution: int = INCEPTION_RESOLUTION, **kwargs):
        super().__init__(**kwargs)
        self.resolution = resolution

    def call(self, images):
        images = ops.cast(images, "float32")  # [B, H, W, 3], 0..255
        size = (self.resolution, self.resolution)
        if tuple(images.shape[1:3]) != size:
            images = ops.image.resize(images, size, interpolation="bilinear", antialias=True)
        return images / 127.5 - 1.0

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution}


@functools.lru_cache(maxsize=2)
def _build_feature_model(path: str, fingerprint: str) -> tuple[keras.Model, bool]:
    """uint8-valued float images -> {"features": [B, 2048], "logits": [B, 1000]}.

    Cached per (file, fingerprint) for the process: building and loading
    InceptionV3 takes seconds, and evaluation asks for it repeatedly. The
    fingerprint makes a replaced file build a fresh model.
    """
    del fingerprint  # part of the cache key only
    network, include_top = _load_inception_v3(path)
    network.trainable = False
    images = keras.Input((None, None, 3), name="images")  # 0..255
    x = InceptionPreprocessing(name="inception_preprocessing")(images)
    if include_top:
        trunk = keras.Model(
            network.inputs, [network.get_layer("avg_pool").output, network.output], name="inception_v3"
        )
        features, logits = trunk(x)
        outputs = {"features": features, "logits": logits}
    else:
        outputs = {"features": network(x)}  # pooling="avg": [B, 2048]
    return keras.Model(images, outputs, name="inception_v3_features"), include_top


class InceptionExtractor(FeatureExtractor):
    """InceptionV3 pool features (2048) and ImageNet logits (1000; None with
    ``_notop`` weights). See the module docstring for weights and preprocessing.

    Args:
        weights_path: a Keras InceptionV3 weights file; None searches the
            Keras cache ($KERAS_HOME/models, ~/.keras/models).
    """

    name = "inception"
    feature_dim = INCEPTION_FEATURE_DIM

    def __init__(self, *, weights_path: str | os.PathLike | None = None):
        self.weights_path = find_inception_weights(weights_path)
        self.fingerprint = file_fingerprint(self.weights_path)
        self._model, include_top = _build_feature_model(
            os.path.realpath(self.weights_path), self.fingerprint
        )
        self.num_classes = IMAGENET_CLASSES if include_top else None

    def _extract(self, images: np.ndarray) -> dict:
        outputs = self._model.predict_on_batch(images.astype(np.float32))
        return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}
