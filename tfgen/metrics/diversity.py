"""Diversity and memorisation in feature space.

Few-shot generators are trained on a handful of images, so the two failure
modes that matter are collapse (all samples look alike) and memorisation
(samples copy the training images). Both are measured here with distances
between feature vectors (from any extractor in ``tfgen.features.extractor``):

* ``pairwise_diversity``: the mean distance between pairs of distinct generated
  samples, the feature-space analogue of the intra-set LPIPS diversity used for
  few-shot GANs (Ojha et al., "Few-shot Image Generation via Cross-domain
  Correspondence", CVPR 2021; LPIPS: Zhang et al., CVPR 2018).
* ``memorisation``: how close each generated sample is to its nearest training
  sample, and the share that are (near-)copies.

``pairwise_distances``, ``distance_blocks`` and ``nearest_neighbour_distances``
are exact Euclidean distance helpers (float64, batched), shared with
``precision_recall``.
"""

from __future__ import annotations

import numpy as np

from tfgen.metrics.fid import check_features, check_same_dimension
from tfgen.errors import InputError

# All pairs are used up to this many samples (~2M pairs); beyond it pairs are sampled.
_ALL_PAIRS_MAX_SAMPLES = 2000
_DEFAULT_SAMPLED_PAIRS = 100_000


def pairwise_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances ``[len(a), len(b)]`` between rows of float64 ``a`` and ``b``.

    Uses ``|a|^2 + |b|^2 - 2 a·b`` (one matrix product), clipped at 0 against
    rounding. Use ``distance_blocks`` to bound memory on large sets.
    """
    squared = (
        np.einsum("ij,ij->i", a, a)[:, None]
        + np.einsum("ij,ij->i", b, b)[None, :]
        - 2.0 * (a @ b.T)
    )
    return np.sqrt(np.maximum(squared, 0.0))


def _check_batch_size(batch_size) -> int:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise InputError(
            f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}"
        )
    return int(batch_size)


def distance_blocks(a: np.ndarray, b: np.ndarray, *, batch_size: int = 1024):
    """Yield ``(start, distances)`` with the Euclidean distances ``[B, len(b)]``
    from rows ``a[start:start + B]`` to all rows of ``b``, B <= batch_size.

    Memory stays ``batch_size × len(b)`` floats however large ``a`` is.
    """
    batch_size = _check_batch_size(batch_size)
    for start in range(0, a.shape[0], batch_size):
        yield start, pairwise_distances(a[start : start + batch_size], b)


def nearest_neighbour_distances(
    query, reference, *, batch_size: int = 1024, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest neighbour in ``reference`` of every row of ``query``.

    Args:
        query: ``[N, D]`` features.
        reference: ``[M, D]`` features.
        batch_size: query rows per block; memory is ``batch_size × M`` floats.
        exclude_self: leave-one-out: ``query`` is ``reference`` and row i may not
            match itself (its index, not its value, is excluded: an exact
            duplicate elsewhere in the set still counts, at distance 0).

    Returns:
        ``(distances [N], indices [N])``: Euclidean distance to, and index of,
        the nearest reference row. The distance is recomputed directly from the
        difference of the two rows, so an exact copy gives exactly 0.
    """
    query = check_features(query, name="query", min_samples=1)
    reference = check_features(reference, name="reference", min_samples=2 if exclude_self else 1)
    check_same_dimension(query, reference, names=("query", "reference"))
    if exclude_self and query.shape != reference.shape:
        raise InputError(
            "`exclude_self=True` needs `query` to be the reference set itself. "
            f"Received: query.shape={query.shape}, reference.shape={reference.shape}"
        )
    indices = np.empty(query.shape[0], dtype=np.int64)
    for start, block in distance_blocks(query, reference, batch_size=batch_size):
        if exclude_self:
            rows = np.arange(block.shape[0])
            block[rows, start + rows] = np.inf
        indices[start : start + block.shape[0]] = block.argmin(axis=1)
    distances = np.linalg.norm(query - reference[indices], axis=1)
    return distances, indices


def _unit_rows(features: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    # A zero vector has no direction; it stays at the origin.
    return features / np.where(norms > 0, norms, 1.0)


def pairwise_diversity(features, *, num_pairs: int | None = None, seed: int = 0) -> float:
    """Mean distance between pairs of distinct samples, after L2-normalising each vector.

    Every feature vector is scaled to unit length first (as LPIPS normalises its
    activations), so the result measures differences in direction, not in
    activation magnitude, and lies in ``[0, 2]``: 0 means all samples share one
    direction (collapse). This is the feature-space analogue of the LPIPS
    diversity of few-shot GANs (Ojha et al. 2021), not LPIPS itself.

    Args:
        features: ``[N, D]`` features of generated images, N >= 2.
        num_pairs: None → all ``N(N-1)/2`` pairs when ``N <= 2000``, otherwise
            100,000 random pairs. An int → that many random pairs (all pairs
            when it is at least ``N(N-1)/2``).
        seed: seed of the pair sampling.

    Returns:
        The mean Euclidean distance between the unit-normalised vectors of
        distinct samples (i != j; duplicates of one sample count as distance 0).
    """
    features = _unit_rows(check_features(features, name="features", min_samples=2))
    n = features.shape[0]
    total_pairs = n * (n - 1) // 2
    if num_pairs is None:
        num_pairs = total_pairs if n <= _ALL_PAIRS_MAX_SAMPLES else _DEFAULT_SAMPLED_PAIRS
    elif (
        isinstance(num_pairs, bool) or not isinstance(num_pairs, (int, np.integer)) or num_pairs < 1
    ):
        raise InputError(
            f"`num_pairs` must be a positive integer or None. Received: num_pairs={num_pairs!r}"
        )

    if num_pairs >= total_pairs:
        # All pairs, a block of rows at a time; each pair i < j counted once.
        total = 0.0
        block_rows = max(1, 4_000_000 // n)
        for start, block in distance_blocks(features, features, batch_size=block_rows):
            rows = np.arange(block.shape[0])[:, None]
            total += block[(start + rows) < np.arange(n)[None, :]].sum()
        return float(total / total_pairs)

    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, size=int(num_pairs))
    # Draw the partner from the other n-1 samples, so i != j always.
    second = rng.integers(0, n - 1, size=int(num_pairs))
    second = second + (second >= first)
    return float(np.linalg.norm(features[first] - features[second], axis=1).mean())


def memorisation(
    fake,
    train,
    *,
    threshold: float | None = None,
    threshold_fraction: float = 0.5,
    batch_size: int = 1024,
) -> dict:
    """How close generated samples are to the training set (copy detection).

    For every generated sample, the Euclidean feature distance to its nearest
    training sample is found (exact). A sample counts as a copy when that
    distance is at most ``threshold``. By default the threshold is
    ``threshold_fraction`` (0.5) × the median leave-one-out nearest-neighbour
    distance *within* the training set: a copy is a sample much closer to a
    training image than training images are to each other. Exact copies
    (distance 0) always count.

    Args:
        fake: ``[N, D]`` features of generated images.
        train: ``[M, D]`` features of the training images, M >= 2.
        threshold: an explicit distance threshold (>= 0); overrides the default.
        threshold_fraction: the fraction of the within-train median used when
            ``threshold`` is None.
        batch_size: rows per distance block.

    Returns:
        dict with ``mean_distance``, ``median_distance`` (nearest-train
        distances of the generated samples), ``copy_share`` (in [0, 1]),
        ``threshold`` (the one used), ``train_median_distance`` (the
        leave-one-out within-train median), ``distance_per_sample [N]`` and
        ``nearest_index [N]`` (index into ``train``).
    """
    fake = check_features(fake, name="fake", min_samples=1)
    train = check_features(train, name="train", min_samples=2)
    check_same_dimension(fake, train, names=("fake", "train"))
    distances, indices = nearest_neighbour_distances(fake, train, batch_size=batch_size)
    train_distances, _ = nearest_neighbour_distances(
        train, train, batch_size=batch_size, exclude_self=True
    )
    train_median = float(np.median(train_distances))
    if threshold is None:
        if not (np.isfinite(threshold_fraction) and threshold_fraction >= 0):
            raise InputError(
                "`threshold_fraction` must be a finite number >= 0. "
                f"Received: threshold_fraction={threshold_fraction}"
            )
        threshold = threshold_fraction * train_median
    elif not (np.isfinite(threshold) and threshold >= 0):
        raise InputError(
            f"`threshold` must be a finite distance >= 0. Received: threshold={threshold}"
        )
    return {
        "mean_distance": float(distances.mean()),
        "median_distance": float(np.median(distances)),
        "copy_share": float(np.mean(distances <= threshold)),
        "threshold": float(threshold),
        "train_median_distance": train_median,
        "distance_per_sample": distances,
        "nearest_index": indices,
    }
