"""Named offline datasets, usable wherever a folder of images is.

Syntax (``[...]`` optional; CLASSES is one class, or several joined by commas,
or ``all``; N keeps the first N images after the class filter, in the
dataset's own order, which is what few-shot runs want):

    digits[:CLASSES[:N]]              scikit-learn 8x8 digits, classes 0..9
    fashion_mnist[@DIR][:CLASSES[:N]] Fashion-MNIST train split (60000, 28x28)
    animals[@DIR][:CLASSES[:N]]       animal silhouettes (10000, 28x28) of animal-mnist
    faces[:N]                         100 LFW faces, 25x25 (needs scikit-image: tfgen[lfw])
    glyphs[:SELECTION[:N[:K]]]        Omniglot-like characters, 64x64, K per class (20)
    tfds:NAME[:SPLIT]                 a tensorflow-datasets dataset already on disk

Every loader returns uint8 RGB images at their native size (grey replicated
to three channels) with integer labels and the class names they index.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import pickle
import re
from typing import NamedTuple

import numpy as np

from tfgen.data import glyphs
from tfgen.errors import InputError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_ENV = "TFGEN_FASHION_MNIST_DIR"
FASHION_MNIST_CLASSES = (
    "t_shirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)  # fmt: skip

# animals: the data files of the PyPI package animal-mnist 0.4, read in place.
# The package itself is never imported: its __init__ imports tensorflow.keras,
# and its metadata requires the full tensorflow and pandas, hence --no-deps.
ANIMALS_PACKAGE = "animal_mnist"
ANIMALS_ENV = "TFGEN_ANIMALS_DIR"
ANIMALS_PIP = "pip install --no-deps animal-mnist==0.4"
ANIMALS_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")  # images, labels
ANIMALS_CLASSES = (
    "bear", "bird", "cat", "cow", "dog",
    "elephant", "giraffe", "horse", "sheep", "zebra",
)  # fmt: skip

BUILTIN_DATASETS = {
    "digits": "digits[:CLASSES[:N]]  scikit-learn 8x8 digits (1797), classes 0..9",
    "fashion_mnist": (
        "fashion_mnist[@DIR][:CLASSES[:N]]  Fashion-MNIST train split (60000, 28x28), "
        f"classes {', '.join(FASHION_MNIST_CLASSES)} or 0..9"
    ),
    "animals": (
        "animals[@DIR][:CLASSES[:N]]  animal silhouettes in varied poses (10000, 28x28, 1000 per "
        f"class; `{ANIMALS_PIP}`), classes {', '.join(ANIMALS_CLASSES)} or 0..9"
    ),
    "faces": "faces[:N]  100 LFW faces, 25x25 grey (scikit-image's lfw_subset: pip install scikit-image)",
    "glyphs": (
        "glyphs[:SELECTION[:N[:K]]]  Omniglot-like characters (64x64, K per class, default 20; "
        "N may be empty or all); SELECTION: all | noto | SCRIPT | SCRIPT/CHARS | CHARS, comma-joined"
    ),
    "tfds": "tfds:NAME[:SPLIT]  a tensorflow-datasets dataset already downloaded",
}


class LabelledImages(NamedTuple):
    images: np.ndarray | list  # uint8 [N, H, W, 3]; a list of [H, W, 3] when sizes differ
    labels: np.ndarray  # int64 [N], indices into class_names
    class_names: list[str]


def list_builtin_datasets() -> list[str]:
    """Names of the bundled datasets (see ``builtin_dataset_help`` for syntax)."""
    return list(BUILTIN_DATASETS)


def builtin_dataset_help() -> str:
    return "\n".join(f"  {usage}" for usage in BUILTIN_DATASETS.values())


def is_builtin(source: str) -> bool:
    """True when ``source`` names a bundled dataset rather than a folder.

    A folder that happens to be called like a dataset is reached with a path
    (``./digits``).
    """
    name = re.match(r"[a-z_]*", source).group()
    rest = source[len(name) :]
    return name in BUILTIN_DATASETS and (rest == "" or rest[0] in ":@")


def load_builtin(source: str) -> LabelledImages:
    """Load a bundled dataset by name; see the module docstring for syntax."""
    name = re.match(r"[a-z_]*", source).group()
    rest = source[len(name) :]
    if name == "tfds":
        return _load_tfds(rest[1:])
    location = None
    if name in ("fashion_mnist", "animals") and rest.startswith("@"):
        location, _, rest = rest[1:].partition(":")
        rest = ":" + rest if rest else ""
    elif rest.startswith("@"):
        raise InputError(f"Only fashion_mnist and animals take an @DIR. Received: source={source!r}")
    fields = rest[1:].split(":") if rest else []
    if name == "faces":
        fields = [""] + fields  # faces has no classes: faces:N is a limit
    per_class = None
    if name == "glyphs" and len(fields) == 3:
        per_class = _positive_field(fields.pop(), "samples per class", source)
        if fields[1] in ("", "all"):
            fields[1] = None
    if len(fields) > 2:
        raise InputError(
            f"Too many ':' fields for {name}. Expected {BUILTIN_DATASETS[name].split()[0]}. "
            f"Received: source={source!r}"
        )
    selection, limit = (fields + [None, None])[:2]
    if name == "digits":
        data = _select_classes(*_digits(), selection, source)
    elif name == "fashion_mnist":
        data = _select_classes(*_fashion_mnist(location), selection, source)
    elif name == "animals":
        data = _select_classes(*_animals(location), selection, source)
    elif name == "faces":
        data = _faces()
    else:
        data = _glyphs(selection, limit, per_class or glyphs.DEFAULT_SAMPLES_PER_CLASS)
    return _take_first(data, limit, source)


# --- class filter and limit, shared by the labelled sets --------------------


def _select_classes(images, labels, class_names, selection, source) -> LabelledImages:
    """Keep the classes named in ``selection`` (names or indices, comma-joined)."""
    if selection in (None, "", "all", "*"):
        return LabelledImages(images, labels, list(class_names))
    chosen = [_class_index(token, class_names, source) for token in selection.split(",")]
    chosen = list(dict.fromkeys(chosen))  # drop repeats, keep order
    keep = np.isin(labels, chosen)
    remap = np.zeros(len(class_names), np.int64)
    remap[chosen] = np.arange(len(chosen))
    return LabelledImages(images[keep], remap[labels[keep]], [class_names[i] for i in chosen])


def _class_index(token: str, class_names, source: str) -> int:
    key = token.strip().lower().replace("-", "_").replace(" ", "_")
    if key in class_names:
        return list(class_names).index(key)
    if key.isdigit() and int(key) < len(class_names):
        return int(key)
    raise InputError(
        f"Unknown class {token!r} in {source!r}. Classes: {', '.join(class_names)} "
        f"(or their indices 0..{len(class_names) - 1}; `all` for every class). "
        "To take the first N images of all classes write NAME:all:N."
    )


def _positive_field(text: str, what: str, source: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"The {what} must be a positive integer. Received: {text!r} in source={source!r}")
    return int(text)


def _take_first(data: LabelledImages, limit: str | None, source: str) -> LabelledImages:
    if limit in (None, "", "all"):
        return data
    if not limit.isdigit() or int(limit) < 1:
        raise InputError(
            f"The image limit must be a positive integer. Received: {limit!r} in source={source!r}"
        )
    n = int(limit)
    return LabelledImages(data.images[:n], data.labels[:n], data.class_names)


def _grey_to_rgb(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=-1)


# --- the datasets -------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _digits_grey():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # 17 ink levels 0..16 -> 0..255, white strokes on black as in MNIST.
    return np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8), bunch.target.astype(np.int64)


def _digits():
    images, labels = _digits_grey()
    return _grey_to_rgb(images), labels, [str(d) for d in range(10)]


def _faces() -> LabelledImages:
    try:
        from skimage.data import lfw_subset
    except ImportError:
        raise InputError(
            "The faces set is scikit-image's LFW subset, and scikit-image is not installed: "
            '`pip install scikit-image` (or `pip install "tfgen[lfw]"`). Its files ship '
            "in the package, so no network is needed afterwards."
        ) from None

    # lfw_subset holds 100 faces followed by 100 non-face patches.
    faces = np.round(lfw_subset()[:100] * 255.0).astype(np.uint8)
    return LabelledImages(_grey_to_rgb(faces), np.zeros(len(faces), np.int64), ["face"])


def _fashion_mnist(location: str | None):
    folder = location or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    images, labels = _fashion_mnist_grey(os.path.abspath(os.path.expanduser(folder)))
    return _grey_to_rgb(images), labels, FASHION_MNIST_CLASSES


@functools.lru_cache(maxsize=2)
def _fashion_mnist_grey(folder: str):
    images = _read_idx(_find_idx_file(folder, "train-images-idx3-ubyte"))
    labels = _read_idx(_find_idx_file(folder, "train-labels-idx1-ubyte")).astype(np.int64)
    if images.ndim != 3 or len(images) != len(labels):
        raise InputError(
            f"The Fashion-MNIST files in {folder} do not match: images {images.shape}, "
            f"labels {labels.shape}. Expected [N, 28, 28] images and N labels."
        )
    return images, labels


def _find_idx_file(folder: str, stem: str) -> str:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"fashion_mnist needs the IDX file {stem}[.gz], which is not in {folder}. "
        "Install it with `apt-get install dataset-fashion-mnist` (files go to "
        f"{FASHION_MNIST_DIR}), or put the IDX files train-images-idx3-ubyte[.gz] and "
        "train-labels-idx1-ubyte[.gz] in a folder and use fashion_mnist@/that/folder "
        f"or set {FASHION_MNIST_ENV}=/that/folder."
    )


def _read_idx(path: str) -> np.ndarray:
    """Read an IDX file (the MNIST format): 0, 0, dtype code, ndim, sizes, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise InputError(f"{path} is not an unsigned-byte IDX file (bad header).")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise InputError(f"{path} is truncated: header says {shape}, found {body.size} bytes.")
    return body.reshape(shape)


def _animals(location: str | None):
    folder = location or os.environ.get(ANIMALS_ENV) or _animals_package_folder()
    if folder is None:
        raise FileNotFoundError(
            "animals needs the data files of the animal-mnist package, which is not installed "
            f"(no {ANIMALS_PACKAGE}/data/Animal_MNIST on the Python path). "
            f"Install it with `{ANIMALS_PIP}` (--no-deps: its metadata pulls the full tensorflow "
            "and pandas over tensorflow-cpu; tfgen only reads its two data files and never imports "
            f"it), or put {' and '.join(ANIMALS_FILES)} in a folder and use animals@/that/folder "
            f"or set {ANIMALS_ENV}=/that/folder."
        )
    images, labels = _animals_grey(os.path.abspath(os.path.expanduser(folder)))
    return _grey_to_rgb(images), labels, ANIMALS_CLASSES


def _animals_package_folder() -> str | None:
    """The installed animal-mnist's data folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec(ANIMALS_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec and spec.submodule_search_locations) or ():
        folder = os.path.join(location, "data", "Animal_MNIST")
        if os.path.isdir(folder):
            return folder
    return None


@functools.lru_cache(maxsize=2)
def _animals_grey(folder: str):
    images = _read_array_pickle(_find_animals_file(folder, ANIMALS_FILES[0]))
    labels = _read_array_pickle(_find_animals_file(folder, ANIMALS_FILES[1]))
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InputError(
            f"{ANIMALS_FILES[0]} in {folder} holds {images.dtype} {images.shape}. "
            "Expected uint8 images [N, 28, 28]."
        )
    if labels.ndim != 1 or len(labels) != len(images) or labels.dtype.kind not in "iu":
        raise InputError(
            f"The animal-mnist files in {folder} do not match: images {images.shape}, labels "
            f"{labels.dtype} {labels.shape}. Expected N integer labels for N images."
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= len(ANIMALS_CLASSES)):
        raise InputError(
            f"{ANIMALS_FILES[1]} in {folder} has labels outside 0..{len(ANIMALS_CLASSES) - 1} "
            f"({labels.min()}..{labels.max()})."
        )
    return images, labels.astype(np.int64)


def _find_animals_file(folder: str, name: str) -> str:
    for candidate in (name, name.removesuffix(".gz")):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"animals needs the file {name}, which is not in {folder}. Install the data with "
        f"`{ANIMALS_PIP}` (--no-deps: its metadata pulls the full tensorflow and pandas over "
        "tensorflow-cpu; tfgen only reads its data files), or put "
        f"{' and '.join(ANIMALS_FILES)} in a folder and use animals@/that/folder "
        f"or set {ANIMALS_ENV}=/that/folder."
    )


# What a pickled plain numpy array refers to (numpy 1 and numpy 2 module names).
_ARRAY_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "_reconstruct",
    ("numpy.core.multiarray", "scalar"): "scalar",
    ("numpy._core.multiarray", "scalar"): "scalar",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles a plain numpy array and refuses every other global (no code runs)."""

    def __init__(self, file, path: str):
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        what = _ARRAY_PICKLE_GLOBALS.get((module, name))
        if what is None:
            raise InputError(
                f"Refusing to unpickle {self.path}: it refers to {module}.{name}, and only a plain "
                "numpy array (numpy's _reconstruct, ndarray, dtype, scalar) is allowed here. "
                "A pickle can run arbitrary code; use the files of the animal-mnist package."
            )
        if what in ("ndarray", "dtype"):
            return getattr(np, what)
        try:
            from numpy._core import multiarray
        except ImportError:  # numpy 1 before 1.26
            from numpy.core import multiarray
        return getattr(multiarray, what)


def _read_array_pickle(path: str) -> np.ndarray:
    """A numpy array from a [gzipped] pickle, through :class:`_ArrayUnpickler`."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            array = _ArrayUnpickler(f, path).load()
    except (pickle.UnpicklingError, EOFError, OSError) as error:
        raise InputError(f"Could not read {path} as a pickled numpy array: {error}") from error
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path} holds a {type(array).__name__}, not a numpy array.")
    return array


def _glyphs(selection: str | None, limit: str | None, per_class: int) -> LabelledImages:
    classes = tuple(_glyph_classes(selection))
    if limit and limit.isdigit():  # render only the classes the first N images need
        classes = classes[: -(-int(limit) // per_class)]
    images = _render_glyphs_cached(classes, per_class)
    labels = np.repeat(np.arange(len(classes)), per_class)
    names = [f"{script}/{char}" for script, char in classes]
    return LabelledImages(_grey_to_rgb(images), labels, names)


@functools.lru_cache(maxsize=4)
def _render_glyphs_cached(classes: tuple, per_class: int) -> np.ndarray:
    # Sample k of a character does not depend on per_class: K = 100 extends the default 20.
    images = glyphs.render_glyphs(list(classes), samples_per_class=per_class)
    images.flags.writeable = False  # shared by every caller of the cache
    return images


def _glyph_classes(selection: str | None) -> list[tuple[str, str]]:
    """(script, char) classes for ``all``, ``noto``, ``greek``, ``greek/αβ``, ``αβ``..."""
    classes = []
    for token in (selection or "all").split(","):
        token = token.strip()
        script, slash, chars = token.partition("/")
        if token in ("all", "*", ""):
            scripts = list(glyphs.DEJAVU_SCRIPTS)
        elif token == "noto":
            glyphs.require_noto("noto")
            scripts = list(glyphs.NOTO_SCRIPTS)
        elif slash:
            known = glyphs.script_characters(script)
            for char in chars:
                if char not in known:
                    raise InputError(
                        f"The glyph script {script!r} has no character {char!r}. "
                        f"Its characters: {''.join(known)}"
                    )
                classes.append((script, char))
            continue
        elif token in glyphs.DEJAVU_SCRIPTS or token in glyphs.NOTO_SCRIPTS:
            scripts = [token]
        elif token.isascii() and len(token) > 1:
            raise InputError(
                f"Unknown glyph script {token!r}. Scripts here: "
                f"{', '.join(glyphs.available_scripts())}; or write SCRIPT/CHARS (latin/abc)."
            )
        else:
            classes.extend((glyphs.script_of(char), char) for char in token)
            continue
        classes.extend((s, c) for s in scripts for c in glyphs.script_characters(s))
    return list(dict.fromkeys(classes))


def _load_tfds(spec: str) -> LabelledImages:
    name, _, split = spec.partition(":")
    split = split or "train"
    if not name:
        raise InputError(
            "tfds needs a dataset name: tfds:NAME[:SPLIT], e.g. tfds:oxford_flowers102."
        )
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise InputError(
            f"tfds:{name} needs tensorflow-datasets: `pip install tensorflow-datasets`. "
            "Its first load downloads the data, so it needs the network once; later "
            "loads read ~/tensorflow_datasets (or $TFDS_DATA_DIR) offline."
        ) from None
    try:
        # $TFDS_DATA_DIR read now: tfds reads it only when first imported.
        data_dir = os.environ.get("TFDS_DATA_DIR") or None
        dataset, info = tfds.load(name, split=split, download=False, with_info=True, data_dir=data_dir)
    except Exception as error:  # tfds raises several types for "not prepared"
        raise InputError(
            f"Could not load tfds:{name}:{split} offline ({type(error).__name__}: {error}). "
            f"Download it once with network access: python -c \"import tensorflow_datasets "
            f"as tfds; tfds.load('{name}')\" (or set TFDS_DATA_DIR to where it lives)."
        ) from error
    images, labels = [], []
    for example in tfds.as_numpy(dataset):
        images.append(_array_to_rgb(example["image"]))
        labels.append(int(example.get("label", 0)))
    label_feature = info.features["label"] if "label" in info.features else None
    names = getattr(label_feature, "names", None)
    names = list(names or [str(i) for i in range(max(labels, default=0) + 1)])
    if len({image.shape for image in images}) == 1:
        images = np.stack(images)
    return LabelledImages(images, np.asarray(labels, np.int64), names)


def _array_to_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W], [H, W, 1], [H, W, 3] or [H, W, 4] uint8 -> [H, W, 3], RGBA over white."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 4:
        alpha = image[..., 3:].astype(np.float32) / 255.0
        image = np.round(image[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
