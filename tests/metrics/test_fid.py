"""FID: closed forms for Gaussians, the pytorch-fid sqrtm formula, edge cases."""

import numpy as np
import pytest
import scipy.linalg

from tfgen.metrics.fid import feature_statistics, fid_from_features, frechet_distance


def _random_psd(rng, dim, rank=None):
    factor = rng.normal(size=(dim, rank or dim))
    return factor @ factor.T / dim


def _sqrtm_frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    # The formula as pytorch-fid (fid_score.calculate_frechet_distance) computes it.
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


def test_feature_statistics_match_numpy():
    features = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    mu, sigma = feature_statistics(features)
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False), rtol=1e-12)
    assert feature_statistics(features[:, :1])[1].shape == (1, 1)


def test_set_against_itself_is_zero():
    features = np.random.default_rng(1).normal(size=(200, 32))
    mu, sigma = feature_statistics(features)
    assert fid_from_features(features, features) <= 1e-6 * 2 * np.trace(sigma)
    assert frechet_distance(mu, sigma, mu, sigma) <= 1e-6 * 2 * np.trace(sigma)


def test_commuting_gaussians_closed_form():
    # Diagonal covariances commute: tr sqrt(S1 S2) = sum sqrt(l1 * l2).
    rng = np.random.default_rng(2)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    l1, l2 = rng.uniform(0.1, 3.0, size=8), rng.uniform(0.1, 3.0, size=8)
    expected = np.sum((mu1 - mu2) ** 2) + l1.sum() + l2.sum() - 2 * np.sqrt(l1 * l2).sum()
    got = frechet_distance(mu1, np.diag(l1), mu2, np.diag(l2))
    assert got == pytest.approx(expected, rel=1e-10)

    # Same eigenvectors (a random rotation) still commute.
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    s1, s2 = rotation @ np.diag(l1) @ rotation.T, rotation @ np.diag(l2) @ rotation.T
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)


def test_sample_statistics_of_two_gaussians():
    # FID of samples of N(m1, S1) and N(m2, S2) uses their sample statistics.
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 5)) * np.sqrt([1.0, 2.0, 0.5, 1.5, 3.0]) + 1.0
    b = rng.normal(size=(300, 5)) * np.sqrt([2.0, 1.0, 1.0, 0.5, 1.0])
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    assert fid_from_features(a, b) == pytest.approx(_sqrtm_frechet(mu1, s1, mu2, s2), rel=1e-8)
    # ... and is close to the population value (diagonal: closed form).
    var1, var2 = np.array([1.0, 2.0, 0.5, 1.5, 3.0]), np.array([2.0, 1.0, 1.0, 0.5, 1.0])
    population = 5.0 + var1.sum() + var2.sum() - 2 * np.sqrt(var1 * var2).sum()
    assert fid_from_features(a, b) == pytest.approx(population, rel=0.15)


@pytest.mark.parametrize("dim", [4, 64])
def test_agrees_with_sqrtm_on_non_commuting_matrices(dim):
    rng = np.random.default_rng(dim)
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    s1, s2 = _random_psd(rng, dim), _random_psd(rng, dim)
    assert not np.allclose(s1 @ s2, s2 @ s1)
    expected = _sqrtm_frechet(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)


def test_rank_deficient_covariances_stay_finite():
    # Fewer samples than dimensions: both covariances are singular.
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(10, 64)), rng.normal(size=(12, 64)) + 0.5
    value = fid_from_features(a, b)
    assert np.isfinite(value) and value >= 0
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    assert np.linalg.matrix_rank(s1) < 64
    # A PSD covariance with zero eigenvalues and itself: still exactly handled.
    assert fid_from_features(a, a) <= 1e-6 * 2 * np.trace(s1)
    # And a matrix a hair below PSD (rounding) does not produce NaN.
    s1_noisy = s1 - 1e-12 * np.eye(64)
    assert np.isfinite(frechet_distance(mu1, s1_noisy, mu2, s2))


def test_invalid_inputs_raise_clear_errors():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="different feature dimensions"):
        fid_from_features(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid_from_features(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="shape \\[N, D\\]"):
        feature_statistics(rng.normal(size=(5,)))
    bad = rng.normal(size=(5, 3))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        feature_statistics(bad)
    with pytest.raises(ValueError, match="sigma1"):
        frechet_distance(np.zeros(3), np.eye(4), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="different dimensions"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    infinite = np.eye(3)
    infinite[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        frechet_distance(np.zeros(3), infinite, np.zeros(3), np.eye(3))
