import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.harness import run_layer_test
from tfgen.families.figr.networks import FIGRCritic, FIGRGenerator


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def _trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def _conv(cin, cout, k):
    return k * k * cin * cout + cout  # torch Conv2d with bias


def _layer_norm(c, h, w):
    return 2 * c * h * w  # torch LayerNorm([C, H, W]): weight and bias per element


def _reference_generator_params(resolution, channels, latent_dim, width, blocks=4):
    """Parameters of LuEE-C/FIGR's ResNetGenerator, counted from its layer list."""
    mult = 2**blocks
    n = width * mult * (resolution // mult) ** 2
    total = latent_dim * n + n + n + 2 * n  # initial_linear, initial_activ (PReLU(n)), initial_norm
    for i in range(blocks):
        c = width * 2 ** (blocks - i)
        h = resolution // 2 ** (blocks - i)
        total += 4 * (_conv(c, c, 3) + c + _layer_norm(c, h, h))  # convs1..4, activ1..4, norm1..4
        total += _conv(c, c // 2, 3) + c // 2 + _layer_norm(c // 2, h, h)  # transitions
    return total + _conv(width, channels, 5)  # final_conv


def _reference_critic_params(resolution, channels, width, blocks=4):
    """Parameters of LuEE-C/FIGR's ResNetDiscriminator, counted from its layer list."""
    total = _conv(channels, width, 7) + width + _layer_norm(width, resolution, resolution)
    for i in range(blocks):
        c = width * 2**i
        h = resolution // 2**i
        total += 4 * (_conv(c, c, 3) + c + _layer_norm(c, h, h))
        total += _conv(c, 2 * c, 3) + 2 * c + _layer_norm(2 * c, h, h)
    return total + width * 2**blocks + 1  # final_linear


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_parameter_counts_shapes_and_ranges(resolution, channels):
    generator = FIGRGenerator(resolution=resolution, channels=channels, latent_dim=8, width=4)
    critic = FIGRCritic(resolution=resolution, channels=channels, width=4)
    assert _trainable_count(generator) == _reference_generator_params(resolution, channels, 8, 4)
    assert _trainable_count(critic) == _reference_critic_params(resolution, channels, 4)
    assert _trainable_count(generator) == generator.count_params()  # nothing non-trainable
    assert (generator.resolution, generator.channels, generator.latent_dim) == (resolution, channels, 8)
    z = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    images = generator(z)
    assert images.shape == (3, resolution, resolution, channels)
    assert images.dtype == "float32"
    values = keras.ops.convert_to_numpy(images)
    assert values.min() >= -1.0 and values.max() <= 1.0 and values.std() > 0
    scores = critic(images)
    assert scores.shape == (3, 1) and scores.dtype == "float32"


def test_generator_harness_round_trips(tmp_path):
    z = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: FIGRGenerator(resolution=32, channels=1, latent_dim=8, width=4),
        z,
        expected_shape=(2, 32, 32, 1),
    )


def test_critic_harness_round_trips(tmp_path):
    images = np.random.default_rng(2).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: FIGRCritic(resolution=32, channels=3, width=4),
        images,
        expected_shape=(2, 1),
    )


def test_outputs_are_independent_of_the_rest_of_the_batch():
    # Layer norm is per sample: Reptile's 4-image tasks and the per-sample
    # gradient penalty rely on it (batch norm would fail this).
    rng = np.random.default_rng(3)
    generator = FIGRGenerator(resolution=32, latent_dim=8, width=4)
    critic = FIGRCritic(resolution=32, width=4)
    z = rng.normal(size=(2, 8)).astype("float32")
    other = z.copy()
    other[1] = rng.normal(size=8) * 5
    a, b = (keras.ops.convert_to_numpy(generator(v, training=True)) for v in (z, other))
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-6)
    assert np.abs(a[1] - b[1]).max() > 1e-3
    images = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32")
    changed = images.copy()
    changed[1] = -changed[1]
    a, b = (keras.ops.convert_to_numpy(critic(v, training=True)) for v in (images, changed))
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-6)
    assert a[1, 0] != b[1, 0]
    # A single image gives the same score as inside a batch.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(critic(images[:1]))[0], a[0], rtol=0, atol=1e-5)


def test_layer_norm_normalises_each_sample_over_height_width_and_channels():
    critic = FIGRCritic(resolution=32, width=4)
    rng = np.random.default_rng(4)
    # Samples of very different scale and offset: each is normalised by its own statistics.
    images = np.stack([rng.uniform(-1, 1, size=(32, 32, 1)), 0.01 * rng.uniform(size=(32, 32, 1)) + 0.5])
    stem = keras.ops.convert_to_numpy(critic.stem(images.astype("float32")))  # gamma 1, beta 0 at init
    mean = stem.reshape(2, -1).mean(axis=1)
    std = stem.reshape(2, -1).std(axis=1)
    np.testing.assert_allclose(mean, 0.0, atol=1e-4)
    np.testing.assert_allclose(std, 1.0, atol=1e-2)  # eps 1e-5 shrinks it a little for tiny variances


def test_initialisation_follows_torch_defaults():
    generator = FIGRGenerator(resolution=32, latent_dim=8, width=4)
    alphas = [v for v in generator.weights if v.path.endswith("alpha")]
    assert alphas and all(np.all(keras.ops.convert_to_numpy(a) == 0.25) for a in alphas)
    kernel = keras.ops.convert_to_numpy(generator.stem_dense.kernel)
    bias = keras.ops.convert_to_numpy(generator.stem_dense.bias)
    bound = 1 / np.sqrt(8)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound
    assert np.abs(bias).max() <= bound and np.abs(bias).std() > 0


def test_critic_is_differentiable_with_respect_to_its_input():
    # The WGAN-GP gradient penalty needs d critic / d images at interpolates.
    critic = FIGRCritic(resolution=32, channels=3, width=4)
    images = tf.constant(np.random.default_rng(5).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(images)
        scores = critic(images, training=True)
    gradients = tape.gradient(scores, images)
    assert gradients is not None
    values = gradients.numpy()
    assert values.shape == (2, 32, 32, 3)
    assert np.all(np.isfinite(values)) and np.abs(values).max() > 0
    # And the gradient of the penalty itself reaches the critic's weights.
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(images)
            scores = critic(images, training=True)
        norm = tf.norm(tf.reshape(inner.gradient(scores, images), (2, -1)), axis=1)
        penalty = tf.reduce_mean((norm - 1.0) ** 2)
    # (Kernels only: the last shifts, the final LayerNorm's beta and the score's
    # bias, do not change d score / d images, so their gradient is None.)
    weights = [v for v in critic.trainable_weights if v.path.endswith("kernel")]
    weight_gradients = outer.gradient(penalty, weights)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in weight_gradients)


def test_invalid_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="Received: resolution=48"):
        FIGRGenerator(resolution=48)
    with pytest.raises(ValueError, match="Received: resolution=128"):
        FIGRCritic(resolution=128)
    with pytest.raises(ValueError, match="Received: channels=2"):
        FIGRGenerator(channels=2)
    with pytest.raises(ValueError, match="Received: channels=4"):
        FIGRCritic(channels=4)
    with pytest.raises(ValueError, match="Received: width=0"):
        FIGRCritic(width=0)
    with pytest.raises(ValueError, match="Received: latent_dim=0"):
        FIGRGenerator(latent_dim=0)


def test_weights_of_another_width_are_refused(tmp_path):
    path = str(tmp_path / "g.weights.h5")
    FIGRGenerator(resolution=32, latent_dim=8, width=4).save_weights(path)
    fresh = FIGRGenerator(resolution=32, latent_dim=8, width=4)
    fresh.load_weights(path)  # built in the constructor: loads without a call
    with pytest.raises(ValueError, match="does not fit"):
        FIGRGenerator(resolution=32, latent_dim=8, width=8).load_weights(path)
