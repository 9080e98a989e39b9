"""Tests for tfgen.losses against hand-computed numpy values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen import losses

LOGITS = np.array([[-2.0, -0.5], [0.0, 0.3], [0.85, 1.5]], np.float32)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


# --- hinge (FastGAN) -------------------------------------------------------


def test_hinge_real_loss_saturated_values():
    # relu(m - x) with m in [0.8, 1]: 0 for huge logits, m + 10 for x = -10.
    assert float(losses.hinge_discriminator_real_loss(np.full([64], 10.0, np.float32), seed=1)) == 0.0
    value = float(losses.hinge_discriminator_real_loss(np.full([64], -10.0, np.float32), seed=1))
    assert 10.8 <= value <= 11.0


def test_hinge_fake_loss_saturated_values():
    assert float(losses.hinge_discriminator_fake_loss(np.full([64], -10.0, np.float32), seed=1)) == 0.0
    value = float(losses.hinge_discriminator_fake_loss(np.full([64], 10.0, np.float32), seed=1))
    assert 10.8 <= value <= 11.0


def test_hinge_losses_match_formula_with_the_same_uniform_draws():
    seed = 3
    u = _np(keras.random.uniform(LOGITS.shape, seed=seed))
    expected_real = np.maximum(u * 0.2 + 0.8 - LOGITS, 0).mean()
    expected_fake = np.maximum(u * 0.2 + 0.8 + LOGITS, 0).mean()
    np.testing.assert_allclose(
        float(losses.hinge_discriminator_real_loss(LOGITS, seed=seed)), expected_real, rtol=1e-6
    )
    np.testing.assert_allclose(
        float(losses.hinge_discriminator_fake_loss(LOGITS, seed=seed)), expected_fake, rtol=1e-6
    )


def test_hinge_losses_expectation_is_margin_0_9():
    # For logits below 0.8 the margin is always active: E = mean(0.9 - x).
    x = np.linspace(-2.0, 0.79, 200_000, dtype=np.float32)
    real = float(losses.hinge_discriminator_real_loss(x, seed=0))
    fake = float(losses.hinge_discriminator_fake_loss(-x, seed=0))
    expected = np.mean(0.9 - x)
    assert abs(real - expected) < 2e-3
    assert abs(fake - expected) < 2e-3


def test_hinge_seed_reproducibility():
    a = losses.hinge_discriminator_real_loss(LOGITS, seed=11)
    b = losses.hinge_discriminator_real_loss(LOGITS, seed=11)
    c = losses.hinge_discriminator_real_loss(LOGITS, seed=12)
    assert float(a) == float(b)
    assert float(a) != float(c)
    # A SeedGenerator advances: two calls differ, two equal generators agree.
    g1, g2 = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)
    first = [float(losses.hinge_discriminator_fake_loss(LOGITS, seed=g1)) for _ in range(2)]
    second = [float(losses.hinge_discriminator_fake_loss(LOGITS, seed=g2)) for _ in range(2)]
    assert first[0] != first[1]
    assert first == second


def test_hinge_generator_loss():
    np.testing.assert_allclose(float(losses.hinge_generator_loss(LOGITS)), -LOGITS.mean(), rtol=1e-6)


def test_hinge_losses_in_tf_function_with_dynamic_batch():
    seed = keras.random.SeedGenerator(0)

    @tf.function(input_signature=[tf.TensorSpec([None, 5], tf.float32)])
    def step(logits):
        return (
            losses.hinge_discriminator_real_loss(logits, seed=seed),
            losses.hinge_discriminator_fake_loss(logits, seed=seed),
        )

    real, fake = step(tf.fill([3, 5], -10.0))
    assert 10.8 <= float(real) <= 11.0 and float(fake) == 0.0
    real, fake = step(tf.fill([2, 5], 10.0))
    assert float(real) == 0.0 and 10.8 <= float(fake) <= 11.0


# --- reconstruction --------------------------------------------------------


def test_reconstruction_loss_l1_l2():
    rng = np.random.default_rng(0)
    pred = rng.uniform(-1, 1, [2, 4, 4, 3]).astype(np.float32)
    target = rng.uniform(-1, 1, [2, 4, 4, 3]).astype(np.float32)
    np.testing.assert_allclose(
        float(losses.reconstruction_loss(pred, target)), np.abs(pred - target).mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(losses.reconstruction_loss(pred, target, kind="l2")),
        np.square(pred - target).mean(),
        rtol=1e-6,
    )


def test_reconstruction_loss_perceptual_hook():
    pred = np.zeros([2, 4, 4, 3], np.float32)
    target = np.ones([2, 4, 4, 3], np.float32)
    calls = []

    def perceptual(p, t):
        calls.append(keras.backend.standardize_dtype(p.dtype))
        calls.append(keras.backend.standardize_dtype(t.dtype))
        return keras.ops.convert_to_tensor([1.0, 3.0])  # one distance per sample

    value = losses.reconstruction_loss(
        pred, target, perceptual_fn=perceptual, perceptual_weight=0.5
    )
    np.testing.assert_allclose(float(value), 1.0 + 0.5 * 2.0, rtol=1e-6)
    only = losses.reconstruction_loss(pred, target, kind=None, perceptual_fn=perceptual)
    np.testing.assert_allclose(float(only), 2.0, rtol=1e-6)
    assert set(calls) == {"float32"}


def test_reconstruction_loss_bad_kind():
    x = np.zeros([1, 2, 2, 3], np.float32)
    with pytest.raises(ValueError, match="Received: kind='l3'"):
        losses.reconstruction_loss(x, x, kind="l3")
    with pytest.raises(ValueError, match="perceptual_fn"):
        losses.reconstruction_loss(x, x, kind=None)


# --- non-saturating / wasserstein ------------------------------------------


def test_non_saturating_losses():
    real, fake = LOGITS, LOGITS[::-1] * 0.7
    np.testing.assert_allclose(
        float(losses.non_saturating_generator_loss(fake)), _softplus(-fake).mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(losses.non_saturating_discriminator_loss(real, fake)),
        _softplus(-real).mean() + _softplus(fake).mean(),
        rtol=1e-6,
    )
    # Label smoothing: sigmoid cross-entropy with real target 0.9.
    s = 1 / (1 + np.exp(-real))
    t = 0.9
    expected_real = -(t * np.log(s) + (1 - t) * np.log(1 - s)).mean()
    np.testing.assert_allclose(
        float(losses.non_saturating_discriminator_loss(real, fake, label_smoothing=0.1)),
        expected_real + _softplus(fake).mean(),
        rtol=1e-5,
    )


def test_non_saturating_generator_loss_known_value():
    # -log(sigmoid(0)) = log 2.
    np.testing.assert_allclose(
        float(losses.non_saturating_generator_loss(np.zeros([4]))), math.log(2), rtol=1e-6
    )


def test_wasserstein_losses():
    real, fake = LOGITS, LOGITS * 2 - 1
    np.testing.assert_allclose(
        float(losses.wasserstein_generator_loss(fake)), -fake.mean(), rtol=1e-6
    )
    np.testing.assert_allclose(
        float(losses.wasserstein_discriminator_loss(real, fake)),
        fake.mean() - real.mean(),
        rtol=1e-6,
    )


# --- gradient penalty ------------------------------------------------------


def _linear_critic(w):
    w = tf.convert_to_tensor(w)

    def critic(x):
        return tf.reduce_sum(x * w, axis=[1, 2, 3])

    return critic


def test_gradient_penalty_linear_critic():
    rng = np.random.default_rng(0)
    real = rng.normal(size=[3, 4, 4, 2]).astype(np.float32)
    fake = rng.normal(size=[3, 4, 4, 2]).astype(np.float32)
    w = rng.normal(size=[1, 4, 4, 2]).astype(np.float32)
    expected = (np.linalg.norm(w) - 1) ** 2
    np.testing.assert_allclose(
        float(losses.gradient_penalty(_linear_critic(w), real, fake, seed=0)), expected, rtol=1e-5
    )
    unit = w / np.linalg.norm(w)
    assert abs(float(losses.gradient_penalty(_linear_critic(unit), real, fake, seed=0))) < 1e-10


def test_gradient_penalty_is_per_sample():
    # Critic sum(x^2) has gradient 2x; with real == fake the interpolate is x.
    x = np.zeros([2, 2, 2, 1], np.float32)
    x[0] = 0.1
    x[1] = 1.0
    norms = 2 * np.sqrt((x.reshape(2, -1) ** 2).sum(1))
    expected = np.mean((norms - 1) ** 2)
    value = losses.gradient_penalty(lambda v: tf.reduce_sum(v * v, axis=[1, 2, 3]), x, x, seed=0)
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


def test_gradient_penalty_interpolates_with_uniform_weights_per_sample():
    seen = []

    def critic(v):
        seen.append(v)
        return tf.reduce_sum(v, axis=[1, 2, 3])

    real = np.ones([64, 2, 2, 1], np.float32)
    fake = np.zeros([64, 2, 2, 1], np.float32)
    losses.gradient_penalty(critic, real, fake, seed=4)
    eps = seen[0].numpy()  # = eps * 1 + (1 - eps) * 0
    per_sample = eps.reshape(64, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1] * np.ones_like(per_sample))
    assert per_sample.min() >= 0.0 and per_sample.max() <= 1.0
    assert per_sample[:, 0].std() > 0.15  # U[0, 1] has std 0.29


def test_gradient_penalty_double_backprop_in_tf_function():
    w = tf.Variable(np.full([1, 2, 2, 1], 0.8, np.float32))  # ||w|| = 1.6
    real = tf.random.normal([2, 2, 2, 1], seed=1)
    fake = tf.random.normal([2, 2, 2, 1], seed=2)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            penalty = losses.gradient_penalty(
                lambda v: tf.reduce_sum(v * w, axis=[1, 2, 3]), real, fake, seed=0
            )
        return penalty, tape.gradient(penalty, w)

    penalty, grad = step()
    norm = 1.6
    np.testing.assert_allclose(float(penalty), (norm - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), 2 * (norm - 1) * w.numpy() / norm, rtol=1e-5)


# --- InfoGAN ----------------------------------------------------------------


def test_info_categorical_loss():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    labels = np.array([0, 1])
    log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -log_probs[np.arange(2), labels].mean()
    np.testing.assert_allclose(float(losses.info_categorical_loss(logits, labels)), expected, rtol=1e-6)
    one_hot = np.eye(3, dtype=np.float32)[labels]
    np.testing.assert_allclose(float(losses.info_categorical_loss(logits, one_hot)), expected, rtol=1e-6)


def test_info_continuous_loss():
    mean = np.array([[0.0, 1.0], [0.5, -0.5]], np.float32)
    codes = np.array([[0.3, 0.2], [-1.0, 0.0]], np.float32)
    log_std = np.array([[0.0, -0.5], [0.2, 0.1]], np.float32)
    std = np.exp(log_std)
    logpdf = -0.5 * np.log(2 * np.pi) - log_std - 0.5 * ((codes - mean) / std) ** 2
    np.testing.assert_allclose(
        float(losses.info_continuous_loss(mean, codes, log_std)), -logpdf.sum(1).mean(), rtol=1e-5
    )
    unit = 0.5 * np.log(2 * np.pi) + 0.5 * (codes - mean) ** 2
    np.testing.assert_allclose(
        float(losses.info_continuous_loss(mean, codes)), unit.sum(1).mean(), rtol=1e-5
    )


def test_info_loss_sums_parts_and_checks_arguments():
    logits = np.array([[1.0, 0.0]], np.float32)
    labels = np.array([1])
    mean = np.zeros([1, 2], np.float32)
    codes = np.ones([1, 2], np.float32)
    total = losses.info_loss(
        categorical_logits=logits,
        categorical_codes=labels,
        continuous_mean=mean,
        continuous_codes=codes,
        continuous_weight=0.5,
    )
    expected = float(losses.info_categorical_loss(logits, labels)) + 0.5 * float(
        losses.info_continuous_loss(mean, codes)
    )
    np.testing.assert_allclose(float(total), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="Received none"):
        losses.info_loss()
    with pytest.raises(ValueError, match="categorical_codes"):
        losses.info_loss(categorical_logits=logits)


# --- mixed precision ---------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_losses_return_float32_for_low_precision_inputs(dtype):
    x = keras.ops.cast(LOGITS, dtype)
    img = keras.ops.cast(np.zeros([1, 2, 2, 3], np.float32), dtype)
    outputs = [
        losses.hinge_discriminator_real_loss(x, seed=0),
        losses.hinge_discriminator_fake_loss(x, seed=0),
        losses.hinge_generator_loss(x),
        losses.reconstruction_loss(img, img),
        losses.reconstruction_loss(img, img, kind="l2"),
        losses.non_saturating_generator_loss(x),
        losses.non_saturating_discriminator_loss(x, x),
        losses.wasserstein_generator_loss(x),
        losses.wasserstein_discriminator_loss(x, x),
        losses.gradient_penalty(lambda v: tf.reduce_sum(v, axis=[1, 2, 3]), img, img, seed=0),
        losses.info_categorical_loss(x, np.array([0, 1, 0])),
        losses.info_continuous_loss(x, x),
    ]
    for out in outputs:
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        assert tuple(out.shape) == ()
    # The bfloat16 logits are close to LOGITS, so the value is too.
    np.testing.assert_allclose(float(outputs[2]), -LOGITS.mean(), atol=1e-2)


def test_stylegan_losses_known_values():
    # softplus(0) = log 2; softplus(-log 3) = log(4/3); softplus(log 3) = log 4.
    real_term, fake_term = losses.stylegan_discriminator_loss(np.array([0.0, np.log(3.0)]), np.array([0.0, -np.log(3.0)]))
    np.testing.assert_allclose(float(real_term), (np.log(2.0) + np.log(4.0 / 3.0)) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(fake_term), (np.log(2.0) + np.log(4.0 / 3.0)) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(losses.stylegan_generator_loss(np.array([np.log(3.0)]))), np.log(4.0 / 3.0), rtol=1e-6)


def test_r1_penalty_is_the_mean_squared_gradient_norm():
    gradients = np.zeros((2, 2, 2, 1), np.float32)
    gradients[0, 0, 0, 0], gradients[0, 1, 1, 0] = 3.0, 4.0  # |g_0|^2 = 25
    gradients[1, 0, 1, 0] = 1.0  # |g_1|^2 = 1
    np.testing.assert_allclose(float(losses.r1_penalty(gradients)), 13.0, rtol=1e-6)
    # Of D(x) = sum(w * x): the gradient is w for every image.
    w = tf.constant(np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2))
    x = tf.random.normal((3, 2, 2, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(w * x)
    np.testing.assert_allclose(float(losses.r1_penalty(tape.gradient(total, x))), float(np.sum(np.arange(8) ** 2)), rtol=1e-6)


def test_adain_reconstruction_loss():
    images, shots = np.full((2, 2, 2, 1), 0.5, np.float32), np.zeros((2, 2, 2, 1), np.float32)
    loss, perceptual, l1 = losses.adain_reconstruction_loss(images, shots)
    assert float(loss) == float(l1) == 0.5 and float(perceptual) == 0.0
    loss, perceptual, l1 = losses.adain_reconstruction_loss(images, shots, np.array([1.0, 3.0]), 0.25)
    np.testing.assert_allclose([float(loss), float(perceptual), float(l1)], [0.25 * 2.0 + 0.75 * 0.5, 2.0, 0.5])


def test_interpolation_loss_weights_each_end_by_distance():
    images = np.full((2, 1, 1, 1), 0.2, np.float32)
    x_i, x_j = np.zeros_like(images), np.ones_like(images)
    # t = 0: all weight on |G - x_i| = 0.2; t = 1: on |G - x_j| = 0.8.
    np.testing.assert_allclose(float(losses.interpolation_loss(images, x_i, x_j, np.array([0.0, 1.0]))), 0.5, rtol=1e-6)
    np.testing.assert_allclose(float(losses.interpolation_loss(images, x_i, x_j, np.array([0.5, 0.5]))), 0.5, rtol=1e-6)
    np.testing.assert_allclose(float(losses.interpolation_loss(images, x_i, x_j, np.array([0.25, 0.25]))), 0.75 * 0.2 + 0.25 * 0.8, rtol=1e-6)


def test_gem_feature_loss_sums_blocks():
    a = [np.ones((2, 3)), np.full((1, 4), 2.0)]
    b = [np.zeros((2, 3)), np.zeros((1, 4))]
    np.testing.assert_allclose(float(losses.gem_feature_loss(a, b, "l1")), 1.0 + 2.0)
    np.testing.assert_allclose(float(losses.gem_feature_loss(a, b, "l2")), 1.0 + 4.0)
    with pytest.raises(ValueError, match="'l1' or 'l2'"):
        losses.gem_feature_loss(a, b, "l3")
