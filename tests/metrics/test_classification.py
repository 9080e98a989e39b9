"""Class share and classifier accuracy from logits."""

import numpy as np
import pytest

from tfgen.metrics.classification import class_share, classifier_accuracy


def test_class_share_counts_argmax():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 5.0, 1.0], [0.0, 0.0, 3.0], [1.0, 4.0, 0.0]])
    assert class_share(logits, 1) == pytest.approx(0.5)
    assert class_share(logits, 0) == pytest.approx(0.25)
    assert class_share(logits, np.int64(2)) == pytest.approx(0.25)


def test_classifier_accuracy():
    logits = np.array([[2.0, 1.0], [0.0, 5.0], [3.0, 0.0]])
    assert classifier_accuracy(logits, [0, 1, 1]) == pytest.approx(2 / 3)
    assert classifier_accuracy(logits, np.array([0, 1, 0])) == pytest.approx(1.0)


def test_invalid_inputs_raise():
    logits = np.zeros((4, 3))
    with pytest.raises(ValueError, match="\\[0, 3\\)"):
        class_share(logits, 3)
    with pytest.raises(ValueError, match="integer"):
        class_share(logits, 1.5)
    with pytest.raises(ValueError, match="one label per row"):
        classifier_accuracy(logits, [0, 1])
    with pytest.raises(ValueError, match="\\[0, 3\\)"):
        classifier_accuracy(logits, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="integers"):
        classifier_accuracy(logits, [0.0, 1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="\\[N, K\\]"):
        class_share(np.zeros(4), 0)
