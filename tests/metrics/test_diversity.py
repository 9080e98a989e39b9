"""Pairwise diversity, exact nearest neighbours and memorisation."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist

from tfgen.metrics.diversity import memorisation, nearest_neighbour_distances, pairwise_diversity


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_nearest_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    query, reference = rng.normal(size=(23, 6)), rng.normal(size=(31, 6))
    distances, indices = nearest_neighbour_distances(query, reference, batch_size=5)
    full = cdist(query, reference)
    np.testing.assert_array_equal(indices, full.argmin(axis=1))
    np.testing.assert_allclose(distances, full.min(axis=1), rtol=1e-12)


def test_leave_one_out_excludes_self_but_not_duplicates():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 4))
    distances, indices = nearest_neighbour_distances(x, x, exclude_self=True, batch_size=5)
    full = cdist(x, x)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(indices, full.argmin(axis=1))
    assert np.all(indices != np.arange(12)) and np.all(distances > 0)
    # A duplicate of row 0 at row 12 is still a neighbour, at distance 0.
    with_copy = np.concatenate([x, x[:1]])
    distances, indices = nearest_neighbour_distances(with_copy, with_copy, exclude_self=True)
    assert indices[0] == 12 and indices[12] == 0 and distances[0] == 0.0


def test_pairwise_diversity_all_pairs_and_sampled():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(40, 8))
    expected = pdist(_unit(features)).mean()
    assert pairwise_diversity(features) == pytest.approx(expected, rel=1e-10)
    # Sampled pairs estimate the same mean.
    assert pairwise_diversity(features, num_pairs=20_000, seed=1) == pytest.approx(
        expected, rel=0.02
    )
    # Normalised: scaling a sample does not change it.
    scaled = features * rng.uniform(0.1, 10.0, size=(40, 1))
    assert pairwise_diversity(scaled) == pytest.approx(expected, rel=1e-10)


def test_pairwise_diversity_collapse_is_zero():
    one = np.random.default_rng(3).normal(size=(1, 8))
    assert pairwise_diversity(np.repeat(one, 10, axis=0)) == pytest.approx(0.0, abs=1e-7)
    assert pairwise_diversity(np.repeat(one, 10, axis=0), num_pairs=5) == 0.0


def test_copies_of_training_samples_are_all_copies():
    rng = np.random.default_rng(4)
    train = rng.normal(size=(20, 16))
    result = memorisation(train[rng.integers(0, 20, size=30)], train)
    assert result["copy_share"] == 1.0
    assert result["mean_distance"] == 0.0
    loo = cdist(train, train)
    np.fill_diagonal(loo, np.inf)
    assert result["train_median_distance"] == pytest.approx(np.median(loo.min(axis=1)), rel=1e-12)
    assert result["threshold"] == pytest.approx(0.5 * result["train_median_distance"])


def test_fresh_samples_are_rarely_copies():
    rng = np.random.default_rng(5)
    train, fake = rng.normal(size=(50, 16)), rng.normal(size=(50, 16))
    result = memorisation(fake, train)
    assert result["copy_share"] < 0.05
    full = cdist(fake, train)
    np.testing.assert_allclose(result["distance_per_sample"], full.min(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(result["nearest_index"], full.argmin(axis=1))
    assert result["median_distance"] == pytest.approx(np.median(full.min(axis=1)))
    # An explicit threshold overrides the default.
    assert memorisation(fake, train, threshold=1e9)["copy_share"] == 1.0


def test_invalid_inputs_raise():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="at least 2 samples"):
        pairwise_diversity(rng.normal(size=(1, 4)))
    with pytest.raises(ValueError, match="num_pairs"):
        pairwise_diversity(rng.normal(size=(5, 4)), num_pairs=0)
    with pytest.raises(ValueError, match="different feature dimensions"):
        nearest_neighbour_distances(rng.normal(size=(5, 4)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="exclude_self"):
        nearest_neighbour_distances(
            rng.normal(size=(4, 4)), rng.normal(size=(5, 4)), exclude_self=True
        )
    with pytest.raises(ValueError, match="batch_size"):
        nearest_neighbour_distances(rng.normal(size=(4, 4)), rng.normal(size=(5, 4)), batch_size=0)
    with pytest.raises(ValueError, match="`train` needs at least 2 samples"):
        memorisation(rng.normal(size=(4, 4)), rng.normal(size=(1, 4)))
    with pytest.raises(ValueError, match="threshold"):
        memorisation(rng.normal(size=(4, 4)), rng.normal(size=(5, 4)), threshold=-1.0)
