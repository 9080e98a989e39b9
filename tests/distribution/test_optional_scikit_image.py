"""scikit-image is optional: BRISQUE's grey conversion is NumPy, the LFW
`faces` set says what to install.

References: skimage.color.rgb2gray itself (when installed) and the luminance
sum written out channel by channel.
"""

import sys
import types

import numpy as np
import pytest

from tfgen.data.images import load_labelled
from tfgen.metrics import image_quality
from tfgen.metrics.image_quality import RGB_TO_GREY_WEIGHTS, rgb_to_grey


def _images(dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=(3, 17, 23, 3), dtype=np.uint8)
    return rng.uniform(0.0, 1.0, size=(3, 17, 23, 3)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_rgb_to_grey_matches_skimage(dtype):
    color = pytest.importorskip("skimage.color")
    images = _images(dtype)
    ours = rgb_to_grey(images)
    theirs = color.rgb2gray(images)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape == images.shape[:-1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-12)
    # One image at a time too (brisque_scores converts [H, W, 3]).
    np.testing.assert_allclose(rgb_to_grey(images[0]), color.rgb2gray(images[0]), rtol=0, atol=1e-6)


def test_rgb_to_grey_uses_skimages_weights_not_bt601():
    # Pure primaries give the weights back; skimage documents Y = 0.2125 R + 0.7154 G + 0.0721 B.
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    np.testing.assert_allclose(rgb_to_grey(primaries)[0], [0.2125, 0.7154, 0.0721, 1.0], rtol=0, atol=1e-12)
    assert RGB_TO_GREY_WEIGHTS != (0.299, 0.587, 0.114)
    images = _images(np.uint8, seed=1).astype(np.float64) / 255.0
    written_out = 0.2125 * images[..., 0] + 0.7154 * images[..., 1] + 0.0721 * images[..., 2]
    np.testing.assert_allclose(rgb_to_grey(_images(np.uint8, seed=1)), written_out, rtol=0, atol=1e-12)
    try:
        from skimage.color import rgb2gray
    except ImportError:
        return
    np.testing.assert_allclose(rgb2gray(primaries)[0], [0.2125, 0.7154, 0.0721, 1.0], rtol=0, atol=1e-12)


def test_rgb_to_grey_refuses_other_shapes_and_types():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_grey(np.zeros((4, 4, 1), np.uint8))
    with pytest.raises(ValueError, match="dtype"):
        rgb_to_grey(np.zeros((4, 4, 3), np.int32))


def test_brisque_scores_feed_the_model_skimages_grey_without_importing_skimage(monkeypatch):
    """brisque_scores with stand-ins for the brisque and cv2 packages: the grey
    image the model sees is rgb2gray's, and scikit-image is never imported."""
    seen = []

    class FakeBrisque:
        def __init__(self, url=False):
            pass

        def calculate_brisque_features(self, grey, kernel_size, sigma):
            seen.append(np.array(grey))
            return np.array([grey.mean(), grey.std()])

        def calculate_image_quality_score(self, features):
            return float(np.sum(features))

    def fake_resize(image, size, fx, fy, interpolation):
        return image[::2, ::2]

    monkeypatch.setitem(sys.modules, "brisque", types.SimpleNamespace(BRISQUE=FakeBrisque))
    monkeypatch.setitem(sys.modules, "cv2", types.SimpleNamespace(resize=fake_resize, INTER_CUBIC=2))
    for name in [m for m in sys.modules if m == "skimage" or m.startswith("skimage.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "skimage", None)  # any import of it fails
    monkeypatch.setitem(sys.modules, "skimage.color", None)

    rgb = _images(np.uint8, seed=2)[:2].repeat(3, axis=1).repeat(2, axis=2)  # [2, 51, 46, 3]
    grey = _images(np.uint8, seed=3)[:1, ..., :1].repeat(3, axis=1).repeat(2, axis=2)  # [1, 51, 46, 1]
    scores = image_quality.brisque_scores(rgb)
    assert scores.shape == (2,) and len(seen) == 4
    written_out = rgb.astype(np.float64) / 255.0 @ np.array([0.2125, 0.7154, 0.0721])
    np.testing.assert_allclose(seen[0], written_out[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(seen[1], written_out[0][::2, ::2], rtol=0, atol=1e-12)
    np.testing.assert_allclose(seen[2], written_out[1], rtol=0, atol=1e-12)
    seen.clear()
    image_quality.brisque_scores(grey)  # one channel: replicated, so grey = value / 255
    np.testing.assert_allclose(seen[0], grey[0, ..., 0] / 255.0, rtol=0, atol=1e-12)


def test_faces_without_scikit_image_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.data", None)
    with pytest.raises(ValueError, match=r"pip install scikit-image"):
        load_labelled("faces")


def test_faces_with_scikit_image_are_the_lfw_faces():
    data = pytest.importorskip("skimage.data")
    images, labels, names = load_labelled("faces:5")
    np.testing.assert_array_equal(images[..., 1], np.round(data.lfw_subset()[:5] * 255))
    assert names == ["face"] and not labels.any()
