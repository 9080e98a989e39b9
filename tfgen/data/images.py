"""Images from a folder or a bundled dataset -> a tf.data pipeline for training.

Few-shot datasets are small (1 to ~1000 images), so every image is decoded
once with PIL, resized so that its shorter side equals the resolution
(LANCZOS) and centre-cropped, and kept in memory as one uint8 array. The
tf.data pipeline then only shuffles indices, gathers a batch, converts it to
float in [-1, 1] and flips; ``prefetch`` keeps it off the training step's
critical path.

Colour: grey and palette images become RGB; transparent images (RGBA, LA, P
with a transparent colour) are composited over white, since what lies under
a fully transparent pixel is arbitrary (often black) while a white background
is what a viewer shows.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import stat
import warnings
from typing import Callable

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from tfgen.data import builtin
from tfgen.errors import InputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
# Bundled sets are stored at their native size (e.g. 28x28) and resized in
# the pipeline; with cache=True they are resized once up front when the
# result fits in this many bytes.
CACHE_BUDGET_BYTES = 2 * 1024**3
# An image whose shorter side is under resolution / SMALL_IMAGE_FACTOR is
# upscaled so much that it only adds blur; it is kept but warned about.
SMALL_IMAGE_FACTOR = 8


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """A training pipeline and what it was built from."""

    dataset: tf.data.Dataset  # float32 [batch_size, R, R, 3] in [-1, 1], full batches only
    num_images: int
    source: str
    resolution: int
    batch_size: int
    # start -> the same pipeline from batch ``start`` on (what a resumed run
    # trains on); None: ``dataset.skip(start)``.
    batches_from: Callable[[int], tf.data.Dataset] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return self.num_images // self.batch_size


# --- reading a folder ---------------------------------------------------------


def find_image_files(folder: str) -> list[str]:
    """Image files under ``folder`` (recursive, sorted); other files are ignored."""
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(
            f"The image folder {folder!r} {what}. Pass a folder of images "
            f"({', '.join(IMAGE_EXTENSIONS)}; subfolders are searched) or a bundled "
            f"dataset name ({', '.join(builtin.list_builtin_datasets())}; e.g. digits:3, "
            "fashion_mnist:ankle_boot:100, animals:giraffe, glyphs:greek; see the README)."
        )
    paths = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()  # os.walk visits subfolders in this order
        names = [name for name in sorted(files) if name.lower().endswith(IMAGE_EXTENSIONS)]
        paths.extend(os.path.join(root, name) for name in names)
    regular = {path: _is_regular_file(path) for path in paths}
    skipped = [path for path, ok in regular.items() if not ok]
    if skipped:
        _warn_not_regular(skipped)
    return [path for path, ok in regular.items() if ok]


def _is_regular_file(path: str) -> bool:
    """True for a file or a symlink to one.

    Opening a FIFO named ``x.png`` blocks forever, and sockets, devices and
    broken symlinks cannot be read either; ``os.stat`` tells without opening.
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # broken symlink, symlink loop, no permission
        return False


def _warn_not_regular(skipped: list[str], shown: int = 3) -> None:
    names = ", ".join(skipped[:shown]) + (", ..." if len(skipped) > shown else "")
    entries = "entry" if len(skipped) == 1 else "entries"
    warnings.warn(
        f"Skipping {len(skipped)} {entries} with an image name that are not regular files "
        f"(FIFOs, sockets, devices or broken symlinks; reading them would hang or fail): "
        f"{names}. Remove them or replace them with image files.",
        stacklevel=3,
    )


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparency composited over white."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit grey
        values = np.asarray(image, np.float64)
        if image.mode.startswith("I;16") or values.max() > 255:
            values = values / 257.0  # 0..65535 -> 0..255
        image = Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_center_crop(image: Image.Image, resolution: int) -> np.ndarray:
    """Scale the shorter side to ``resolution`` and keep the centre square.

    Returns uint8 [resolution, resolution, 3]. Cropping is done through
    ``resize(box=...)``, so only the kept square is resampled.
    """
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    if side == resolution and width == height:
        return np.asarray(image)
    square = image.resize(
        (resolution, resolution),
        Image.Resampling.LANCZOS,
        box=(left, top, left + side, top + side),
        reducing_gap=3.0,  # shrink big photos in two steps: fast, same quality
    )
    return np.asarray(square)


def _read(path: str, resolution: int | None):
    """(uint8 RGB array, original (width, height), None) or (None, None, error message)."""
    try:
        with Image.open(path) as image:  # GIF / animated WebP: opens on frame 0
            image.load()
            image = to_rgb(ImageOps.exif_transpose(image))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        return None, None, f"{type(error).__name__}: {error}"
    if resolution is None:
        return np.asarray(image), image.size, None
    return resize_and_center_crop(image, resolution), image.size, None


def read_images(paths: list[str], *, resolution: int | None) -> tuple[list[np.ndarray], list[str]]:
    """Decode ``paths`` (in threads); unreadable files are skipped with a warning.

    With a ``resolution``, images far smaller than it are kept but warned
    about once. Returns the images and the paths that were read.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(lambda path: _read(path, resolution), paths))
    # Warnings are raised here, in the caller's thread, so warning filters apply.
    images, kept, small = [], [], []
    for path, (image, size, error) in zip(paths, results):
        if image is None:
            warnings.warn(f"Skipping unreadable image file {path} ({error})", stacklevel=3)
            continue
        images.append(image)
        kept.append(path)
        if resolution is not None and min(size) * SMALL_IMAGE_FACTOR < resolution:
            small.append((path, size))
    if small:
        _warn_small(small, len(kept), resolution)
    return images, kept


def _warn_small(small: list[tuple[str, tuple[int, int]]], num_images: int, resolution: int) -> None:
    """One warning per load: a folder of thumbnails would otherwise warn per image."""
    path, (width, height) = small[0]
    warnings.warn(
        f"{len(small)} of {num_images} images are far smaller than the training resolution "
        f"{resolution} (shorter side under {resolution / SMALL_IMAGE_FACTOR:g} px; e.g. {path} "
        f"is {width}x{height}), so they are upscaled more than {SMALL_IMAGE_FACTOR}x and only "
        "add blur. They are still used. Use bigger images or a lower --resolution.",
        stacklevel=4,
    )


def _stack_if_same_size(images: list[np.ndarray]):
    if images and len({image.shape for image in images}) == 1:
        return np.stack(images)
    return images


def _no_images_error(source: str, num_files: int) -> InputError:
    skipped = f" ({num_files} image files were unreadable and skipped)" if num_files else ""
    return InputError(
        f"Found 0 readable images in {source!r}{skipped}. Put images "
        f"({', '.join(IMAGE_EXTENSIONS)}) in the folder or its subfolders, or use a "
        f"bundled dataset:\n{builtin.builtin_dataset_help()}"
    )


def load_labelled_folder(folder: str, *, resolution: int | None = None) -> builtin.LabelledImages:
    """A folder of class subfolders: each subfolder name is a class."""
    paths = find_image_files(folder)
    loose = [p for p in paths if os.path.dirname(os.path.relpath(p, folder)) == ""]
    if loose:
        raise InputError(
            f"Labelled loading needs one subfolder per class, but {folder!r} holds "
            f"{len(loose)} images directly (e.g. {loose[0]!r}). Move them into class folders."
        )
    images, kept = read_images(paths, resolution=resolution)
    if not images:
        raise _no_images_error(folder, len(paths))
    classes = [os.path.relpath(p, folder).split(os.sep)[0] for p in kept]
    class_names = sorted(set(classes))
    labels = np.array([class_names.index(c) for c in classes], np.int64)
    return builtin.LabelledImages(_stack_if_same_size(images), labels, class_names)


# --- any source ---------------------------------------------------------------


def _check_resolution(resolution) -> None:
    if not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise InputError(
            f"resolution must be a positive integer. Received: resolution={resolution!r}"
        )


def _images_for_training(source: str, resolution: int) -> tuple[np.ndarray, bool]:
    """uint8 [N, h, w, 3] images and whether they still need resizing to R.

    Folders come back at R already; bundled square sets at their native size.
    """
    if builtin.is_builtin(source):
        images = builtin.load_builtin(source).images
        if isinstance(images, np.ndarray) and images.shape[1] == images.shape[2]:
            return images, len(images) > 0 and images.shape[1] != resolution
        # Mixed or non-square sizes (tfds): resize and crop each one now.
        images = [resize_and_center_crop(Image.fromarray(im), resolution) for im in images]
    else:
        paths = find_image_files(source)
        images, _ = read_images(paths, resolution=resolution)
        if not images:
            raise _no_images_error(source, len(paths))
    if not images:
        return np.zeros((0, resolution, resolution, 3), np.uint8), False
    return np.stack(images), False


def _resize_square(images: tf.Tensor, resolution: int) -> tf.Tensor:
    """uint8 [..., h, h, 3] -> uint8 [..., R, R, 3]; antialiased when shrinking."""
    resized = tf.image.resize(
        tf.cast(images, tf.float32), (resolution, resolution), method="bicubic", antialias=True
    )
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def _resize_all(images: np.ndarray, resolution: int, chunk: int = 512) -> np.ndarray:
    chunks = [images[i : i + chunk] for i in range(0, len(images), chunk)]
    return np.concatenate([_resize_square(part, resolution).numpy() for part in chunks])


def load_images(source: str, *, resolution: int) -> np.ndarray:
    """All images of ``source`` as uint8 [N, R, R, 3] (resized + centre-cropped)."""
    source = os.fspath(source)
    _check_resolution(resolution)
    images, needs_resize = _images_for_training(source, resolution)
    return _resize_all(images, resolution) if needs_resize else images


def load_labelled(source: str, *, resolution: int | None = None) -> builtin.LabelledImages:
    """(images uint8, labels int64 [N], class_names) of a bundled set or class folders.

    With ``resolution=None`` images keep their native size (a list when the
    sizes differ); otherwise they are resized and centre-cropped to R x R.
    """
    source = os.fspath(source)
    if resolution is not None:
        _check_resolution(resolution)
    if not builtin.is_builtin(source):
        return load_labelled_folder(source, resolution=resolution)
    data = builtin.load_builtin(source)
    if resolution is None:
        return data
    images = data.images
    if isinstance(images, np.ndarray) and images.shape[1] == images.shape[2]:
        images = _resize_all(images, resolution) if images.shape[1] != resolution else images
    else:
        images = [resize_and_center_crop(Image.fromarray(im), resolution) for im in images]
        images = np.stack(images)
    return builtin.LabelledImages(images, data.labels, data.class_names)


def load_image_dataset(
    source: str,
    *,
    resolution: int,
    batch_size: int,
    flip: bool = True,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = True,
    cache: bool = True,
) -> ImageDataset:
    """A tf.data pipeline of float32 [batch_size, R, R, 3] batches in [-1, 1].

    Args:
        source: a folder of images (searched recursively) or a bundled dataset
            name such as ``digits``, ``fashion_mnist:ankle_boot:100``,
            ``animals:giraffe``, ``glyphs:greek`` (see ``tfgen.data.builtin``).
        resolution: side R of the square training images.
        batch_size: images per batch; the last partial batch is dropped.
        flip: mirror each image left-right with probability 1/2.
        shuffle: reshuffle the images every epoch.
        seed: makes the order and the flips reproducible.
        repeat: loop forever (for step-based training) instead of one epoch.
        cache: resize bundled native-size sets once up front (when the result
            fits in 2 GiB) instead of on every batch. Folders are always
            decoded once and held in memory.
    """
    source = os.fspath(source)
    _check_resolution(resolution)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
        )
    images, needs_resize = _images_for_training(source, resolution)
    num_images = len(images)
    if num_images == 0:
        raise _no_images_error(source, 0)
    if num_images < batch_size:
        raise InputError(
            f"Found {num_images} images in {source!r}, fewer than batch_size={batch_size}; "
            "batches must be full, so no batch could be made. Add images or lower "
            "the batch size (--batch-size)."
        )
    if needs_resize and cache and num_images * resolution * resolution * 3 <= CACHE_BUDGET_BYTES:
        images, needs_resize = _resize_all(images, resolution), False

    table = tf.constant(images)  # [N, h, w, 3] uint8, held once

    def batches_from(start):
        """The pipeline from batch ``start`` on: the batches skipped as indices
        only (cheap), so a resumed run does not decode what it trained on."""
        indices = _index_stream(num_images, shuffle=shuffle, seed=seed, repeat=repeat)
        dataset = indices.batch(batch_size, drop_remainder=True).skip(start)
        dataset = dataset.map(lambda batch: tf.gather(table, batch), num_parallel_calls=tf.data.AUTOTUNE)
        if needs_resize:
            dataset = dataset.map(
                lambda batch: _resize_square(batch, resolution), num_parallel_calls=tf.data.AUTOTUNE
            )
        dataset = dataset.enumerate(start=start).map(
            lambda step, batch: _to_float_and_flip(batch, step, seed=seed, flip=flip),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        return dataset.prefetch(tf.data.AUTOTUNE)

    dataset = batches_from(0)
    return ImageDataset(dataset, num_images, source, resolution, batch_size, batches_from)


def _index_stream(num_images: int, *, shuffle: bool, seed: int, repeat: bool) -> tf.data.Dataset:
    """Image indices, epoch after epoch; shuffled: a fresh permutation each epoch.

    Epoch e is permuted by a stateless shuffle seeded with (seed, e): uniform,
    reproducible, and independent of TF's global seed. (Dataset.shuffle is
    far from uniform on small datasets: with 6 images and seed 3 it returns
    them in order.)
    """
    epochs = tf.data.Dataset.counter() if repeat else tf.data.Dataset.range(1)
    if not shuffle:
        return epochs.flat_map(lambda epoch: tf.data.Dataset.range(num_images))

    def permutation(epoch):
        indices = tf.range(num_images, dtype=tf.int64)
        order = tf.random.experimental.stateless_shuffle(
            # Negative counters keep these seeds apart from the flips' (seed, step).
            indices, seed=tf.stack([tf.constant(seed, tf.int64), -1 - epoch])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    return epochs.flat_map(permutation)


def _to_float_and_flip(batch: tf.Tensor, step: tf.Tensor, *, seed: int, flip: bool) -> tf.Tensor:
    """uint8 [B, R, R, 3] -> float32 in [-1, 1], randomly mirrored.

    The flips are stateless, drawn from (seed, batch number), so a pipeline
    rebuilt with the same seed flips the same images.
    """
    images = tf.cast(batch, tf.float32) / 127.5 - 1.0
    if not flip:
        return images
    draw = tf.random.stateless_uniform(
        tf.shape(images)[:1], seed=tf.stack([tf.constant(seed, tf.int64), step])
    )
    return tf.where(draw[:, None, None, None] < 0.5, tf.reverse(images, axis=[2]), images)
