"""Image augmentation for GAN training.

`diff_augment` is DiffAugment (Zhao et al., "Differentiable Augmentation for
Data-Efficient GAN Training", NeurIPS 2020) with the semantics of the official
code (mit-han-lab/data-efficient-gans, DiffAugment_tf.py / DiffAugment_pytorch.py):
the same random ranges, integer translations with zero fill and the same
cutout placement. It is differentiable with respect to the images, so it can be
applied to generated images inside the generator's loss.

`classic_augment` is a plain (not meant to be differentiated) flip / shift /
rotation / zoom for enlarging the few shots of a few-shot task.

Both use only `keras.ops` / `keras.random`, so they run under the JAX backend
and inside `tf.function` (static or dynamic batch size; height and width must
be static). Images are NHWC, in [-1, 1]; the output keeps the input dtype.

`seed`: None (the global generator), an int (the same augmentation on every
call) or a `keras.random.SeedGenerator` (new draws on every call; what a
training loop wants).
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from tfgen.checks import DIFF_AUGMENT_POLICIES, parse_diff_augment_policy
from tfgen.errors import InputError


# ---------------------------------------------------------------------------
# Seeds
# ---------------------------------------------------------------------------


def _derive_seed(seed, salt):
    """A seed for the `salt`-th random draw of one call.

    With an int seed every draw needs its own seed, or brightness and
    saturation would reuse the same uniform numbers; SeedGenerators and None
    already advance on every draw.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        return seed
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(salt)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def _static_hw(images, what):
    if len(images.shape) != 4:
        raise InputError(
            f"{what} expects NHWC images of rank 4. Received: images.shape={tuple(images.shape)}"
        )
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise InputError(
            f"{what} needs a static height and width. Received: images.shape={tuple(images.shape)}"
        )
    return int(height), int(width)


def _per_sample_shape(images):
    return (ops.shape(images)[0], 1, 1, 1)


# ---------------------------------------------------------------------------
# DiffAugment policies
# ---------------------------------------------------------------------------


def random_brightness(images, seed=None):
    """Adds one offset U(-0.5, 0.5) per sample (DiffAugment `rand_brightness`)."""
    dtype = images.dtype
    x = ops.cast(images, "float32")
    magnitude = keras.random.uniform(_per_sample_shape(x), seed=seed) - 0.5
    return ops.cast(x + magnitude, dtype)


def random_saturation(images, seed=None):
    """Scales each pixel's deviation from its channel mean by U(0, 2) per sample
    (DiffAugment `rand_saturation`)."""
    dtype = images.dtype
    x = ops.cast(images, "float32")
    magnitude = keras.random.uniform(_per_sample_shape(x), seed=seed) * 2.0
    mean = ops.mean(x, axis=3, keepdims=True)  # [B, H, W, 1]
    return ops.cast((x - mean) * magnitude + mean, dtype)


def random_contrast(images, seed=None):
    """Scales each image's deviation from its mean over (H, W, C) by
    U(0.5, 1.5) per sample (DiffAugment `rand_contrast`)."""
    dtype = images.dtype
    x = ops.cast(images, "float32")
    magnitude = keras.random.uniform(_per_sample_shape(x), seed=seed) + 0.5
    mean = ops.mean(x, axis=(1, 2, 3), keepdims=True)  # [B, 1, 1, 1]
    return ops.cast((x - mean) * magnitude + mean, dtype)


def random_color(images, seed=None):
    """DiffAugment "color": brightness, then saturation, then contrast."""
    images = random_brightness(images, seed=_derive_seed(seed, 0))
    images = random_saturation(images, seed=_derive_seed(seed, 1))
    return random_contrast(images, seed=_derive_seed(seed, 2))


def _shift_axis(images, shifts, axis):
    """out[b, i] = images[b, i + shifts[b]] along `axis` (1 or 2), 0 outside.

    As in the official code: pad one zero on each side, clip the source index
    into the padding, gather. Gathering keeps it differentiable in `images`.
    """
    size = images.shape[axis]
    padding = [[0, 0], [0, 0], [0, 0], [0, 0]]
    padding[axis] = [1, 1]
    padded = ops.pad(images, padding)
    index = ops.arange(size, dtype="int32")[None, :] + ops.reshape(shifts, (-1, 1)) + 1
    index = ops.clip(index, 0, size + 1)  # [B, size]
    index_shape = (-1, size, 1, 1) if axis == 1 else (-1, 1, size, 1)
    index = ops.reshape(index, index_shape)
    out_shape = ops.shape(images)
    index = ops.broadcast_to(index, out_shape)
    return ops.take_along_axis(padded, index, axis=axis)


def _translate(images, shift_h, shift_w):
    """Moves the content of sample b by (-shift_h[b], -shift_w[b]) pixels,
    filling with zeros: out[b, i, j] = images[b, i + shift_h[b], j + shift_w[b]]."""
    return _shift_axis(_shift_axis(images, shift_h, axis=1), shift_w, axis=2)


def random_translation(images, ratio=0.125, seed=None):
    """Shifts each sample by integers in [-s, s] per axis, s = int(size * ratio
    + 0.5), filling the uncovered border with 0 (DiffAugment `rand_translation`).
    """
    height, width = _static_hw(images, "random_translation")
    shift_h, shift_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    batch = ops.shape(images)[0]
    ty = keras.random.randint((batch,), -shift_h, shift_h + 1, seed=_derive_seed(seed, 0))
    tx = keras.random.randint((batch,), -shift_w, shift_w + 1, seed=_derive_seed(seed, 1))
    return _translate(images, ops.cast(ty, "int32"), ops.cast(tx, "int32"))


def _cutout(images, offset_h, offset_w, size_h, size_w):
    """Zeroes rows [o_h - size_h//2, o_h - size_h//2 + size_h) x the matching
    columns of sample b, clipped to the image. This is the set the official
    code zeroes with its clipped scatter."""
    height, width = images.shape[1], images.shape[2]
    top = ops.reshape(offset_h - size_h // 2, (-1, 1))  # [B, 1]
    left = ops.reshape(offset_w - size_w // 2, (-1, 1))
    rows = ops.arange(height, dtype="int32")[None, :]  # [1, H]
    cols = ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.logical_and(rows >= top, rows < top + size_h)  # [B, H]
    in_cols = ops.logical_and(cols >= left, cols < left + size_w)  # [B, W]
    inside = ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])  # [B, H, W]
    mask = ops.cast(ops.logical_not(inside), images.dtype)[..., None]
    return images * mask


def random_cutout(images, ratio=0.5, seed=None):
    """Zeroes one square of side int(size * ratio + 0.5) per sample, centred at
    a random offset (DiffAugment `rand_cutout`; the square may be clipped by
    the border)."""
    height, width = _static_hw(images, "random_cutout")
    size_h, size_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
    batch = ops.shape(images)[0]
    # Official ranges: randint(0, size + (1 - cutout_size % 2)).
    offset_h = keras.random.randint(
        (batch,), 0, height + (1 - size_h % 2), seed=_derive_seed(seed, 0)
    )
    offset_w = keras.random.randint(
        (batch,), 0, width + (1 - size_w % 2), seed=_derive_seed(seed, 1)
    )
    return _cutout(
        images, ops.cast(offset_h, "int32"), ops.cast(offset_w, "int32"), size_h, size_w
    )


POLICIES = {
    "color": random_color,
    "translation": random_translation,
    "cutout": random_cutout,
}


assert tuple(POLICIES) == DIFF_AUGMENT_POLICIES  # the names configs check them by


def diff_augment(images, policy="color,translation", seed=None):
    """DiffAugment (Zhao et al., NeurIPS 2020) for NHWC images in [-1, 1].

    Applies the policies in the order given; each draws its own random numbers
    per sample. Apply the same policy to real and generated images, in both
    the discriminator and the generator step.

    Args:
        images: [B, H, W, C] images (any float dtype; kept).
        policy: comma-separated names from "color", "translation", "cutout"
            (or a list of them); "" or None returns `images` unchanged.
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        Augmented images, same shape and dtype.
    """
    names = parse_diff_augment_policy(policy)
    for index, name in enumerate(names):
        images = POLICIES[name](images, seed=_derive_seed(seed, 100 + index))
    return images


# ---------------------------------------------------------------------------
# Classic augmentation for few-shot shots
# ---------------------------------------------------------------------------


def _affine_matrices(angles, scales, shift_h, shift_w, height, width):
    """[B, 8] projective transforms (output pixel -> input pixel, the
    `keras.ops.image.affine_transform` convention) that rotate by `angles`
    (radians, counter-clockwise as displayed), zoom by `scales` (>1 enlarges)
    about the image centre, then shift by (shift_h, shift_w) pixels (down, right).
    """
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    cos = ops.cos(angles) / scales
    sin = ops.sin(angles) / scales
    # Inverse map in (x=column, y=row) coordinates; rows grow downwards, so a
    # counter-clockwise display rotation is a clockwise one in (x, y).
    #   in = A @ (out - centre - shift) + centre,  A = [[cos, -sin], [sin, cos]]
    ox = cx + shift_w
    oy = cy + shift_h
    a0, a1 = cos, -sin
    b0, b1 = sin, cos
    a2 = cx - (a0 * ox + a1 * oy)
    b2 = cy - (b0 * ox + b1 * oy)
    zeros = ops.zeros_like(angles)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def affine_transform(images, angles, scales, shift_h, shift_w, fill_mode, interpolation="bilinear"):
    """``images`` [B, H, W, C] rotated by ``angles`` (radians), zoomed by ``scales``
    and shifted by (``shift_h``, ``shift_w``) pixels, one value per image (see
    ``_affine_matrices``); pixels from outside the image follow ``fill_mode``."""
    height, width = images.shape[1], images.shape[2]
    matrices = _affine_matrices(angles, scales, shift_h, shift_w, height, width)
    out = ops.image.affine_transform(
        ops.cast(images, "float32"),
        matrices,
        interpolation=interpolation,
        fill_mode=fill_mode,
        data_format="channels_last",
    )
    return ops.cast(out, images.dtype)


def classic_augment(
    images,
    *,
    flip=True,
    max_translation=0.1,
    max_rotation_degrees=10.0,
    max_zoom=0.1,
    fill_mode="nearest",
    seed=None,
):
    """Random horizontal flip, shift, rotation and zoom, drawn per sample.

    Meant for enlarging the few shots of a task (e.g. FIGR baselines), not for
    differentiating through.

    Args:
        images: [B, H, W, C] images (any float dtype; kept).
        flip: mirror left-right with probability 1/2.
        max_translation: shift by up to this fraction of the height / width.
        max_rotation_degrees: rotate by U(-max, max) degrees.
        max_zoom: scale by U(1 - max_zoom, 1 + max_zoom).
        fill_mode: how to fill pixels from outside the image; "nearest"
            (repeat the border, safe for any background), "reflect", "wrap"
            or "constant" (zeros).
        seed: None, an int or a `keras.random.SeedGenerator`.

    Returns:
        Augmented images, same shape and dtype.
    """
    height, width = _static_hw(images, "classic_augment")
    for name, value in (
        ("max_translation", max_translation),
        ("max_rotation_degrees", max_rotation_degrees),
        ("max_zoom", max_zoom),
    ):
        if value < 0:
            raise InputError(f"{name} must be >= 0. Received: {name}={value}")
    if max_zoom >= 1:
        raise InputError(f"max_zoom must be below 1. Received: max_zoom={max_zoom}")
    if fill_mode not in ("nearest", "reflect", "wrap", "constant"):
        raise InputError(
            "fill_mode must be one of 'nearest', 'reflect', 'wrap', 'constant'. "
            f"Received: fill_mode={fill_mode!r}"
        )

    batch = ops.shape(images)[0]
    if flip:
        coin = keras.random.uniform((batch, 1, 1, 1), seed=_derive_seed(seed, 0))
        images = ops.where(coin < 0.5, ops.flip(images, axis=2), images)
    if max_translation == 0 and max_rotation_degrees == 0 and max_zoom == 0:
        return images

    def uniform(salt, low, high):
        return keras.random.uniform(
            (batch,), minval=low, maxval=high, seed=_derive_seed(seed, salt)
        )

    max_angle = math.radians(max_rotation_degrees)
    angles = uniform(1, -max_angle, max_angle)
    scales = uniform(2, 1.0 - max_zoom, 1.0 + max_zoom)
    shift_h = uniform(3, -max_translation * height, max_translation * height)
    shift_w = uniform(4, -max_translation * width, max_translation * width)
    return affine_transform(images, angles, scales, shift_h, shift_w, fill_mode)


def flow_warp(images, flow):
    """Keras-ops twin of :func:`tfgen.morph.warp`: ``images`` [B, H, W, C]
    sampled at p + ``flow(p)`` [B, H, W, 2] (bilinear, border repeated)."""
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]
    y = ops.clip(rows + flow[..., 0], 0.0, height - 1.0)
    x = ops.clip(cols + flow[..., 1], 0.0, width - 1.0)
    y0 = ops.minimum(ops.floor(y), max(height - 2, 0))
    x0 = ops.minimum(ops.floor(x), max(width - 2, 0))
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = ops.cast(y0, "int32"), ops.cast(x0, "int32")
    y1, x1 = ops.minimum(y0 + 1, height - 1), ops.minimum(x0 + 1, width - 1)
    flat = ops.reshape(images, (-1, channels))
    offset = (ops.arange(ops.shape(images)[0], dtype="int32") * (height * width))[:, None, None]

    def at(yy, xx):
        return ops.reshape(ops.take(flat, ops.reshape(offset + yy * width + xx, (-1,)), axis=0), ops.shape(images))

    top = at(y0, x0) + wx * (at(y0, x1) - at(y0, x0))
    bottom = at(y1, x0) + wx * (at(y1, x1) - at(y1, x0))
    return top + wy * (bottom - top)
