import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import erf

from tests.harness import run_layer_test
from tfgen.families.transfer.networks import (
    DCGANDiscriminator,
    DCGANGenerator,
    InfoGANDiscriminator,
    InfoGANGenerator,
    infogan_codes,
    label_maps,
)


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def _reference_generator_params(resolution, channels, input_dim, width):
    """Bias-free DCGAN generator (PyTorch DCGAN example), counted layer by layer."""
    n = int(np.log2(resolution // 4))
    c = width * 2 ** (n - 1)
    total = input_dim * 16 * c + 2 * c  # 4x4 projection + BN
    for _ in range(n - 1):
        total += 16 * c * (c // 2) + 2 * (c // 2)  # transposed conv 4x4 + BN
        c //= 2
    return total + 16 * c * channels  # output transposed conv


def _reference_discriminator_params(resolution, in_channels, width):
    n = int(np.log2(resolution // 4))
    total = 16 * in_channels * width  # first conv, no BN
    c = width
    for _ in range(n - 1):
        total += 16 * c * 2 * c + 2 * 2 * c  # conv 4x4 + BN
        c *= 2
    return total + 16 * c  # 4x4 features -> 1 logit


def test_parameter_counts_match_the_pytorch_dcgan_example():
    # The PyTorch DCGAN example at 64 px RGB, nz=100, ngf=ndf=64: 3,576,704 / 2,765,568.
    assert _trainable_count(DCGANGenerator(resolution=64, channels=3)) == 3_576_704
    assert _trainable_count(DCGANDiscriminator(resolution=64, channels=3)) == 2_765_568


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_parameter_counts_match_the_layer_list(resolution, num_classes):
    g = DCGANGenerator(resolution=resolution, channels=3, latent_dim=7, width=4, num_classes=num_classes)
    d = DCGANDiscriminator(resolution=resolution, channels=3, width=4, num_classes=num_classes)
    assert _trainable_count(g) == _reference_generator_params(resolution, 3, 7 + num_classes, 4)
    assert _trainable_count(d) == _reference_discriminator_params(resolution, 3 + num_classes, 4)


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(resolution, channels):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 8)).astype("float32")
    labels = np.array([0, 1, 2])
    g = DCGANGenerator(resolution=resolution, channels=channels, latent_dim=8, width=4)
    d = DCGANDiscriminator(resolution=resolution, channels=channels, width=4)
    cg = DCGANGenerator(resolution=resolution, channels=channels, latent_dim=8, width=4, num_classes=3)
    cd = DCGANDiscriminator(resolution=resolution, channels=channels, width=4, num_classes=3)
    image_shape = (3, resolution, resolution, channels)
    for images in (g(z, training=True), cg(z, training=True), cg((z, labels))):
        assert images.shape == image_shape and images.dtype == "float32"
        values = _np(images)
        assert values.min() >= -1 and values.max() <= 1
    # (Only training outputs are sure to vary: at width 4, a fresh model's
    # inference-mode ReLUs can be all off.)
    assert _np(g(z, training=True)).std() > 0.01
    assert (g.latent_dim, g.resolution, g.channels) == (8, resolution, channels)
    assert d(_np(images)).shape == (3, 1)
    assert cd((_np(images), labels)).shape == (3, 1)

    ig = InfoGANGenerator(
        resolution=resolution, channels=channels, noise_dim=5, num_categories=4, num_continuous=2, width=4
    )
    idd = InfoGANDiscriminator(resolution=resolution, channels=channels, width=4, num_categories=4, num_continuous=2)
    assert ig.latent_dim == 11
    images = ig(rng.normal(size=(3, 11)).astype("float32"))
    assert images.shape == image_shape
    logits, category_logits, continuous_mean = idd(images)
    assert (logits.shape, category_logits.shape, continuous_mean.shape) == ((3, 1), (3, 4), (3, 2))
    assert all(t.dtype == "float32" for t in (logits, category_logits, continuous_mean))


def test_generator_harness_round_trips(tmp_path):
    z = np.random.default_rng(1).normal(size=(2, 8)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: DCGANGenerator(resolution=32, channels=1, latent_dim=8, width=4),
        z,
        expected_shape=(2, 32, 32, 1),
        call_kwargs={"training": True},
    )


def test_discriminator_harness_round_trips(tmp_path):
    images = np.random.default_rng(2).uniform(-1, 1, size=(2, 32, 32, 3)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: DCGANDiscriminator(resolution=32, channels=3, width=4),
        images,
        expected_shape=(2, 1),
        call_kwargs={"training": True},
    )


def test_conditional_models_round_trip_with_label_inputs(tmp_path):
    rng = np.random.default_rng(3)
    z = rng.normal(size=(2, 8)).astype("float32")
    labels = np.array([1, 2], dtype="int32")
    run_layer_test(
        tmp_path,
        lambda: DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=3, sample_class=2),
        (z, labels),
        expected_shape=(2, 32, 32, 1),
        call_kwargs={"training": True},
    )
    images = rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: DCGANDiscriminator(resolution=32, width=4, num_classes=3),
        (images, labels),
        expected_shape=(2, 1),
        call_kwargs={"training": True},
    )


def test_infogan_harness_round_trips(tmp_path):
    rng = np.random.default_rng(4)
    run_layer_test(
        tmp_path,
        lambda: InfoGANGenerator(resolution=32, noise_dim=5, num_categories=3, num_continuous=2, width=4),
        rng.normal(size=(2, 10)).astype("float32"),
        expected_shape=(2, 32, 32, 1),
        call_kwargs={"training": True},
    )
    run_layer_test(
        tmp_path,
        lambda: InfoGANDiscriminator(resolution=32, width=4, num_categories=3, num_continuous=2),
        rng.uniform(-1, 1, size=(2, 32, 32, 1)).astype("float32"),
        expected_shape=((2, 1), (2, 3), (2, 2)),
        call_kwargs={"training": True},
    )


def _lively(model, seed=0):
    """Redraw the kernels at about unit gain. With DCGAN's N(0, 0.02) weights
    and fresh batch-norm statistics, an untrained model's inference outputs
    are ~1e-5, too small for comparisons to mean anything."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_weights:
        if v.path.endswith("kernel"):
            fan_in = np.prod(v.shape[:-1]) if len(v.shape) == 2 else np.prod(v.shape[:2]) * v.shape[-1]
            v.assign(rng.normal(size=v.shape).astype("float32") * 2 / np.sqrt(fan_in))
    return model


def test_conditional_generator_labels():
    g = _lively(DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=4))
    z = np.random.default_rng(5).normal(size=(6, 8)).astype("float32")
    zeros, threes = (_np(g((z, np.full(6, k)))) for k in (0, 3))
    assert np.abs(zeros).mean() > 0.01
    assert np.abs(zeros - threes).max() > 0.01  # the label changes the image
    # z alone, sample_class None: row i gets class i mod 4.
    np.testing.assert_allclose(_np(g(z)), _np(g((z, np.arange(6) % 4))), rtol=0, atol=1e-6)
    # Also when the batch size is only known at run time (a traced step).
    traced = tf.function(lambda x: g(x), input_signature=[tf.TensorSpec([None, 8], "float32")])
    np.testing.assert_allclose(traced(z).numpy(), _np(g((z, np.arange(6) % 4))), rtol=0, atol=1e-6)
    # z alone with sample_class=k: every row gets k.
    g.sample_class = 3
    np.testing.assert_allclose(_np(g(z)), threes, rtol=0, atol=1e-6)
    fixed = DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=4, sample_class=1)
    fixed.set_weights(g.get_weights())
    np.testing.assert_allclose(_np(fixed(z)), _np(g((z, np.ones(6, "int32")))), rtol=0, atol=1e-6)
    assert fixed.get_config()["sample_class"] == 1


def test_conditional_discriminator_sees_the_labels():
    d = _lively(DCGANDiscriminator(resolution=32, width=4, num_classes=3))
    images = np.random.default_rng(6).uniform(-1, 1, size=(4, 32, 32, 1)).astype("float32")
    a = _np(d((images, np.zeros(4, "int32"))))
    b = _np(d((images, np.full(4, 2, "int32"))))
    assert np.abs(a - b).max() > 0.01 * np.abs(a).max() > 0


def test_label_maps_match_numpy():
    labels = np.array([2, 0, 1])
    got = _np(label_maps(labels, 4, 8))
    want = np.broadcast_to(np.eye(4, dtype="float32")[labels][:, None, None, :], (3, 8, 8, 4))
    np.testing.assert_array_equal(got, want)


def test_batch_norm_follows_the_training_flag():
    g = DCGANGenerator(resolution=32, latent_dim=8, width=4)
    z = np.random.default_rng(7).normal(size=(4, 8)).astype("float32")
    moving = g.trunk.project_bn.moving_mean
    before = _np(moving).copy()
    inference = _np(g(z))
    np.testing.assert_array_equal(_np(moving), before)  # inference leaves the statistics alone
    training = _np(g(z, training=True))
    assert np.abs(_np(moving) - before).max() > 0  # training updates them
    assert np.abs(training - inference).max() > 1e-4  # batch statistics vs moving ones


def test_infogan_codes_match_numpy_and_have_the_promised_distributions():
    noise_dim, categories, continuous = 3, 10, 2
    z = np.random.default_rng(8).normal(size=(10_000, noise_dim + categories + continuous)).astype("float32")
    category, codes = infogan_codes(z, noise_dim=noise_dim, num_categories=categories, num_continuous=continuous)
    category, codes = _np(category), _np(codes)
    assert category.dtype == np.int32 and category.shape == (10_000,)
    assert codes.dtype == np.float32 and codes.shape == (10_000, continuous)
    np.testing.assert_array_equal(category, np.argmax(z[:, noise_dim : noise_dim + categories], axis=1))
    np.testing.assert_allclose(codes, erf(z[:, -continuous:] / np.sqrt(2)), rtol=0, atol=1e-6)
    shares = np.bincount(category, minlength=categories) / len(category)
    np.testing.assert_allclose(shares, 1 / categories, atol=0.02)
    assert codes.min() > -1 and codes.max() < 1
    np.testing.assert_allclose(codes.mean(axis=0), 0.0, atol=0.03)
    np.testing.assert_allclose(codes.var(axis=0), 1 / 3, atol=0.02)  # U(-1, 1)


def test_infogan_codes_without_one_kind_of_code():
    z = np.random.default_rng(9).normal(size=(4, 7)).astype("float32")
    category, codes = infogan_codes(z, noise_dim=5, num_categories=0, num_continuous=2)
    np.testing.assert_array_equal(_np(category), np.zeros(4))
    assert _np(category).dtype == np.int32
    np.testing.assert_allclose(_np(codes), erf(z[:, 5:] / np.sqrt(2)), atol=1e-6)
    category, codes = infogan_codes(z, noise_dim=5, num_categories=2, num_continuous=0)
    np.testing.assert_array_equal(_np(category), np.argmax(z[:, 5:], axis=1))
    assert _np(codes).shape == (4, 0)  # not z[:, -0:], which would be all of z
    with pytest.raises(ValueError, match=r"= 8 entries.*Received: z.shape=\(4, 7\)"):
        infogan_codes(z, noise_dim=5, num_categories=2, num_continuous=1)


def test_infogan_generator_feeds_the_trunk_the_codes():
    g = _lively(InfoGANGenerator(resolution=32, noise_dim=5, num_categories=3, num_continuous=2, width=4))
    z = np.random.default_rng(10).normal(size=(4, 10)).astype("float32")
    hand_built = np.concatenate(
        [z[:, :5], np.eye(3, dtype="float32")[np.argmax(z[:, 5:8], axis=1)], erf(z[:, 8:] / np.sqrt(2))], axis=1
    ).astype("float32")
    images = _np(g(z))
    assert np.abs(images).mean() > 0.01
    np.testing.assert_allclose(images, _np(g.trunk(hand_built)), rtol=0, atol=1e-6)
    # Another category, or other continuous codes, give other images.
    other = hand_built.copy()
    other[:, 5:8] = np.roll(other[:, 5:8], 1, axis=1)
    assert np.abs(_np(g.trunk(other)) - images).max() > 0.01
    other = z.copy()
    other[:, 8:] = -other[:, 8:]
    assert np.abs(_np(g(other)) - images).max() > 0.01
    # from_codes with the same codes is the same map.
    category, codes = g.codes(z)
    np.testing.assert_allclose(_np(g.from_codes(z[:, :5], category, codes)), _np(g(z)), rtol=0, atol=1e-6)
    # Only the categorical slice's argmax matters, not its values.
    bumped = z.copy()
    bumped[np.arange(4), 5 + np.argmax(z[:, 5:8], axis=1)] += 1.0
    np.testing.assert_allclose(_np(g(bumped)), _np(g(z)), rtol=0, atol=1e-6)


def test_infogan_models_without_one_kind_of_code():
    g = InfoGANGenerator(resolution=32, noise_dim=4, num_categories=0, num_continuous=2, width=4)
    assert g.latent_dim == 6
    images = g(np.random.default_rng(11).normal(size=(2, 6)).astype("float32"))
    d = InfoGANDiscriminator(resolution=32, width=4, num_categories=5, num_continuous=0)
    logits, category_logits, continuous_mean = d(images)
    assert (logits.shape, category_logits.shape, continuous_mean.shape) == ((2, 1), (2, 5), (2, 0))


def test_invalid_arguments_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="Received: resolution=48"):
        DCGANGenerator(resolution=48)
    with pytest.raises(ValueError, match="Received: resolution=128"):
        InfoGANDiscriminator(resolution=128)
    with pytest.raises(ValueError, match="Received: channels=2"):
        DCGANDiscriminator(channels=2)
    with pytest.raises(ValueError, match="Received: channels=4"):
        InfoGANGenerator(channels=4)
    with pytest.raises(ValueError, match="Received: num_classes=-1"):
        DCGANGenerator(num_classes=-1)
    with pytest.raises(ValueError, match="Received: sample_class=3"):
        DCGANGenerator(num_classes=3, sample_class=3)
    with pytest.raises(ValueError, match="num_classes=0"):
        DCGANGenerator(sample_class=0)
    with pytest.raises(ValueError, match="not both be 0"):
        InfoGANGenerator(num_categories=0, num_continuous=0)
    with pytest.raises(ValueError, match="Received: num_continuous=-1"):
        InfoGANDiscriminator(num_continuous=-1)

    z = np.zeros((2, 8), "float32")
    images = np.zeros((2, 32, 32, 1), "float32")
    labels = np.zeros(2, "int32")
    with pytest.raises(ValueError, match="unconditional.*received labels"):
        DCGANGenerator(latent_dim=8, width=4)((z, labels))
    with pytest.raises(ValueError, match="unconditional.*received labels"):
        DCGANDiscriminator(width=4)((images, labels))
    with pytest.raises(ValueError, match=r"conditional \(num_classes=3\).*D\(\(images, labels\)\)"):
        DCGANDiscriminator(width=4, num_classes=3)(images)
    with pytest.raises(ValueError, match="images only"):
        InfoGANDiscriminator(width=4)((images, labels))


def test_weights_of_another_configuration_are_refused(tmp_path):
    path = str(tmp_path / "g.weights.h5")
    DCGANGenerator(latent_dim=8, width=4, num_classes=3).save_weights(path)
    DCGANGenerator(latent_dim=8, width=4, num_classes=3).load_weights(path)  # built: loads at once
    with pytest.raises(ValueError, match="does not fit"):
        DCGANGenerator(latent_dim=8, width=4, num_classes=4).load_weights(path)
