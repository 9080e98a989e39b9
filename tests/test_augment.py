"""Tests for tfgen.augment (DiffAugment and classic augmentation)."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import augment
from tfgen.checks import parse_diff_augment_policy

ALL = "color,translation,cutout"


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float32)


def _images(batch=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, [batch, size, size, 3]).astype(np.float32)


# --- numpy references of the official DiffAugment_pytorch.py ----------------


def _official_translation(x, ty, tx):
    b, h, w, _ = x.shape
    padded = np.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    rows = np.clip(np.arange(h)[None, :] + ty[:, None] + 1, 0, h + 1)  # [B, H]
    cols = np.clip(np.arange(w)[None, :] + tx[:, None] + 1, 0, w + 1)  # [B, W]
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _official_cutout(x, offset_h, offset_w, size_h, size_w):
    b, h, w, _ = x.shape
    mask = np.ones([b, h, w], x.dtype)
    for n in range(b):
        for i, j in itertools.product(range(size_h), range(size_w)):
            r = np.clip(i + offset_h[n] - size_h // 2, 0, h - 1)
            c = np.clip(j + offset_w[n] - size_w // 2, 0, w - 1)
            mask[n, r, c] = 0
    return x * mask[..., None]


# --- policy parsing ----------------------------------------------------------


@pytest.mark.parametrize("policy", ["", None, " , "])
def test_empty_policy_is_identity(policy):
    x = _images()
    np.testing.assert_array_equal(_np(augment.diff_augment(x, policy, seed=0)), x)


def test_unknown_policy_error_lists_valid_names():
    with pytest.raises(ValueError) as info:
        augment.diff_augment(_images(), "color,zoom", seed=0)
    message = str(info.value)
    assert "'zoom'" in message
    for name in ("color", "translation", "cutout"):
        assert name in message
    assert "Received: policy='color,zoom'" in message


def test_policy_accepts_list_and_spaces():
    assert parse_diff_augment_policy(["color", "cutout"]) == ["color", "cutout"]
    assert parse_diff_augment_policy(" color , translation ") == ["color", "translation"]


# --- shapes, dtypes, determinism ---------------------------------------------


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_shape_and_dtype_preserved(policy, dtype):
    x = keras.ops.cast(_images(batch=2, size=8), dtype)
    out = augment.diff_augment(x, policy, seed=1)
    assert tuple(out.shape) == (2, 8, 8, 3)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    assert np.all(np.isfinite(_np(out)))


def test_deterministic_with_int_seed_and_advancing_with_seed_generator():
    x = _images()
    a = _np(augment.diff_augment(x, ALL, seed=7))
    b = _np(augment.diff_augment(x, ALL, seed=7))
    c = _np(augment.diff_augment(x, ALL, seed=8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1, g2 = keras.random.SeedGenerator(3), keras.random.SeedGenerator(3)
    first = [_np(augment.diff_augment(x, ALL, seed=g1)) for _ in range(2)]
    second = [_np(augment.diff_augment(x, ALL, seed=g2)) for _ in range(2)]
    assert not np.array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


# --- color -------------------------------------------------------------------


def test_brightness_adds_one_offset_per_sample():
    x = _images(batch=8)
    delta = _np(augment.random_brightness(x, seed=0)) - x
    per_sample = delta.reshape(8, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1] * np.ones_like(per_sample), atol=1e-6)
    assert np.all(np.abs(per_sample[:, 0]) <= 0.5)
    assert np.unique(np.round(per_sample[:, 0], 5)).size == 8  # per-sample draws


def test_saturation_keeps_gray_pixels_and_channel_means():
    gray = np.repeat(_images(batch=3)[..., :1], 3, axis=-1)
    np.testing.assert_allclose(_np(augment.random_saturation(gray, seed=0)), gray, atol=1e-6)
    x = _images(batch=3)
    out = _np(augment.random_saturation(x, seed=0))
    np.testing.assert_allclose(out.mean(-1), x.mean(-1), atol=1e-5)
    # Deviations from the channel mean scale by one factor in [0, 2] per sample.
    dev_in = x - x.mean(-1, keepdims=True)
    dev_out = out - out.mean(-1, keepdims=True)
    factors = (dev_out * dev_in).sum((1, 2, 3)) / (dev_in**2).sum((1, 2, 3))
    np.testing.assert_allclose(dev_out, factors[:, None, None, None] * dev_in, atol=1e-5)
    assert np.all((factors >= 0) & (factors <= 2))


def test_contrast_scales_about_the_image_mean():
    x = _images(batch=3)
    out = _np(augment.random_contrast(x, seed=0))
    mean_in = x.mean((1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out.mean((1, 2, 3), keepdims=True), mean_in, atol=1e-5)
    factors = ((out - mean_in) / (x - mean_in)).reshape(3, -1)
    np.testing.assert_allclose(factors, factors[:, :1] * np.ones_like(factors), rtol=1e-3)
    assert np.all((factors[:, 0] >= 0.5) & (factors[:, 0] <= 1.5))


# --- translation ---------------------------------------------------------------


def test_translation_matches_official_gather():
    x = _images(batch=5, size=8)
    ty = np.array([-1, 0, 1, 3, -8], np.int32)
    tx = np.array([2, -3, 0, 9, 1], np.int32)
    out = _np(augment._translate(x, keras.ops.convert_to_tensor(ty), keras.ops.convert_to_tensor(tx)))
    np.testing.assert_array_equal(out, _official_translation(x, ty, tx))


def test_translation_moves_a_pixel_by_an_integer_within_range():
    size, batch = 32, 32
    x = np.zeros([batch, size, size, 3], np.float32)
    x[:, 16, 16, :] = 1.0
    out = _np(augment.random_translation(x, seed=0))
    offsets = []
    for n in range(batch):
        hits = np.argwhere(out[n, ..., 0] != 0)
        assert hits.shape == (1, 2)  # the pixel moved whole; everything else is 0
        r, c = hits[0]
        np.testing.assert_array_equal(out[n, r, c], [1, 1, 1])
        assert abs(r - 16) <= size // 8 and abs(c - 16) <= size // 8
        offsets.append((r - 16, c - 16))
    assert len(set(offsets)) > 5  # per-sample shifts


def test_translation_of_constant_image_only_adds_zero_borders():
    size, batch = 16, 16
    x = np.full([batch, size, size, 3], 0.7, np.float32)
    out = _np(augment.random_translation(x, seed=1))
    assert set(np.unique(out)) <= {np.float32(0.0), np.float32(0.7)}
    for n in range(batch):
        kept = out[n, ..., 0] != 0
        r = np.flatnonzero(kept.any(1))
        c = np.flatnonzero(kept.any(0))
        # The kept content is one rectangle, cut at one side per axis.
        assert kept.sum() == r.size * c.size
        assert size - r.size <= 2 and size - c.size <= 2  # shift <= int(16 * 0.125 + 0.5) = 2
        assert r[0] == 0 or r[-1] == size - 1
        assert c[0] == 0 or c[-1] == size - 1


def test_translation_gradient_routes_back_to_kept_pixels():
    x = tf.Variable(_images(batch=2, size=8))
    with tf.GradientTape() as tape:
        out = augment.random_translation(x, seed=2)
        loss = tf.reduce_sum(out)
    grad = tape.gradient(loss, x).numpy()
    # Each input pixel is used at most once; the gradient is 1 where it was kept.
    assert set(np.unique(grad)) <= {0.0, 1.0}
    kept = _np(augment.random_translation(np.ones([2, 8, 8, 3], np.float32), seed=2))
    assert grad.sum() == kept.sum()


# --- cutout --------------------------------------------------------------------


@pytest.mark.parametrize("height,width", [(8, 6), (5, 7)])
def test_cutout_matches_official_scatter_for_all_offsets(height, width):
    size_h, size_w = int(height * 0.5 + 0.5), int(width * 0.5 + 0.5)
    offsets = list(
        itertools.product(range(height + 1 - size_h % 2), range(width + 1 - size_w % 2))
    )
    offset_h = np.array([o[0] for o in offsets], np.int32)
    offset_w = np.array([o[1] for o in offsets], np.int32)
    x = np.ones([len(offsets), height, width, 2], np.float32)
    out = _np(
        augment._cutout(
            x,
            keras.ops.convert_to_tensor(offset_h),
            keras.ops.convert_to_tensor(offset_w),
            size_h,
            size_w,
        )
    )
    np.testing.assert_array_equal(out, _official_cutout(x, offset_h, offset_w, size_h, size_w))


def test_cutout_zeroes_one_clipped_square_per_sample():
    size, batch = 16, 64
    out = _np(augment.random_cutout(np.ones([batch, size, size, 3], np.float32), seed=0))
    side = 8  # int(16 * 0.5 + 0.5)
    counts = []
    for n in range(batch):
        zero = out[n, ..., 0] == 0
        np.testing.assert_array_equal(zero[..., None].repeat(3, -1), out[n] == 0)
        r = np.flatnonzero(zero.any(1))
        c = np.flatnonzero(zero.any(0))
        assert zero.sum() == r.size * c.size  # a rectangle
        assert side // 2 <= r.size <= side and side // 2 <= c.size <= side
        assert r.size == side or r[0] == 0 or r[-1] == size - 1  # clipped only at a border
        counts.append(int(zero.sum()))
    assert max(counts) == side * side
    assert len(set(counts)) > 1


# --- gradients, tf.function ------------------------------------------------------


def test_gradients_flow_through_all_policies():
    x = tf.Variable(_images(batch=2, size=8))
    weights = tf.constant(_images(batch=2, size=8, seed=1))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(augment.diff_augment(x, ALL, seed=0) * weights)
    grad = tape.gradient(loss, x)
    assert grad is not None
    grad = grad.numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0
    for n in range(2):
        assert np.abs(grad[n]).sum() > 0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_works_in_tf_function_with_dynamic_batch(jit_compile):
    seed = keras.random.SeedGenerator(0)

    @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32)], jit_compile=jit_compile)
    def step(images):
        return augment.diff_augment(images, ALL, seed=seed)

    for batch in (2, 3):
        out = step(tf.constant(_images(batch=batch, size=8)))
        assert out.shape == (batch, 8, 8, 3)
    a = step(tf.constant(_images(batch=2, size=8))).numpy()
    b = step(tf.constant(_images(batch=2, size=8))).numpy()
    assert not np.array_equal(a, b)  # the generator advances between calls


def test_rejects_unknown_spatial_size():
    with pytest.raises(ValueError, match="rank 4"):
        augment.diff_augment(np.zeros([2, 8, 8], np.float32), "translation")


# --- classic augmentation ---------------------------------------------------------


def test_classic_augment_without_transforms_is_identity():
    x = _images()
    out = augment.classic_augment(
        x, flip=False, max_translation=0, max_rotation_degrees=0, max_zoom=0, seed=0
    )
    np.testing.assert_array_equal(_np(out), x)


def test_classic_augment_flip_only_mirrors_some_samples():
    x = _images(batch=16)
    out = _np(
        augment.classic_augment(x, max_translation=0, max_rotation_degrees=0, max_zoom=0, seed=0)
    )
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    same = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same))
    assert any(flipped) and any(same)


def test_transform_geometry_matches_numpy():
    x = np.zeros([1, 9, 9, 1], np.float32)
    x[0, 1, 4, 0] = 1.0
    t = keras.ops.convert_to_tensor

    def run(angle, scale, dy, dx, image=x):
        out = augment.affine_transform(
            image, t([angle]), t([scale]), t([dy]), t([dx]), "constant", interpolation="nearest"
        )
        return _np(out)[0, ..., 0]

    np.testing.assert_array_equal(run(np.pi / 2, 1.0, 0.0, 0.0), np.rot90(x[0, ..., 0]))
    shifted = np.zeros([9, 9], np.float32)
    shifted[3, 1] = 1.0
    np.testing.assert_array_equal(run(0.0, 1.0, 2.0, -3.0), shifted)
    # Zoom about the centre: a ring of radius 2 at zoom 2 lands at radius ~4.
    ring = np.zeros([1, 9, 9, 1], np.float32)
    ring[0, 2, 4] = ring[0, 6, 4] = ring[0, 4, 2] = ring[0, 4, 6] = 1.0
    zoomed = run(0.0, 2.0, 0.0, 0.0, image=ring)
    for r, c in [(0, 4), (8, 4), (4, 0), (4, 8)]:
        assert zoomed[r, c] == 1.0


def test_classic_augment_properties():
    x = keras.ops.cast(_images(batch=4), "bfloat16")
    a = augment.classic_augment(x, seed=3)
    b = augment.classic_augment(x, seed=3)
    assert keras.backend.standardize_dtype(a.dtype) == "bfloat16"
    assert tuple(a.shape) == (4, 16, 16, 3)
    np.testing.assert_array_equal(_np(a), _np(b))
    assert not np.array_equal(_np(a), _np(x))
    # Bilinear sampling with border replication stays within the input range.
    lo, hi = _np(x).min(), _np(x).max()
    assert _np(a).min() >= lo - 1e-2 and _np(a).max() <= hi + 1e-2


def test_classic_augment_rejects_bad_arguments():
    x = _images()
    with pytest.raises(ValueError, match="max_zoom"):
        augment.classic_augment(x, max_zoom=1.5)
    with pytest.raises(ValueError, match="max_translation"):
        augment.classic_augment(x, max_translation=-0.1)
    with pytest.raises(ValueError, match="fill_mode"):
        augment.classic_augment(x, fill_mode="mirror")
