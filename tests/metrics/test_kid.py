"""KID: the unbiased MMD² against a naive double loop, unbiasedness, errors."""

import numpy as np
import pytest

from tfgen.metrics.kid import kernel_inception_distance, mmd2_unbiased


def _naive_mmd2(x, y):
    d = x.shape[1]
    k = lambda u, v: (np.dot(u, v) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_matches_double_loop():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 4)), rng.normal(size=(7, 4)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(_naive_mmd2(x, y), rel=1e-12)


def test_kid_with_full_subsets_equals_reference():
    # subset_size >= both sets: every subset is a permutation of all samples.
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(8, 3)), rng.normal(size=(8, 3)) + 1.0
    mean, std = kernel_inception_distance(real, fake, num_subsets=3, subset_size=50)
    assert mean == pytest.approx(_naive_mmd2(real, fake), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-10)


def test_kid_subsets_follow_the_seed():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(30, 4)), rng.normal(size=(40, 4))
    first = kernel_inception_distance(real, fake, num_subsets=5, subset_size=10, seed=3)
    assert first == kernel_inception_distance(real, fake, num_subsets=5, subset_size=10, seed=3)
    assert first != kernel_inception_distance(real, fake, num_subsets=5, subset_size=10, seed=4)


def test_same_distribution_near_zero_and_shift_detected():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same_mean, same_std = kernel_inception_distance(real, fake, num_subsets=50, subset_size=100)
    shifted_mean, _ = kernel_inception_distance(real, fake + 0.5, num_subsets=50, subset_size=100)
    assert abs(same_mean) < 0.05 * shifted_mean
    # Unbiased: the per-subset values scatter around 0; the mean of 50 of them
    # lies within a few standard errors of 0.
    assert abs(same_mean) < 4 * same_std / np.sqrt(50) + 1e-12


def test_unbiased_can_be_negative():
    rng = np.random.default_rng(4)
    values = [mmd2_unbiased(rng.normal(size=(20, 8)), rng.normal(size=(20, 8))) for _ in range(200)]
    assert min(values) < 0 < max(values)
    assert abs(np.mean(values)) < 4 * np.std(values) / np.sqrt(len(values))


def test_invalid_inputs_raise():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        kernel_inception_distance(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        kernel_inception_distance(rng.normal(size=(5, 3)), rng.normal(size=(1, 3)))
    with pytest.raises(ValueError, match="different feature dimensions"):
        kernel_inception_distance(rng.normal(size=(5, 3)), rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="num_subsets"):
        kernel_inception_distance(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), num_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), subset_size=1)
