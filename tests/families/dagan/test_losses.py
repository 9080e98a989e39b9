"""DAGAN's losses on fixed tensors against hand-computed values."""

import numpy as np
import pytest
import tensorflow as tf

from tfgen.families.dagan.losses import (
    MODE_SEEKING_EPSILON,
    dagan_critic_loss,
    dagan_generator_loss,
    dagan_gradient_penalty,
    mode_seeking_loss,
)


def test_wasserstein_losses_on_fixed_scores():
    real = np.array([1.0, 2.0, 3.0], np.float32)  # D(x, x'): mean 2
    fake = np.array([0.5, -1.0], np.float32)  # D(x, G(x, z)): mean -0.25
    assert float(dagan_critic_loss(real, fake)) == pytest.approx(-0.25 - 2.0)
    assert float(dagan_generator_loss(fake)) == pytest.approx(0.25)


class ToyCritic:
    """score_pairs(x, c) = sum over the image of x * c**2 / 2: its gradient with
    respect to the candidate c is x * c, so it depends on both images."""

    def score_pairs(self, images, candidates, training=False):
        return tf.reduce_sum(images * tf.square(candidates) / 2.0, axis=(1, 2, 3))


def test_gradient_penalty_is_taken_at_the_interpolated_candidate_with_x_fixed():
    rng = np.random.default_rng(0)
    x, real, fake = (rng.uniform(-1, 1, (3, 2, 2, 1)).astype(np.float32) for _ in range(3))
    eps = np.array([0.0, 0.25, 1.0], np.float32)
    candidates = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    norms = np.sqrt(np.sum((x * candidates) ** 2, axis=(1, 2, 3)))
    expected = np.mean((norms - 1.0) ** 2)
    found = float(dagan_gradient_penalty(ToyCritic(), x, real, fake, eps=eps))
    assert found == pytest.approx(expected, rel=1e-5)
    # eps = 1 is the real pair's candidate, eps = 0 the fake's.
    assert float(dagan_gradient_penalty(ToyCritic(), x[:1], real[:1], fake[:1], eps=eps[2:])) == pytest.approx(
        (np.sqrt(np.sum((x[0] * real[0]) ** 2)) - 1.0) ** 2, rel=1e-5
    )


def test_gradient_penalty_is_zero_for_a_critic_of_unit_slope():
    # score = sum(w * c) with ||w|| = 1: the gradient's norm is 1 everywhere.
    w = np.array([0.6, 0.0, 0.0, 0.8], np.float32).reshape(2, 2, 1)

    class Linear:
        def score_pairs(self, images, candidates, training=False):
            return tf.reduce_sum(candidates * w, axis=(1, 2, 3)) + tf.reduce_sum(images, axis=(1, 2, 3))

    rng = np.random.default_rng(1)
    x, real, fake = (rng.uniform(-1, 1, (4, 2, 2, 1)).astype(np.float32) for _ in range(3))
    assert float(dagan_gradient_penalty(Linear(), x, real, fake, seed=3)) == pytest.approx(0.0, abs=1e-6)


def test_mode_seeking_loss_on_fixed_tensors():
    fake_1 = np.array([[0.0, 1.0], [0.5, -0.5]], np.float32)
    fake_2 = np.array([[0.5, 0.0], [0.5, 0.5]], np.float32)  # |differences|: 0.5, 1, 0, 1 -> mean 0.625
    z_1 = np.array([[1.0, -1.0, 0.0], [2.0, 0.0, 0.0]], np.float32)
    z_2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # 1, 2, 0, 2, 0, 1 -> mean 1
    assert float(mode_seeking_loss(fake_1, fake_2, z_1, z_2)) == pytest.approx(1.0 / (0.625 + MODE_SEEKING_EPSILON))
    # The same images for two noises: the largest value, 1 / eps.
    assert float(mode_seeking_loss(fake_1, fake_1, z_1, z_2)) == pytest.approx(1.0 / MODE_SEEKING_EPSILON)
