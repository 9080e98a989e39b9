"""Precision/recall and density/coverage from k-nearest-neighbour manifolds.

Each set's manifold is estimated as the union of balls around its samples,
the ball of sample i reaching its k-th nearest neighbour within the same set
(itself excluded).

* Precision/recall: Kynkäänniemi et al., "Improved Precision and Recall Metric
  for Assessing Generative Models", NeurIPS 2019 (k = 3). Precision is the share
  of generated samples inside the real manifold (fidelity); recall the share of
  real samples inside the generated manifold (coverage of the real variety).
  A point on a ball's boundary is inside (``<=``, as in the official code).
* Density/coverage: Naeem et al., "Reliable Fidelity and Diversity Metrics for
  Generative Models", ICML 2020 (k = 5). Both use only the real balls, which
  makes them robust to outliers among the generated samples. Density counts how
  many real balls contain each generated sample (divided by k; ≈ 1 when the two
  distributions match, may exceed 1); coverage is the share of real balls that
  contain at least one generated sample. Boundaries are outside (``<``, as in
  the official code).

All distances are exact Euclidean distances in float64, computed a block of
rows at a time so that memory stays ``batch_size × N`` (10k × 10k is never
built at once).
"""

from __future__ import annotations

import numpy as np

from tfgen.metrics.diversity import distance_blocks
from tfgen.metrics.fid import check_features, check_same_dimension
from tfgen.errors import InputError


def _check_k(k, n: int, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"`k` must be a positive integer. Received: k={k!r}")
    if n < k + 1:
        raise InputError(
            f"`{name}` needs more than k={k} samples to have a k-th nearest neighbour "
            f"besides itself. Received: {n} samples"
        )
    return int(k)


def _prepare(real, fake, k, *, need_fake_radii: bool):
    real = check_features(real, name="real", min_samples=1)
    fake = check_features(fake, name="fake", min_samples=1)
    check_same_dimension(real, fake)
    k = _check_k(k, real.shape[0], "real")
    if need_fake_radii:
        _check_k(k, fake.shape[0], "fake")
    return real, fake, k


def knn_radii(features: np.ndarray, k: int, *, batch_size: int = 1024) -> np.ndarray:
    """Distance from every row of ``features`` to its k-th nearest other row.

    The row itself is excluded by index (an exact duplicate elsewhere counts at
    distance 0). ``features`` is a float64 ``[N, D]`` array with N > k.
    """
    n = features.shape[0]
    radii = np.empty(n, dtype=np.float64)
    for start, block in distance_blocks(features, features, batch_size=batch_size):
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = np.inf  # leave the sample itself out
        # The k-th smallest (1-based) of the remaining distances.
        radii[start : start + block.shape[0]] = np.partition(block, k - 1, axis=1)[:, k - 1]
    return radii


def _share_inside(
    points: np.ndarray, centres: np.ndarray, radii: np.ndarray, batch_size: int
) -> float:
    # Share of `points` within (<=) the radius of at least one centre.
    inside = np.empty(points.shape[0], dtype=bool)
    for start, block in distance_blocks(points, centres, batch_size=batch_size):
        inside[start : start + block.shape[0]] = np.any(block <= radii[None, :], axis=1)
    return float(inside.mean())


def precision_recall(real, fake, *, k: int = 3, batch_size: int = 1024) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Args:
        real: ``[N, D]`` features of real images (N > k).
        fake: ``[M, D]`` features of generated images (M > k).
        k: the neighbour that sets each ball's radius (3 in the paper).
        batch_size: rows per distance block.

    Returns:
        ``{"precision": float, "recall": float}``, each in [0, 1].
    """
    real, fake, k = _prepare(real, fake, k, need_fake_radii=True)
    real_radii = knn_radii(real, k, batch_size=batch_size)
    fake_radii = knn_radii(fake, k, batch_size=batch_size)
    return {
        "precision": _share_inside(fake, real, real_radii, batch_size),
        "recall": _share_inside(real, fake, fake_radii, batch_size),
    }


def density_coverage(real, fake, *, k: int = 5, batch_size: int = 1024) -> dict:
    """Density and coverage (Naeem et al. 2020).

    Args:
        real: ``[N, D]`` features of real images (N > k).
        fake: ``[M, D]`` features of generated images (M >= 1).
        k: the neighbour that sets each real ball's radius (5 in the paper).
        batch_size: rows per distance block.

    Returns:
        ``{"density": float, "coverage": float}``; coverage in [0, 1], density
        >= 0 (≈ 1 for matching distributions).
    """
    real, fake, k = _prepare(real, fake, k, need_fake_radii=False)
    real_radii = knn_radii(real, k, batch_size=batch_size)

    # Density: for each generated sample, the number of real balls containing it.
    balls_containing = 0
    for _, block in distance_blocks(fake, real, batch_size=batch_size):
        balls_containing += int(np.count_nonzero(block < real_radii[None, :]))
    density = balls_containing / (k * fake.shape[0])

    # Coverage: for each real sample, is its nearest generated sample inside its ball?
    covered = np.empty(real.shape[0], dtype=bool)
    for start, block in distance_blocks(real, fake, batch_size=batch_size):
        covered[start : start + block.shape[0]] = (
            block.min(axis=1) < real_radii[start : start + block.shape[0]]
        )
    return {"density": float(density), "coverage": float(covered.mean())}
