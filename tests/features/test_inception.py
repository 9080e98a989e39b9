"""InceptionV3 extractor: finding, checking and using the weights file.

Random InceptionV3 weights, written in the layout of the Keras cache files,
stand in for the ImageNet ones (which cannot be downloaded here).
"""

import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.legacy.saving import legacy_h5_format

from tfgen.features.extractor import extract_features, get_extractor
from tfgen.features.inception import (
    INCEPTION_NOTOP_WEIGHTS_FILE,
    INCEPTION_WEIGHTS_FILE,
    InceptionExtractor,
)


def _save_legacy_h5(model, path):
    # The format of the files keras.applications downloads into ~/.keras/models
    # (Keras 3 itself only writes .weights.h5 from model.save_weights).
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _reference(network, images):
    """Independent preprocessing: tf.image antialiased bilinear resize, x/127.5-1."""
    x = tf.image.resize(images.astype("float32"), (299, 299), method="bilinear", antialias=True)
    return network.predict_on_batch(x.numpy() / 127.5 - 1.0)


@pytest.fixture(scope="module")
def full_weights(tmp_path_factory):
    """(keras home, weights path, reference network) with the classifier head."""
    home = tmp_path_factory.mktemp("keras_home")
    keras.utils.set_random_seed(0)
    network = keras.applications.InceptionV3(weights=None, classifier_activation=None)
    path = str(home / "models" / INCEPTION_WEIGHTS_FILE)
    _save_legacy_h5(network, path)
    return str(home), path, network


@pytest.fixture(scope="module")
def notop_weights(tmp_path_factory):
    home = tmp_path_factory.mktemp("keras_home_notop")
    keras.utils.set_random_seed(1)
    network = keras.applications.InceptionV3(
        include_top=False, weights=None, input_shape=(299, 299, 3), pooling="avg"
    )
    path = str(home / "models" / INCEPTION_NOTOP_WEIGHTS_FILE)
    _save_legacy_h5(network, path)
    return str(home), path, network


@pytest.fixture
def empty_keras_home(monkeypatch, tmp_path):
    """No weights anywhere: KERAS_HOME and HOME point at empty folders."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _images(n, size, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_weights_found_in_keras_cache(full_weights, empty_keras_home, monkeypatch):
    home, path, _ = full_weights
    monkeypatch.setenv("KERAS_HOME", home)
    extractor = get_extractor("inception")
    assert isinstance(extractor, InceptionExtractor)
    assert extractor.weights_path == path
    assert (extractor.name, extractor.feature_dim, extractor.num_classes) == ("inception", 2048, 1000)
    assert extractor.cache_key == f"inception-{extractor.fingerprint}" and len(extractor.fingerprint) == 16


def test_explicit_path_works_without_cache_and_models_are_shared(full_weights, empty_keras_home):
    _, path, _ = full_weights
    first = InceptionExtractor(weights_path=path)
    second = get_extractor("inception", weights_path=path)
    assert first.weights_path == path
    assert first._model is second._model  # built once per file in the process


def test_features_and_logits_match_reference_pipeline(full_weights, empty_keras_home):
    _, path, network = full_weights
    extractor = InceptionExtractor(weights_path=path)
    trunk = keras.Model(network.inputs, [network.get_layer("avg_pool").output, network.output])
    images = _images(3, 40)
    out = extractor(images)
    features, logits = _reference(trunk, images)
    assert out["features"].shape == (3, 2048) and out["logits"].shape == (3, 1000)
    tolerance = 1e-4 * np.abs(features).max()
    np.testing.assert_allclose(out["features"], features, rtol=0, atol=tolerance)
    np.testing.assert_allclose(out["logits"], logits, rtol=0, atol=1e-4 * np.abs(logits).max())
    # Random-weight features differ little between images, but far more than
    # the tolerance, so the comparison above can fail.
    assert np.abs(features[0] - features[1]).max() > 10 * tolerance


def test_preprocessing_is_antialiased_resize_then_unit_range(full_weights, empty_keras_home):
    _, path, _ = full_weights
    preprocess = InceptionExtractor(weights_path=path)._model.get_layer("inception_preprocessing")
    images = _images(2, 320, seed=1).astype("float32")  # 320 > 299: shrinking, where antialiasing matters
    out = keras.ops.convert_to_numpy(preprocess(images))
    smooth = tf.image.resize(images, (299, 299), method="bilinear", antialias=True).numpy() / 127.5 - 1
    aliased = tf.image.resize(images, (299, 299), method="bilinear").numpy() / 127.5 - 1
    np.testing.assert_allclose(out, smooth, rtol=0, atol=1e-5)
    assert np.abs(out - aliased).max() > 0.1
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_deterministic_and_batch_size_independent(full_weights, empty_keras_home):
    _, path, _ = full_weights
    extractor = InceptionExtractor(weights_path=path)
    images = _images(4, 32, seed=2)
    whole = extract_features(extractor, images, batch_size=4)
    again = extract_features(extractor, images, batch_size=4)
    split = extract_features(extractor, images, batch_size=3)
    for key in ("features", "logits"):
        np.testing.assert_array_equal(whole[key], again[key])
        np.testing.assert_allclose(split[key], whole[key], rtol=0, atol=1e-5 * np.abs(whole[key]).max())


def test_grey_images_equal_their_rgb_copies(full_weights, empty_keras_home):
    _, path, _ = full_weights
    extractor = InceptionExtractor(weights_path=path)
    grey = _images(2, 28, seed=3)[..., :1]
    np.testing.assert_array_equal(
        extractor(grey)["features"], extractor(np.repeat(grey, 3, axis=-1))["features"]
    )


def test_notop_weights_give_features_only(notop_weights, empty_keras_home, monkeypatch):
    home, path, network = notop_weights
    monkeypatch.setenv("KERAS_HOME", home)
    extractor = InceptionExtractor()
    assert extractor.weights_path == path and extractor.num_classes is None
    images = _images(2, 64, seed=4)
    out = extractor(images)
    assert set(out) == {"features"}
    reference = _reference(network, images)
    np.testing.assert_allclose(out["features"], reference, rtol=0, atol=1e-4 * np.abs(reference).max())


def test_keras3_weights_file_is_accepted(full_weights, empty_keras_home):
    _, _, network = full_weights
    keras3 = str(empty_keras_home / "inception_v3.weights.h5")
    network.save_weights(keras3)
    images = _images(2, 32, seed=5)
    out = InceptionExtractor(weights_path=keras3)(images)
    assert set(out) == {"features", "logits"}
    logits = _reference(network, images)
    np.testing.assert_allclose(out["logits"], logits, rtol=0, atol=1e-4 * np.abs(logits).max())


def test_missing_weights_say_where_to_put_them(empty_keras_home):
    with pytest.raises(FileNotFoundError) as info:
        InceptionExtractor()
    message = str(info.value)
    for home in (empty_keras_home / "keras_home", empty_keras_home / "home" / ".keras"):
        assert str(home / "models" / INCEPTION_WEIGHTS_FILE) in message
    assert "--inception-weights" in message and "weights_path=" in message
    assert "efficientnet_lite0" in message


def test_missing_explicit_path_is_named(empty_keras_home):
    absent = str(empty_keras_home / "absent.h5")
    with pytest.raises(FileNotFoundError, match="absent.h5"):
        InceptionExtractor(weights_path=absent)


def test_wrong_files_are_clear_errors(empty_keras_home):
    small = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense")])
    legacy = str(empty_keras_home / "other" / INCEPTION_WEIGHTS_FILE)
    _save_legacy_h5(small, legacy)
    keras3 = str(empty_keras_home / "other.weights.h5")
    small.save_weights(keras3)
    text = empty_keras_home / "notes.h5"
    text.write_text("not weights")
    for path in (legacy, keras3, str(text)):
        with pytest.raises(ValueError, match="InceptionV3"):
            InceptionExtractor(weights_path=path)
