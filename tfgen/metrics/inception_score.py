"""Inception Score.

Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016:

    IS = exp( E_x KL( p(y|x) || p(y) ) )

where ``p(y|x)`` is a classifier's softmax on a generated image and ``p(y)`` the
average over the set. It is high when each image is classified confidently
(low entropy of p(y|x)) and the classes are spread evenly (high entropy of
p(y)); it lies in ``[1, K]`` for K classes. As in the paper's code, the images
are cut into ``splits`` consecutive parts, the score is computed per part, and
the mean and standard deviation over parts are reported.
"""

from __future__ import annotations

import numpy as np

from tfgen.errors import InputError


def _check_logits(logits, name: str = "logits") -> np.ndarray:
    array = np.asarray(logits)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise InputError(f"`{name}` must be a numeric array [N, K]. Received: dtype={array.dtype}")
    if array.ndim != 2 or array.shape[1] < 2:
        raise InputError(
            f"`{name}` must have shape [N, K] with K >= 2 classes. Received: shape={array.shape}"
        )
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values.")
    return array


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64, stable for large logits (log-sum-exp)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits, *, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016) from classifier logits.

    Args:
        logits: ``[N, K]`` pre-softmax outputs of the classifier on N generated
            images (e.g. the ``"logits"`` of the inception extractor).
        splits: number of consecutive parts to score separately; needs
            ``N >= splits``. 10 is the paper's choice (with N = 50k).

    Returns:
        ``(mean, std)`` over the splits (``std`` with ddof=0, as in the paper's code).
    """
    logits = _check_logits(logits)
    splits = int(splits)
    n = logits.shape[0]
    if splits < 1:
        raise InputError(f"`splits` must be at least 1. Received: splits={splits}")
    if n < splits:
        raise InputError(
            f"Need at least as many samples as splits. Received: N={n}, splits={splits}"
        )
    log_p = log_softmax(logits)  # log p(y|x), [N, K]
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        # The paper's boundaries: part i is rows [i*N//splits, (i+1)*N//splits).
        part_log_p = log_p[i * n // splits : (i + 1) * n // splits]
        part_p = p[i * n // splits : (i + 1) * n // splits]
        marginal = part_p.mean(axis=0)  # p(y), [K]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Where p(y|x) underflows to 0 the KL term is 0 (and p(y) may be 0 too).
            terms = np.where(part_p > 0, part_p * (part_log_p - np.log(marginal)), 0.0)
        scores.append(np.exp(terms.sum(axis=1).mean()))
    scores = np.asarray(scores)
    return float(scores.mean()), float(scores.std())
