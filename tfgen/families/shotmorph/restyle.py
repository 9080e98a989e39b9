"""An image's style as six moments, and moving an image to other moments.

Shot morphing draws the *shape* of a new class from its shots; how its
images vary in position, size, slant and ink level is much the same in every
class of a domain (a font's weight, a garment's shade, a writer's slant), so
it is learnt from the training classes instead of inherited from the few
shots. The style of an image is measured on its ink, ``|grey - background|``
(the background is the median of the border, so dark-on-light and
light-on-dark images alike):

* ``cy, cx`` -- the ink's centroid (pixels);
* ``log sy, log sx, corr`` -- its spread along each axis and their
  correlation (size, aspect and slant: the ink's second moments);
* ``log level`` -- its mean ink level (ink-weighted; how dark or bright it is).

:func:`move_moments` maps an image onto target moments with the affine map
(scales and a horizontal shear, as slant varies) that carries its centroid
and second moments onto the target's, and scales its ink; :class:`StylePrior` holds what the training classes teach: how far
an image's moments stray from its class's mean, and how far a class's mean
strays from the domain's (to shrink the mean of a few shots toward the
domain's, by as much as the shots are noisier than the spread of classes:
an empirical-Bayes estimate). The moments use ``keras.ops`` (the generator
calls them); the prior is NumPy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

from tfgen.augment import flow_warp
from tfgen.errors import InputError

CY, CX, LOG_SY, LOG_SX, CORR, LOG_LEVEL = range(6)
NUM_MOMENTS = 6
POSE = (CY, CX, LOG_SY, LOG_SX, CORR)  # the moments an affine map moves
MAX_CORR = 0.95  # a target's correlation is kept inside (-MAX_CORR, MAX_CORR)
_EPS = 1e-6


def _background(images):
    """The background colour [B, C] of images [B, H, W, C]: the median of the border."""
    images = ops.cast(images, "float32")
    border = ops.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)
    return ops.median(border, axis=1)


def _ink(images):
    """The ink [B, H, W] of images [B, H, W, C] in [-1, 1]: how far the grey
    level is from the background's."""
    grey = ops.mean(ops.cast(images, "float32"), axis=-1)
    background = ops.mean(_background(images), axis=-1)
    return ops.abs(grey - background[:, None, None]) + _EPS


def moments(images):
    """The six style moments [B, 6] of images [B, H, W, C] in [-1, 1]."""
    ink = _ink(images)
    height, width = ink.shape[1], ink.shape[2]
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]
    mass = ops.sum(ink, axis=(1, 2))

    def mean_of(values):
        return ops.sum(ink * values, axis=(1, 2)) / mass

    cy, cx = mean_of(rows), mean_of(cols)
    dy, dx = rows - cy[:, None, None], cols - cx[:, None, None]
    vyy, vxx, vxy = mean_of(dy * dy), mean_of(dx * dx), mean_of(dx * dy)
    corr = vxy / ops.sqrt(vyy * vxx + _EPS)
    level = mean_of(ink)
    return ops.stack([cy, cx, 0.5 * ops.log(vyy + _EPS), 0.5 * ops.log(vxx + _EPS), corr, ops.log(level)], axis=1)


def _cholesky(style):
    """(l11, l21, l22): the lower Cholesky factor [[l11, 0], [l21, l22]] of the
    2x2 (y, x) covariance a style [B, 6] describes."""
    sy, sx = ops.exp(style[:, LOG_SY]), ops.exp(style[:, LOG_SX])
    corr = ops.clip(style[:, CORR], -MAX_CORR, MAX_CORR)
    return sy, corr * sx, sx * ops.sqrt(1.0 - corr * corr)


def move_moments(images, targets, current=None):
    """``images`` [B, H, W, C] in [-1, 1] moved to the style ``targets`` [B, 6].

    The ink is carried by the affine map L_target L_now^-1 about the
    centroids (L: the lower Cholesky factors of the second moments), which
    takes the image's centroid and second moments onto the target's with a
    vertical scale, a horizontal scale and a horizontal shear only: the way
    slant varies in handwriting and italics, with no rotation. The ink is
    then scaled about the background colour by exp(target log level - current).
    ``current`` is ``moments(images)`` when already known."""
    current = moments(images) if current is None else current
    targets = ops.cast(targets, "float32")
    background = _background(images)[:, None, None, :]
    height, width = images.shape[1], images.shape[2]
    # Output pixel p shows source point c_now + L_now L_target^-1 (p - c_target).
    n11, n21, n22 = _cholesky(current)
    t11, t21, t22 = _cholesky(targets)
    m11 = n11 / t11
    m21 = n21 / t11 - n22 * t21 / (t11 * t22)
    m22 = n22 / t22
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]
    dy = rows - targets[:, CY, None, None]
    dx = cols - targets[:, CX, None, None]
    source_y = current[:, CY, None, None] + m11[:, None, None] * dy
    source_x = current[:, CX, None, None] + m21[:, None, None] * dy + m22[:, None, None] * dx
    flow = ops.stack([ops.broadcast_to(source_y - rows, ops.shape(source_x)), source_x - cols], axis=-1)
    moved = flow_warp(ops.cast(images, "float32"), flow)
    gain = ops.exp(targets[:, LOG_LEVEL] - current[:, LOG_LEVEL])[:, None, None, None]
    return ops.clip(background + gain * (moved - background), -1.0, 1.0)


def moments_of_uint8(images, batch_size=500) -> np.ndarray:
    """NumPy moments [N, 6] of uint8 images [N, H, W, C]."""
    images = np.asarray(images)
    parts = [ops.convert_to_numpy(moments(images[i : i + batch_size].astype(np.float32) / 127.5 - 1.0))
             for i in range(0, len(images), batch_size)]  # fmt: skip
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, NUM_MOMENTS), np.float32)


@dataclasses.dataclass(frozen=True)
class StylePrior:
    """What the training classes teach about style moments.

    ``deviations`` [M, 6]: how far images stray from their class's mean;
    ``domain_mean`` [6]: the mean of the classes' means; ``shot_weight`` [6]:
    how much of k shots' mean to trust per moment, tau^2 / (tau^2 + sigma^2 / k)
    with tau^2 the variance of the classes' means and sigma^2 that of the
    deviations (moments that every class shares, such as a centred position,
    come from the domain; moments that tell classes apart from the shots)."""

    deviations: np.ndarray
    domain_mean: np.ndarray
    shot_weight: np.ndarray

    @classmethod
    def fit(cls, styles, labels, *, shots=4, max_deviations=1024, seed=0) -> "StylePrior":
        """The prior of ``styles`` [N, 6] (``moments_of_uint8``) of images
        with class ``labels`` [N]; classes with one image teach no deviation."""
        styles, labels = np.asarray(styles, np.float64), np.asarray(labels)
        classes = [label for label in np.unique(labels) if np.sum(labels == label) >= 2]
        if not classes:
            raise InputError("A style prior needs a class with at least 2 images.")
        means = np.stack([styles[labels == label].mean(0) for label in classes])
        members = np.isin(labels, classes)
        deviations = styles[members] - means[np.searchsorted(classes, labels[members])]
        within = deviations.var(0)
        between = means.var(0) if len(classes) > 1 else np.zeros(NUM_MOMENTS)
        weight = between / (between + within / shots + _EPS)
        rng = np.random.default_rng([int(seed), 0x57E1])
        keep = rng.permutation(len(deviations))[:max_deviations]
        return cls(deviations[keep].astype(np.float32), means.mean(0).astype(np.float32), weight.astype(np.float32))

    def save(self, path) -> None:
        """Write the prior to ``path`` (.npz) atomically."""
        import os

        partial = f"{path}.partial.npz"
        np.savez(partial, **dataclasses.asdict(self))
        os.replace(partial, path)

    @classmethod
    def load(cls, path) -> "StylePrior":
        with np.load(path) as stored:
            return cls(**{field.name: stored[field.name] for field in dataclasses.fields(cls)})

    def class_mean(self, shot_styles) -> np.ndarray:
        """The estimated mean style [6] of a class from its shots' styles [k, 6]."""
        shot_mean = np.asarray(shot_styles, np.float64).mean(0)
        return (self.shot_weight * shot_mean + (1.0 - self.shot_weight) * self.domain_mean).astype(np.float32)


__all__ = ["NUM_MOMENTS", "POSE", "StylePrior", "moments", "moments_of_uint8", "move_moments"]
