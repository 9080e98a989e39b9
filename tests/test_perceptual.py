import keras
import numpy as np
import pytest

from tfgen.perceptual import PerceptualDistance, load_vgg16_features


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory):
    # Random weights in the Keras VGG16 layout stand in for the ImageNet file.
    path = str(tmp_path_factory.mktemp("vgg") / "vgg16_notop.weights.h5")
    keras.utils.set_random_seed(0)
    keras.applications.VGG16(include_top=False, weights=None).save_weights(path)
    return path


def test_distance_is_zero_for_identical_images_and_grows_with_difference(vgg_weights):
    distance = PerceptualDistance(vgg_weights)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    same = keras.ops.convert_to_numpy(distance(x, x))
    assert same.shape == (2,) and np.allclose(same, 0.0, atol=1e-6)
    near = keras.ops.convert_to_numpy(distance(x, np.clip(x + 0.05, -1, 1)))
    far = keras.ops.convert_to_numpy(distance(x, -x))
    assert np.all(near > 0) and np.all(far > near)


def test_missing_weights_file_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="--vgg-weights"):
        load_vgg16_features(str(tmp_path / "absent.h5"))


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / "other.weights.h5")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save_weights(path)
    with pytest.raises(ValueError, match="VGG16"):
        load_vgg16_features(path)
