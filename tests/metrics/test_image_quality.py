"""MSE, SSIM (against tf.image.ssim and scikit-image), nearest-real MSE/SSIM, BRISQUE."""

import importlib.util

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from tfgen.metrics.image_quality import brisque_scores, mse, nearest_real_mse_ssim, ssim


def _image_pairs(seed, shape=(3, 32, 40, 3)):
    rng = np.random.default_rng(seed)
    # Smooth random images (blocky upsampled noise) plus a noisy copy.
    coarse = rng.integers(0, 256, size=(shape[0], shape[1] // 8, shape[2] // 8, shape[3]))
    a = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 20, size=a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_mse_per_pair_in_pixel_units():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[0] = 255  # uint8 arithmetic would wrap; the result must not
    b[1, 0, 0, 0] = 10
    np.testing.assert_allclose(mse(a, b), [255.0**2, 100.0 / 48], rtol=1e-12)
    np.testing.assert_allclose(mse(b, a), mse(a, b))


def test_ssim_matches_tf_image_ssim():
    tf = pytest.importorskip("tensorflow")
    a, b = _image_pairs(0)
    expected = tf.image.ssim(tf.constant(a), tf.constant(b), max_val=255).numpy()
    np.testing.assert_allclose(ssim(a, b), expected, atol=1e-4)
    # Also with a non-default (even) window and grey images.
    expected = tf.image.ssim(
        tf.constant(a[..., :1]),
        tf.constant(b[..., :1]),
        max_val=255,
        filter_size=8,
        filter_sigma=1.0,
    ).numpy()
    np.testing.assert_allclose(
        ssim(a[..., :1], b[..., :1], filter_size=8, filter_sigma=1.0), expected, atol=1e-4
    )


def test_ssim_matches_scikit_image():
    # scikit-image filters the full image (reflect padding) and then crops
    # (win_size - 1) // 2 = 5 pixels from every side before averaging: what is
    # left depends only on pixels where the window fits, i.e. exactly the
    # "valid" region used here and by tf.image.ssim. So the border handling
    # agrees and the two match to rounding (tf.image.ssim differs only by its
    # float32 arithmetic).
    a, b = _image_pairs(1)
    expected = [
        structural_similarity(
            x,
            y,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=255,
            channel_axis=-1,
        )
        for x, y in zip(a, b, strict=True)
    ]
    np.testing.assert_allclose(ssim(a, b), expected, atol=1e-9)


def test_ssim_extremes():
    a, b = _image_pairs(2)
    np.testing.assert_allclose(ssim(a, a), 1.0, atol=1e-12)
    assert np.all(ssim(a, b) < 1.0)
    assert np.all(ssim(a, 255 - a) < 0.0)  # inverted contrast anti-correlates


def test_ssim_small_images_raise_unless_window_shrunk():
    a = np.zeros((1, 8, 8, 1), np.uint8)
    with pytest.raises(ValueError, match="smaller than the 11×11"):
        ssim(a, a)
    assert ssim(a, a, filter_size=7)[0] == pytest.approx(1.0)


def test_nearest_real_mse_ssim_finds_the_source_image():
    rng = np.random.default_rng(3)
    real, _ = _image_pairs(3, shape=(6, 16, 16, 3))
    picks = np.array([4, 0, 4, 2])
    fake = np.clip(real[picks] + rng.normal(0, 5, size=(4, 16, 16, 3)), 0, 255).astype(np.uint8)
    fake[3] = real[2]  # an exact copy
    result = nearest_real_mse_ssim(fake, real, batch_size=3)
    np.testing.assert_array_equal(result["nearest_index"], picks)
    # Brute force over all real images gives the same minimum MSE.
    brute = np.array([[mse(f[None], r[None])[0] for r in real] for f in fake])
    np.testing.assert_allclose(result["mse_per_image"], brute.min(axis=1), rtol=1e-12)
    np.testing.assert_allclose(result["ssim_per_image"], ssim(fake, real[picks]), rtol=1e-12)
    assert result["mse_per_image"][3] == 0.0 and result["ssim_per_image"][3] == pytest.approx(1.0)
    assert result["mse"] == pytest.approx(result["mse_per_image"].mean())
    assert result["ssim"] == pytest.approx(result["ssim_per_image"].mean())


def test_nearest_real_blocks_do_not_change_the_result(monkeypatch):
    from tfgen.metrics import image_quality

    real, _ = _image_pairs(4, shape=(7, 16, 16, 3))
    fake, _ = _image_pairs(5, shape=(5, 16, 16, 3))
    expected = nearest_real_mse_ssim(fake, real)
    brute = np.array([[mse(f[None], r[None])[0] for r in real] for f in fake])
    np.testing.assert_array_equal(expected["nearest_index"], brute.argmin(axis=1))
    # Tiny blocks: 1 image per SSIM/MSE chunk, 3 real images per search block.
    monkeypatch.setattr(image_quality, "_CHUNK_VALUES", 600)
    blocked = nearest_real_mse_ssim(fake, real, batch_size=2)
    np.testing.assert_array_equal(blocked["nearest_index"], expected["nearest_index"])
    np.testing.assert_allclose(blocked["mse_per_image"], expected["mse_per_image"], rtol=1e-12)
    np.testing.assert_allclose(blocked["ssim_per_image"], expected["ssim_per_image"], rtol=1e-12)


def test_invalid_inputs_raise():
    a = np.zeros((2, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="same resolution"):
        nearest_real_mse_ssim(a, np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="same resolution"):
        nearest_real_mse_ssim(a, np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        nearest_real_mse_ssim(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="\\[N, H, W, C\\]"):
        mse(a[0], a[0])
    with pytest.raises(ValueError, match="same number of images"):
        ssim(a, a[:1])
    with pytest.raises(ValueError, match="NaN"):
        mse(np.full((1, 4, 4, 1), np.nan), np.zeros((1, 4, 4, 1)))
    small = np.zeros((2, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="smaller than the 11×11"):
        nearest_real_mse_ssim(small, small)
    assert nearest_real_mse_ssim(small, small, filter_size=5)["ssim"] == pytest.approx(1.0)


def test_brisque_without_the_optional_packages_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "brisque", None)  # makes `import brisque` fail
    with pytest.raises(ImportError, match='pip install "tfgen\\[brisque\\]"'):
        brisque_scores(np.zeros((1, 64, 64, 3), np.uint8))


def test_brisque_refuses_tiny_images():
    with pytest.raises(ValueError, match="at least 32"):
        brisque_scores(np.zeros((1, 16, 16, 3), np.uint8))


@pytest.mark.skipif(
    importlib.util.find_spec("brisque") is None or importlib.util.find_spec("cv2") is None,
    reason='needs the optional packages: pip install "tfgen[brisque]"',
)
def test_brisque_scores_degraded_images_worse():
    from skimage import data

    rng = np.random.default_rng(0)
    clean = data.astronaut()[::2, ::2]  # 256×256 RGB
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    grey = data.camera()[::2, ::2, None]  # 256×256×1
    scores = brisque_scores(np.stack([clean, noisy]))
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert scores[1] > scores[0] + 10
    grey_noisy = np.clip(grey + rng.normal(0, 25, grey.shape), 0, 255).astype(np.uint8)
    grey_scores = brisque_scores(np.stack([grey, grey_noisy]))
    assert grey_scores[1] > grey_scores[0] + 10
