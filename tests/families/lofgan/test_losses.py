"""LoFGAN's losses on fixed inputs against hand-computed values and NumPy loops."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.families.lofgan.losses import (
    downsample,
    local_reconstruction_loss,
    lofgan_class_gradient_penalty,
    lofgan_classification_loss,
    lofgan_discriminator_adversarial_loss,
    lofgan_generator_adversarial_loss,
)


def test_hinge_losses_on_fixed_logits():
    real = np.array([2.0, 0.5, -1.0], np.float32)  # relu(1 - x): 0, 0.5, 2 -> mean 2.5 / 3
    fake = np.array([-2.0, 0.0], np.float32)  # relu(1 + x): 0, 1 -> mean 0.5
    assert float(lofgan_discriminator_adversarial_loss(real, fake)) == pytest.approx(2.5 / 3 + 0.5)
    assert float(lofgan_generator_adversarial_loss(fake)) == pytest.approx(1.0)


def test_classification_loss_is_the_cross_entropy():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]], np.float32)
    labels = np.array([0, 2])
    expected = np.mean([-np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(-1))), np.log(3.0)])
    assert float(lofgan_classification_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_class_gradient_penalty_is_the_official_calc_grad2():
    # D(x) = sum(w * x) per image: the gradient of mean over the batch of B
    # images is w / B for each image, so the penalty is B * sum(w**2) / B**2 / B.
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 4, 1)).astype(np.float32)
    images = tf.constant(rng.standard_normal((3, 4, 4, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = tf.reduce_sum(images * w, axis=(1, 2, 3))
        target = tf.reduce_mean(logits)
    penalty = float(lofgan_class_gradient_penalty(tape.gradient(target, images)))
    assert penalty == pytest.approx(3 * np.sum(w**2) / 9 / 3, rel=1e-5)


def test_downsample_is_the_mean_of_each_square():
    images = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_allclose(np.asarray(downsample(images, 2))[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_local_reconstruction_loss_against_numpy_loops():
    rng = np.random.default_rng(1)
    batch, k, side, channels = 2, 3, 4, 1
    shots = rng.uniform(-1, 1, (batch, k, 16, 16, channels)).astype(np.float32)
    generated = rng.uniform(-1, 1, (batch, 16, 16, channels)).astype(np.float32)
    chosen = np.array([[2, 0, 1], [1, 2, 0]], np.int32)  # base first
    positions = np.array([[0, 5, 9], [15, 3, 7]], np.int32)
    matched = rng.integers(0, side * side, (batch, k, 3)).astype(np.int32)
    matched[:, 0] = positions
    coefficients = rng.uniform(size=(batch, k)).astype(np.float32)
    coefficients /= coefficients.sum(axis=1, keepdims=True)
    fusion = dict(chosen=chosen, positions=positions, matched=matched, coefficients=coefficients)
    loss = float(local_reconstruction_loss(shots, generated, fusion, side=side))

    def small(image):  # mean of each 4x4 square, flattened row by row
        return image.reshape(side, 4, side, 4, channels).mean(axis=(1, 3)).reshape(side * side, channels)

    total = 0.0
    for b in range(batch):
        target = small(shots[b, chosen[b, 0]]).copy()
        for i, p in enumerate(positions[b]):
            target[p] = sum(coefficients[b, j] * small(shots[b, chosen[b, j]])[matched[b, j, i]] for j in range(k))
        total += np.abs(small(generated[b]) - target).mean()
    assert loss == pytest.approx(total / batch, rel=1e-5)


def test_local_reconstruction_loss_is_zero_for_the_fused_downsampled_image():
    # With all the weight on the base, the target is the downsampled base: an
    # image that downsamples to it scores 0, another does not.
    rng = np.random.default_rng(2)
    shots = rng.uniform(-1, 1, (1, 3, 8, 8, 1)).astype(np.float32)
    fusion = dict(chosen=np.array([[1, 0, 2]], np.int32), positions=np.array([[0, 3]], np.int32),
                  matched=np.array([[[0, 3], [1, 1], [2, 2]]], np.int32),
                  coefficients=np.array([[1.0, 0.0, 0.0]], np.float32))  # fmt: skip
    assert float(local_reconstruction_loss(shots, shots[:, 1], fusion, side=2)) == pytest.approx(0.0, abs=1e-7)
    assert float(local_reconstruction_loss(shots, shots[:, 0], fusion, side=2)) > 0.01
