"""Inception Score: its two extremes and a reference computed another way."""

import numpy as np
import pytest
import scipy.special
import scipy.stats

from tfgen.metrics.inception_score import inception_score


def _reference_is(logits, splits):
    # The openai/improved-gan formulation, with scipy's softmax and KL (entropy).
    probabilities = scipy.special.softmax(logits.astype(np.float64), axis=1)
    n = len(probabilities)
    scores = []
    for i in range(splits):
        part = probabilities[i * n // splits : (i + 1) * n // splits]
        marginal = part.mean(axis=0)
        kl = [scipy.stats.entropy(row, marginal) for row in part]
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores)


def test_uniform_predictions_score_one():
    mean, std = inception_score(np.zeros((20, 10)), splits=2)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_evenly_spread_classes_score_num_classes():
    # One-hot-like logits (huge margin), every class equally often.
    classes = 7
    logits = np.full((70, classes), -1e4)
    logits[np.arange(70), np.arange(70) % classes] = 1e4
    mean, std = inception_score(logits, splits=2)
    assert mean == pytest.approx(classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_matches_reference_implementation():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(103, 12)) * 3).astype(np.float32)
    mean, std = inception_score(logits, splits=4)
    ref_mean, ref_std = _reference_is(logits, 4)
    assert mean == pytest.approx(ref_mean, rel=1e-10)
    assert std == pytest.approx(ref_std, rel=1e-8)
    assert 1.0 < mean < 12.0


def test_large_logits_are_stable():
    # float32-sized logits that overflow a naive exp() still give a finite score.
    logits = np.array([[800.0, 0.0], [0.0, 800.0]] * 5)
    assert inception_score(logits, splits=1)[0] == pytest.approx(2.0, rel=1e-12)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="\\[N, K\\]"):
        inception_score(np.zeros(10))
    with pytest.raises(ValueError, match="splits"):
        inception_score(np.zeros((3, 4)), splits=10)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(np.full((4, 3), np.nan), splits=1)
