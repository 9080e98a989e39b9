"""k-NN precision/recall and density/coverage on constructed manifolds."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from tfgen.metrics.precision_recall import density_coverage, knn_radii, precision_recall


def _brute_radii(x, k):
    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def _brute_precision_recall(real, fake, k):
    real_r, fake_r = _brute_radii(real, k), _brute_radii(fake, k)
    d = cdist(fake, real)  # [fake, real]
    precision = np.mean(
        [any(d[j, i] <= real_r[i] for i in range(len(real))) for j in range(len(fake))]
    )
    recall = np.mean(
        [any(d[j, i] <= fake_r[j] for j in range(len(fake))) for i in range(len(real))]
    )
    return precision, recall


def _brute_density_coverage(real, fake, k):
    real_r = _brute_radii(real, k)
    d = cdist(real, fake)  # [real, fake]
    density = sum(d[i, j] < real_r[i] for i in range(len(real)) for j in range(len(fake))) / (
        k * len(fake)
    )
    coverage = np.mean([d[i].min() < real_r[i] for i in range(len(real))])
    return density, coverage


def test_radii_match_brute_force_and_batching():
    x = np.random.default_rng(0).normal(size=(37, 5))
    for k in (1, 3):
        expected = _brute_radii(x, k)
        np.testing.assert_allclose(knn_radii(x, k, batch_size=1024), expected, rtol=1e-9)
        np.testing.assert_allclose(knn_radii(x, k, batch_size=4), expected, rtol=1e-9)


def test_against_brute_force_on_tiny_data():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(40, 3))
    fake = rng.normal(size=(30, 3)) * 1.3 + 0.4
    expected_pr = _brute_precision_recall(real, fake, 3)
    got = precision_recall(real, fake, k=3, batch_size=7)
    assert (got["precision"], got["recall"]) == pytest.approx(expected_pr, abs=1e-12)
    assert 0 < got["precision"] < 1 and 0 < got["recall"] < 1
    expected_dc = _brute_density_coverage(real, fake, 5)
    got = density_coverage(real, fake, k=5, batch_size=7)
    assert (got["density"], got["coverage"]) == pytest.approx(expected_dc, abs=1e-12)


def test_identical_sets_are_perfect():
    x = np.random.default_rng(2).normal(size=(60, 8))
    assert precision_recall(x, x.copy()) == {"precision": 1.0, "recall": 1.0}
    assert density_coverage(x, x.copy())["coverage"] == 1.0


def test_sub_cluster_has_full_precision_partial_recall():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(300, 2))
    # Fake samples: real points from the left half only, slightly jittered.
    left = real[real[:, 0] < -0.3]
    fake = left + rng.normal(scale=0.01, size=left.shape)
    result = precision_recall(real, fake, k=3)
    assert result["precision"] == 1.0
    assert result["recall"] < 0.6


def test_disjoint_far_clusters_score_zero():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(50, 4))
    fake = rng.normal(size=(50, 4)) + 100.0
    assert precision_recall(real, fake) == {"precision": 0.0, "recall": 0.0}
    assert density_coverage(real, fake) == {"density": 0.0, "coverage": 0.0}


def test_density_coverage_near_one_for_same_distribution():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(1000, 4)), rng.normal(size=(1000, 4))
    result = density_coverage(real, fake, k=5)
    assert result["density"] == pytest.approx(1.0, abs=0.1)
    assert result["coverage"] > 0.95


def test_invalid_inputs_raise():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(rng.normal(size=(3, 2)), rng.normal(size=(10, 2)))
    with pytest.raises(ValueError, match="`fake` needs more than k=3"):
        precision_recall(rng.normal(size=(10, 2)), rng.normal(size=(2, 2)))
    with pytest.raises(ValueError, match="different feature dimensions"):
        density_coverage(rng.normal(size=(10, 2)), rng.normal(size=(10, 3)))
    with pytest.raises(ValueError, match="`k` must be a positive integer"):
        density_coverage(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), k=0)
    with pytest.raises(ValueError, match="batch_size"):
        precision_recall(rng.normal(size=(10, 2)), rng.normal(size=(10, 2)), batch_size=0)
