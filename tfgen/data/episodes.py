"""Class-structured data for few-shot generation: splits, tasks and shots.

Meta-learning (FIGR's Reptile) and the transfer baselines train on some
classes and are then shown ``n`` images ("shots") of a class they never saw:

    data = load_few_shot_data("digits", resolution=32, channels=1)  # 0..8 / 9
    tasks = task_dataset(data.train, shots=4)        # [4, 32, 32, 1] = one class
    shots = load_shots("digits:9", shots=4, resolution=32, channels=1)
    extra = augment_shots(shots, count=300)          # shots + 296 augmentations

Default splits (``DEFAULT_SPLITS``), used when neither ``train_classes`` nor
``test_classes`` is given:

* ``digits``: meta-train on 0..8, hold out 9.
* ``fashion_mnist``: meta-train on the other nine classes, hold out ankle_boot.
* ``animals``: train on the other nine animals, hold out horse (a class
  that varies in pose, with near relatives among the training classes).
* ``glyphs``: hold out the last fifth (rounded up) of every script's
  characters in code-point order, e.g. the Latin ``pqrstuvwxyz``. Every
  script keeps most of its letters for meta-training, so the held-out
  characters are unseen characters of seen alphabets, as in FIGR's Omniglot
  runs; and a character is held out or not whatever the selection
  (``glyphs``, ``glyphs:greek``, ...), so a model trained on one selection is
  never tested on characters it saw.

Randomness is stateless (seeded by ``seed`` and the step number) or drawn
from ``numpy.random.default_rng(seed)``: the same seed gives the same tasks,
shots and augmentations, independent of global seeds.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from tfgen.checks import check_channels
from tfgen.data import builtin, glyphs
from tfgen.data.builtin import LabelledImages
from tfgen.data.images import _index_stream, load_images, load_labelled
from tfgen.errors import InputError

# ITU-R BT.601 luma weights (what PIL's convert("L") uses).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
GLYPHS_HELD_OUT_FRACTION = 0.2


class ClassSplit(NamedTuple):
    """Class names for meta-training (``train``) and for the few-shot test (``test``)."""

    train: tuple[str, ...]
    test: tuple[str, ...]


class FewShotData(NamedTuple):
    train: LabelledImages  # uint8 [N, R, R, C]; labels index split.train
    test: LabelledImages  # uint8 [M, R, R, C]; labels index split.test
    split: ClassSplit


@dataclasses.dataclass(frozen=True)
class TaskDataset:
    """A pipeline in the shape tfgen's Trainer wants from ``build_dataset()``."""

    dataset: tf.data.Dataset
    num_images: int
    batch_size: int
    steps_per_epoch: int = 1


def _glyphs_default_split(class_names: Sequence[str]) -> ClassSplit:
    """Hold out each script's last fifth of characters (see the module doc)."""
    test = []
    for name in class_names:
        script, _, char = name.partition("/")
        characters = glyphs.script_characters(script)
        held_out = math.ceil(GLYPHS_HELD_OUT_FRACTION * len(characters))
        if char in characters[len(characters) - held_out :]:
            test.append(name)
    return ClassSplit(tuple(n for n in class_names if n not in test), tuple(test))


# Dataset name -> its default split: fixed names, or a rule applied to the
# loaded class names for sets whose classes depend on the selection.
DEFAULT_SPLITS: dict[str, ClassSplit | Callable[[Sequence[str]], ClassSplit]] = {
    "digits": ClassSplit(tuple(str(d) for d in range(9)), ("9",)),
    "fashion_mnist": ClassSplit(
        tuple(c for c in builtin.FASHION_MNIST_CLASSES if c != "ankle_boot"), ("ankle_boot",)
    ),
    "animals": ClassSplit(tuple(c for c in builtin.ANIMALS_CLASSES if c != "horse"), ("horse",)),
    "glyphs": _glyphs_default_split,
}


# --- class splits -------------------------------------------------------------


def _dataset_name(source: str) -> str | None:
    """The bundled dataset's name (``digits`` for ``digits:0,1``); None for folders."""
    source = os.fspath(source)
    if not builtin.is_builtin(source):
        return None
    return source.split(":")[0].split("@")[0]


def default_split(source: str, class_names: Sequence[str]) -> ClassSplit | None:
    """The default split of ``source`` restricted to ``class_names``; None without one."""
    rule = DEFAULT_SPLITS.get(_dataset_name(source) or "")
    if rule is None:
        return None
    split = rule(list(class_names)) if callable(rule) else rule
    return ClassSplit(
        tuple(n for n in class_names if n in split.train),
        tuple(n for n in class_names if n in split.test),
    )


def _normalise(name: str) -> str:
    # The spellings builtin._class_index accepts: any case, '-' or ' ' for '_'.
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def _list_classes(class_names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(class_names[:limit])
    more = len(class_names) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


def find_class(token: str, class_names: Sequence[str], what: str, value, source) -> str:
    """The class of ``class_names`` that ``token`` names: exactly, ignoring
    case and separators, or (glyphs) by the character alone. A ValueError
    names the flag (``what``, ``value``) and lists the classes otherwise."""
    token = token.strip()
    if token in class_names:
        return token
    candidates = [n for n in class_names if _normalise(n) == _normalise(token)]
    if not candidates and "/" not in token:  # glyphs: "ω" for "greek/ω"
        candidates = [n for n in class_names if n.partition("/")[2] == token]
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        raise InputError(
            f"The class {token!r} in {what} is ambiguous in {source!r}: it matches "
            f"{', '.join(candidates)}. Write the full name. Received: {what}={value!r}"
        )
    if token.isdigit() and int(token) < len(class_names):
        return class_names[int(token)]
    raise InputError(
        f"Unknown class {token!r} in {what} for {source!r}. Classes: "
        f"{_list_classes(class_names)} (or their indices 0..{len(class_names) - 1}). "
        f"Received: {what}={value!r}"
    )


def _parse_classes(value, class_names, what, source) -> list[str]:
    """Comma-joined names/indices (or a sequence of them) -> class names."""
    if value is None:
        return []
    tokens = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    found = [find_class(t, class_names, what, value, source) for t in tokens if t.strip()]
    return list(dict.fromkeys(found))


def resolve_class_split(
    source: str, class_names: Sequence[str], *, train_classes="", test_classes=""
) -> ClassSplit:
    """Which of ``class_names`` are meta-trained on and which are held out.

    Args:
        source: the dataset source (picks the default split: see
            ``DEFAULT_SPLITS``; folders have none).
        class_names: the classes that were loaded (e.g. from ``load_labelled``).
        train_classes, test_classes: comma-joined class names or indices
            (any case, ``-`` or space for ``_``; ``ω`` for ``greek/ω``). Both
            empty: the default split. Only one given: the other side is every
            remaining class.

    Returns:
        A ``ClassSplit``; each side in the order of ``class_names``.
    """
    class_names = list(class_names)
    train = _parse_classes(train_classes, class_names, "train_classes", source)
    test = _parse_classes(test_classes, class_names, "test_classes", source)
    if not train and not test:
        split = default_split(source, class_names)
        if split is None:
            raise InputError(
                f"{source!r} has no default class split. Pass the held-out classes with "
                f"--test-classes (test_classes=...; the rest are meta-trained on) and "
                f"optionally --train-classes. Classes: {_list_classes(class_names)}."
            )
        if not split.train or not split.test:
            side = "meta-training" if not split.train else "held-out (test)"
            raise InputError(
                f"The default split of {_dataset_name(source)} leaves no {side} class among "
                f"the classes loaded from {source!r} ({_list_classes(class_names)}). Pass "
                "--test-classes (and optionally --train-classes), or load more classes."
            )
        return split
    if not train:
        train = [n for n in class_names if n not in test]
    elif not test:
        test = [n for n in class_names if n not in train]
    overlap = [n for n in train if n in test]
    if overlap:
        raise InputError(
            f"The classes {', '.join(overlap)} are both meta-trained on and held out; a "
            f"class must be on one side only. Received: train_classes={train_classes!r}, "
            f"test_classes={test_classes!r}"
        )
    for side, names, flag in (("meta-training", train, "train"), ("held-out", test, "test")):
        if not names:
            raise InputError(
                f"No {side} class is left in {source!r}: the other side takes every class "
                f"({_list_classes(class_names)}). Pass --{flag}-classes or leave some classes "
                f"out. Received: train_classes={train_classes!r}, test_classes={test_classes!r}"
            )
    order = {n: i for i, n in enumerate(class_names)}
    return ClassSplit(tuple(sorted(train, key=order.get)), tuple(sorted(test, key=order.get)))


# --- loading ------------------------------------------------------------------


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 [..., C] images with ``channels`` channels: RGB -> grey by ITU-R
    601 luma (rounded), grey -> RGB by repetition, unchanged when C matches."""
    check_channels(channels)
    images = np.asarray(images)
    have = images.shape[-1] if images.ndim else None
    if have not in (1, 3):
        raise InputError(
            "to_channels expects images with 1 or 3 channels in the last axis. "
            f"Received: images.shape={images.shape}"
        )
    if have == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = images.astype(np.float64) @ np.asarray(LUMA_WEIGHTS)
    return np.clip(np.round(luma), 0, 255).astype(np.uint8)[..., None]


def _select(data: LabelledImages, names: Sequence[str]) -> LabelledImages:
    """The images of ``names``, labels re-indexed to positions in ``names``."""
    ids = np.array([data.class_names.index(n) for n in names], np.int64)
    keep = np.isin(data.labels, ids)
    remap = np.full(len(data.class_names), -1, np.int64)
    remap[ids] = np.arange(len(ids))
    return LabelledImages(data.images[keep], remap[data.labels[keep]], list(names))


def load_few_shot_data(
    source: str, *, resolution: int, channels: int, train_classes="", test_classes=""
) -> FewShotData:
    """Labelled images of ``source`` split into meta-train and held-out classes.

    ``source`` is a bundled dataset (``digits``, ``fashion_mnist``,
    ``glyphs:greek``, ...; a class selection in it is respected) or a folder
    with one subfolder per class. Images come back uint8 [N, R, R, channels].
    Classes named on neither side (when both are given) are dropped.
    """
    check_channels(channels)
    data = load_labelled(source, resolution=resolution)
    split = resolve_class_split(
        source, data.class_names, train_classes=train_classes, test_classes=test_classes
    )
    data = LabelledImages(to_channels(data.images, channels), data.labels, list(data.class_names))
    return FewShotData(_select(data, split.train), _select(data, split.test), split)


def load_few_shot_data_for(source: str, config) -> FewShotData:
    """:func:`load_few_shot_data` with a model config's ``resolution``,
    ``channels``, ``train_classes`` and ``test_classes`` (what every
    few-shot trainer reads)."""
    return load_few_shot_data(
        source,
        resolution=config.resolution,
        channels=config.channels,
        train_classes=config.train_classes,
        test_classes=config.test_classes,
    )


def load_shots(
    spec: str, *, shots: int, resolution: int, channels: int, seed: int = 0
) -> np.ndarray:
    """``shots`` images of a new class as uint8 [shots, R, R, channels].

    ``spec`` is a folder of images (all of them when it holds exactly
    ``shots``) or a bundled class such as ``digits:9`` or
    ``fashion_mnist:ankle_boot``; when there are more images, ``shots`` of
    them are chosen with ``seed`` (kept in their original order).
    """
    check_channels(channels)
    if not isinstance(shots, (int, np.integer)) or shots < 1:
        raise InputError(f"shots must be a positive integer. Received: shots={shots!r}")
    images = load_images(spec, resolution=resolution)
    if len(images) < shots:
        raise InputError(
            f"Found {len(images)} images in {spec!r}, need --num-shots {shots}. Add images, "
            f"or lower --num-shots to {len(images)} or fewer."
        )
    if len(images) > shots:
        chosen = np.sort(np.random.default_rng(seed).choice(len(images), shots, replace=False))
        images = images[chosen]
    return to_channels(images, channels)


def subset_per_class(data: LabelledImages, per_class: int, *, seed=0) -> LabelledImages:
    """``per_class`` images of every class of ``data``, drawn without replacement.

    The few-shot sets of L2L-GAN's Algorithm 1 (X_s^t on the source classes,
    X_n on the novel ones). Images keep their original order; ``seed`` may be
    an int or a sequence of ints (``(seed, epoch)``). A class with fewer
    images is a ValueError naming it.
    """
    check_positive(per_class=per_class)
    labels = np.asarray(data.labels)
    counts = np.bincount(labels, minlength=len(data.class_names))
    short = [f"{n} ({c})" for n, c in zip(data.class_names, counts) if c < per_class]
    if short:
        raise InputError(
            f"Every class needs {per_class} images for a {per_class}-per-class subset; these have "
            f"fewer: {_list_classes(short, 10)}. Lower samples_per_class or drop those classes."
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.concatenate([
        rng.choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(len(data.class_names))
    ]))  # fmt: skip
    return LabelledImages(np.asarray(data.images)[chosen], labels[chosen], list(data.class_names))


# --- augmentation -------------------------------------------------------------


def augment_shots(
    shots: np.ndarray,
    *,
    count: int = 300,
    seed: int = 0,
    flip: bool = False,
    max_translation: float = 0.1,
    max_rotation_degrees: float = 10.0,
    max_zoom: float = 0.1,
    max_brightness: float = 0.1,
    max_contrast: float = 0.1,
) -> np.ndarray:
    """The shots plus random augmentations of them: float32 [count, R, R, C] in [-1, 1].

    Row i < n is shot i unchanged; row i >= n augments shot i mod n with a
    random shift, rotation and zoom (``tfgen.augment.classic_augment``; no
    mirroring by default: characters must not flip) and a brightness offset
    U(-b, b) and contrast factor U(1 - c, 1 + c) per image. Same seed, same rows.
    """
    from tfgen.augment import classic_augment  # keras; imported when needed

    shots = np.asarray(shots)
    if shots.ndim != 4 or shots.dtype != np.uint8 or len(shots) == 0:
        raise InputError(
            "augment_shots expects uint8 images [n >= 1, R, R, C]. "
            f"Received: shape={shots.shape}, dtype={shots.dtype}"
        )
    if count < len(shots):
        raise InputError(
            f"count must be at least the number of shots ({len(shots)}), which come first. "
            f"Received: count={count}"
        )
    images = shots.astype(np.float32) / 127.5 - 1.0
    extra = count - len(shots)
    if extra == 0:
        return images
    sources = images[np.arange(extra) % len(shots)]
    moved = classic_augment(
        sources,
        flip=flip,
        max_translation=max_translation,
        max_rotation_degrees=max_rotation_degrees,
        max_zoom=max_zoom,
        seed=int(seed),
    )
    moved = np.asarray(moved, np.float32)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xC0105])
    brightness = rng.uniform(-max_brightness, max_brightness, (extra, 1, 1, 1))
    contrast = rng.uniform(1.0 - max_contrast, 1.0 + max_contrast, (extra, 1, 1, 1))
    mean = moved.mean(axis=(1, 2, 3), keepdims=True)
    jittered = (moved - mean) * contrast + mean + brightness
    return np.concatenate([images, np.clip(jittered, -1.0, 1.0).astype(np.float32)])


# --- pipelines ----------------------------------------------------------------


def check_positive(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} must be a positive integer. Received: {name}={value!r}")


def _to_float(batch: tf.Tensor) -> tf.Tensor:
    return tf.cast(batch, tf.float32) / 127.5 - 1.0


def task_dataset(
    train: LabelledImages, *, shots: int, tasks_per_batch: int = 1, seed: int = 0, labels: bool = False
) -> TaskDataset:
    """Endless few-shot tasks: float32 [tasks_per_batch * shots, R, R, C] in [-1, 1].

    Rows ``[t * shots, (t + 1) * shots)`` are task t: a class drawn uniformly
    among the classes with at least ``shots`` images, then ``shots`` distinct
    images of it, uniformly. Batch s is drawn from (seed, s) alone.
    With ``labels``, each batch is ``(images, int32 [tasks_per_batch * shots])``:
    every image's class (an index into ``train.class_names``), for methods
    with a class head (LoFGAN); one leading axis, so ``tf.distribute`` splits
    a batch into whole tasks.
    """
    check_positive(shots=shots, tasks_per_batch=tasks_per_batch)
    image_labels = np.asarray(train.labels)
    counts = np.bincount(image_labels, minlength=len(train.class_names))
    eligible = np.flatnonzero(counts >= shots)
    if len(eligible) == 0:
        have = ", ".join(f"{n}: {c}" for n, c in zip(train.class_names, counts))
        raise InputError(
            f"No meta-training class has the {shots} images a task needs (shots={shots}). "
            f"Images per class: {have or 'no classes'}. Lower the shots or add images."
        )
    # members[k, :counts[k]] = the image indices of eligible class k (padded).
    width = int(counts[eligible].max())
    members = np.zeros((len(eligible), width), np.int64)
    for row, k in enumerate(eligible):
        members[row, : counts[k]] = np.flatnonzero(image_labels == k)
    members = tf.constant(members)
    sizes = tf.constant(counts[eligible], tf.int64)
    class_ids = tf.constant(eligible.astype(np.int32))
    table = tf.constant(np.asarray(train.images))  # uint8 [N, R, R, C]

    def draw(step):
        base = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, 0x7A5C], tf.int64), step
        )
        pick_seed = tf.random.experimental.stateless_fold_in(base, 0)
        order_seed = tf.random.experimental.stateless_fold_in(base, 1)
        classes = tf.random.stateless_uniform(
            [tasks_per_batch], pick_seed, minval=0, maxval=len(eligible), dtype=tf.int64
        )
        # `shots` distinct members: the smallest of i.i.d. keys, padding excluded.
        keys = tf.random.stateless_uniform([tasks_per_batch, width], order_seed)
        valid = tf.range(width, dtype=tf.int64)[None, :] < tf.gather(sizes, classes)[:, None]
        keys = tf.where(valid, keys, 2.0)
        _, slots = tf.math.top_k(-keys, k=shots)  # [T, shots]
        indices = tf.gather(tf.gather(members, classes), slots, batch_dims=1)
        images = _to_float(tf.gather(table, tf.reshape(indices, [-1])))
        if labels:
            return images, tf.repeat(tf.gather(class_ids, classes), shots)
        return images

    dataset = tf.data.Dataset.counter().map(draw, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TaskDataset(dataset, len(image_labels), tasks_per_batch * shots, 1)


def labelled_batches(data: LabelledImages, *, batch_size: int, seed: int = 0) -> TaskDataset:
    """Endless ``(images float32 [B, R, R, C] in [-1, 1], labels int32 [B])``.

    A fresh permutation each epoch; batches run across epoch ends, so every
    batch is full even when there are fewer than ``batch_size`` images.
    """
    check_positive(batch_size=batch_size)
    num_images = len(data.labels)
    if num_images == 0:
        raise InputError("labelled_batches got no images.")
    images = tf.constant(np.asarray(data.images))
    labels = tf.constant(np.asarray(data.labels, np.int32))
    dataset = _index_stream(num_images, shuffle=True, seed=seed, repeat=True)
    dataset = dataset.batch(batch_size, drop_remainder=True).map(
        lambda idx: (_to_float(tf.gather(images, idx)), tf.gather(labels, idx)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TaskDataset(dataset, num_images, batch_size, -(-num_images // batch_size))


def weighted_labelled_batches(images, labels, weights, *, batch_size: int, seed: int = 0) -> TaskDataset:
    """Endless ``(images float32 [B, R, R, C], labels int32 [B])`` batches whose
    rows are drawn with replacement, row i with probability ``weights[i]``
    (normalised). Batch t depends only on ``(seed, t)``."""
    check_positive(batch_size=batch_size)
    images = np.asarray(images, np.float32)
    weights = np.asarray(weights, np.float64)
    if (len(images) == 0 or len(labels) != len(images) or weights.shape != (len(images),)
            or not np.all(np.isfinite(weights)) or weights.min() < 0 or weights.sum() <= 0):  # fmt: skip
        raise InputError(
            "weighted_labelled_batches needs as many labels and finite non-negative weights (not all 0) as images. "
            f"Received: {len(images)} images, {len(labels)} labels, weights.shape={weights.shape}"
        )
    table, label_table = tf.constant(images), tf.constant(np.asarray(labels, np.int32))
    log_weights = tf.constant(np.log(np.maximum(weights / weights.sum(), 1e-30))[None], tf.float32)

    def draw(step):
        idx = tf.random.stateless_categorical(log_weights, batch_size, seed=tf.stack([tf.cast(seed, tf.int64), step]))
        idx = tf.reshape(idx, (-1,))
        return tf.gather(table, idx), tf.gather(label_table, idx)

    dataset = tf.data.Dataset.counter().map(draw, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return TaskDataset(dataset, len(images), batch_size, -(-len(images) // batch_size))


def shot_dataset(images: np.ndarray, *, batch_size: int, seed: int = 0) -> TaskDataset:
    """Endless shuffled batches of float images [B, R, R, C] (e.g. augmented shots).

    With n images and batch_size n, every batch holds all n (in a new order).
    """
    check_positive(batch_size=batch_size)
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or len(images) == 0:
        raise InputError(
            f"shot_dataset expects images [n >= 1, R, R, C]. Received: shape={images.shape}"
        )
    table = tf.constant(images)
    dataset = _index_stream(len(images), shuffle=True, seed=seed, repeat=True)
    dataset = dataset.batch(batch_size, drop_remainder=True).map(
        lambda idx: tf.gather(table, idx), num_parallel_calls=tf.data.AUTOTUNE
    )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return TaskDataset(dataset, len(images), batch_size, -(-len(images) // batch_size))
