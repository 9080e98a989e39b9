"""Features of real images, cached on disk.

Extracting features of thousands of real images takes minutes on a CPU and
gives the same arrays every time, so they are stored once per

    (dataset content, resolution, extractor and its weights, image count, seed)

in ``$TFGEN_CACHE_DIR`` (default ``~/.cache/tfgen/features``) as ``.npz``
files written atomically. The dataset part of the key lists every image file
with its size and modification time, so adding, removing or editing an image
makes a new entry rather than returning stale statistics. Bundled datasets
are keyed by name (their content is fixed by the installed packages).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np

from tfgen.data import builtin
from tfgen.data.images import find_image_files, load_images
from tfgen.features.extractor import FeatureExtractor, extract_features
from tfgen.errors import InputError

# Bump when what is stored (or how it is computed) changes.
CACHE_FORMAT = 1
CACHE_ENV = "TFGEN_CACHE_DIR"


def default_cache_dir() -> str:
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "tfgen")
    return os.path.join(root, "features")


def dataset_fingerprint(source: str) -> str:
    """A digest that changes when the images of ``source`` change."""
    source = os.fspath(source)
    if builtin.is_builtin(source):
        return "builtin:" + source
    entries = []
    for path in find_image_files(source):  # raises a clear error for a missing folder
        stat = os.stat(path)
        entries.append(f"{os.path.relpath(path, source)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    return "folder:" + hashlib.sha256("\n".join(entries).encode()).hexdigest()


def choose_subset(num_available: int, num_images: int | None, seed: int) -> np.ndarray | None:
    """Indices of a seeded random subset of ``num_images`` images (None: all)."""
    if num_images is None or num_images >= num_available:
        return None
    if num_images < 2:
        raise InputError(f"Need at least 2 real images for statistics. Received: num_images={num_images}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(num_available, size=num_images, replace=False))


def load_real_images(source: str, *, resolution: int, num_images: int | None = None, seed: int = 0):
    """uint8 ``[N, R, R, 3]`` real images: all of ``source``, or a seeded subset."""
    images = load_images(source, resolution=resolution)
    if len(images) < 2:
        raise InputError(
            f"{source!r} has {len(images)} image(s); statistics need at least 2 real images."
        )
    subset = choose_subset(len(images), num_images, seed)
    return images if subset is None else images[subset]


def real_features(
    source: str,
    extractor: FeatureExtractor,
    *,
    resolution: int,
    num_images: int | None = None,
    seed: int = 0,
    batch_size: int = 50,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """Features (and logits) of the real images of ``source`` at ``resolution``.

    Loaded from the cache when an entry with the same key exists; otherwise
    extracted and stored. ``num_images`` None means every image.
    """
    key = cache_key(source, extractor, resolution=resolution, num_images=num_images, seed=seed)
    path = os.path.join(cache_dir or default_cache_dir(), key + ".npz")
    if use_cache and os.path.isfile(path):
        try:
            with np.load(path) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, EOFError):
            pass  # a damaged entry is recomputed and rewritten below
    images = load_real_images(source, resolution=resolution, num_images=num_images, seed=seed)
    outputs = extract_features(
        extractor, images, batch_size=batch_size, progress=progress, description="real features"
    )
    if use_cache:
        save_npz_atomic(path, outputs)
    return outputs


def cache_key(source, extractor, *, resolution, num_images, seed) -> str:
    from tfgen import __version__

    description = {
        "format": CACHE_FORMAT,
        "tfgen": __version__,
        "data": dataset_fingerprint(source),
        "resolution": int(resolution),
        "extractor": extractor.cache_key,
        "num_images": num_images,
        "seed": int(seed) if num_images is not None else None,
    }
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]
    return f"{extractor.name}_{int(resolution)}px_{digest}"


def save_npz_atomic(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` via a temporary file and a rename, so a
    crash never leaves a half-written cache entry."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
