"""Metrics on a classifier's predictions for generated images.

``class_share`` measures how often a generator conditioned on (or adapted to)
one class produces images that a separately trained domain classifier assigns
to that class: a "classification accuracy of generated samples" check in the
spirit of the GAN-test of Shmelkov et al., "How good is my GAN?", ECCV 2018.
``classifier_accuracy`` checks that classifier itself on labelled real data
(a class share means little if the classifier is weak).
"""

from __future__ import annotations

import numpy as np

from tfgen.metrics.inception_score import _check_logits
from tfgen.errors import InputError


def _check_class_index(value, num_classes: int, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(f"`{name}` must be an integer class index. Received: {name}={value!r}")
    if not 0 <= int(value) < num_classes:
        raise InputError(
            f"`{name}` must lie in [0, {num_classes}) for {num_classes} classes. "
            f"Received: {name}={value}"
        )
    return int(value)


def class_share(logits, target_class: int) -> float:
    """Share of samples whose most likely class (argmax of the logits) is ``target_class``.

    Args:
        logits: ``[N, K]`` classifier outputs (logits or probabilities: only the
            argmax matters).
        target_class: the class index in ``[0, K)``.
    """
    logits = _check_logits(logits)
    if logits.shape[0] < 1:
        raise InputError(f"`logits` has no samples. Received: shape={logits.shape}")
    target_class = _check_class_index(target_class, logits.shape[1], "target_class")
    return float(np.mean(logits.argmax(axis=1) == target_class))


def classifier_accuracy(logits, labels) -> float:
    """Share of samples whose argmax class equals their label.

    Args:
        logits: ``[N, K]`` classifier outputs.
        labels: ``[N]`` integer labels in ``[0, K)``.
    """
    logits = _check_logits(logits)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != logits.shape[0]:
        raise InputError(
            "`labels` must be a vector with one label per row of `logits`. "
            f"Received: labels.shape={labels.shape}, logits.shape={logits.shape}"
        )
    if labels.shape[0] < 1:
        raise InputError("`logits` and `labels` have no samples.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"`labels` must be integers. Received: dtype={labels.dtype}")
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise InputError(
            f"`labels` must lie in [0, {logits.shape[1]}) for {logits.shape[1]} classes. "
            f"Received: min={labels.min()}, max={labels.max()}"
        )
    return float(np.mean(logits.argmax(axis=1) == labels))
