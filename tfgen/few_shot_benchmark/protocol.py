"""The few-shot benchmark's protocol: which classes are held out together,
and what one episode (a held-out class, k shots drawn with a seed) shows a
method and measures it against.

Pure NumPy: the images come in as uint8 arrays, nothing here trains.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgen.errors import InputError

# Each half of a class's real images (the "real" row and the reference) needs
# at least this many images for a Fréchet distance that means anything.
MIN_HALF = 10


@dataclasses.dataclass(frozen=True)
class Episode:
    """One draw of shots of a held-out class and the real images measured against.

    ``real`` (the real-images row, the ceiling) and ``reference`` (what every
    row is compared with) are disjoint halves of the class's images that are
    not shots; a method is asked for ``len(real)`` images, so that every row's
    Fréchet distance has the same sample sizes.
    """

    class_name: str
    seed: int
    shots: np.ndarray  # uint8 [k, R, R, C]
    real: np.ndarray  # uint8 [n, R, R, C]
    reference: np.ndarray  # uint8 [m, R, R, C]

    @property
    def num_images(self) -> int:
        return len(self.real)


def spread_classes(class_names, count: int) -> list[str]:
    """``count`` classes spread evenly over ``class_names`` (first and last
    included), so that held-out classes are not neighbours such as all the
    shoes of Fashion-MNIST."""
    if not isinstance(count, (int, np.integer)) or count < 1:
        raise InputError(f"The number of held-out classes must be a positive integer. Received: {count!r}")
    if count >= len(class_names):
        raise InputError(
            f"Holding out {count} classes leaves no class to train the base on: the data has "
            f"{len(class_names)} classes ({', '.join(map(str, class_names[:12]))}"
            f"{', ...' if len(class_names) > 12 else ''}). Hold out fewer (--num-classes) or name them (--classes)."
        )
    positions = np.round(np.linspace(0, len(class_names) - 1, count)).astype(int)
    return [class_names[i] for i in positions]


def group_classes(classes, per_base: int) -> list[tuple[str, ...]]:
    """The held-out classes in groups of ``per_base``: one base is trained
    without each group (the last group may be smaller)."""
    if not isinstance(per_base, (int, np.integer)) or per_base < 1:
        raise InputError(f"Classes held out per base must be a positive integer. Received: {per_base!r}")
    classes = list(classes)
    return [tuple(classes[i : i + per_base]) for i in range(0, len(classes), per_base)]


def check_class_sizes(labels, class_names, classes, *, shots: int) -> None:
    """A ValueError naming every held-out class with too few images for
    ``shots`` shots and two halves of at least MIN_HALF real images."""
    counts = np.bincount(np.asarray(labels), minlength=len(class_names))
    need = shots + 2 * MIN_HALF
    short = [f"{c} ({counts[class_names.index(c)]} images)" for c in classes if counts[class_names.index(c)] < need]
    if short:
        raise InputError(
            f"Every held-out class needs at least {need} images ({shots} shots plus two halves of "
            f"{MIN_HALF} real images to measure against), but these have fewer: {', '.join(short)}. "
            "Hold out classes with more images (--classes), lower --shots, or add images."
        )


def draw_episode(class_images, class_name: str, *, shots: int, seed: int, num_images: int) -> Episode:
    """Shots drawn with ``seed`` from ``class_images`` and the rest halved
    into the real row (at most ``num_images``) and the reference."""
    class_images = np.asarray(class_images)
    rng = np.random.default_rng([int(seed), 0x5407])
    order = rng.permutation(len(class_images))
    shot_images = class_images[np.sort(order[:shots])]
    rest = class_images[order[shots:]]
    count = min(int(num_images), len(rest) // 2)
    if count < MIN_HALF:
        raise InputError(
            f"Class {class_name!r} leaves {len(rest)} images besides its {shots} shots; at least "
            f"{2 * MIN_HALF} are needed to measure against. Hold out a larger class."
        )
    return Episode(class_name, int(seed), shot_images, rest[:count], rest[count:])
