"""Kernel Inception Distance.

Bińkowski et al., "Demystifying MMD GANs", ICLR 2018. KID is the squared
maximum mean discrepancy (MMD²) between real and generated features under the
polynomial kernel ``k(x, y) = (x·y / d + 1)^3``, estimated without bias.
Unlike FID it has an unbiased estimator, so it is meaningful for the small
sample counts of few-shot generation, and it can come out slightly negative
when the two distributions are the same.
"""

from __future__ import annotations

import numpy as np

from tfgen.metrics.fid import check_features, check_same_dimension
from tfgen.errors import InputError


def _polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # k(x, y) = (x·y / d + 1)^3, d = feature dimension.
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² between samples ``x [m, D]`` and ``y [n, D]`` (m, n >= 2).

    Low-level: takes float64 arrays as they are (``kernel_inception_distance``
    checks its inputs).

    Within-set terms leave out the diagonal (i == j); the cross term averages
    all pairs, which is already unbiased because x and y are independent.
    """
    m, n = x.shape[0], y.shape[0]
    k_xx = _polynomial_kernel(x, x)
    k_yy = _polynomial_kernel(y, y)
    k_xy = _polynomial_kernel(x, y)
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kernel_inception_distance(
    real, fake, *, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): mean and standard deviation over random subsets.

    Each of ``num_subsets`` rounds draws ``min(subset_size, n_real, n_fake)``
    samples without replacement from each set and computes the unbiased MMD²
    with the cubic polynomial kernel, as in the paper's reference code.

    Args:
        real: ``[N1, D]`` features of real images, N1 >= 2.
        fake: ``[N2, D]`` features of generated images, N2 >= 2.
        num_subsets: number of random subsets to average over.
        subset_size: the largest subset drawn from each set.
        seed: seed of the subset sampling (same seed, same subsets).

    Returns:
        ``(mean, std)`` of the per-subset MMD² values (``std`` with ddof=0).
        Often reported ×1000.
    """
    real = check_features(real, name="real", min_samples=2)
    fake = check_features(fake, name="fake", min_samples=2)
    check_same_dimension(real, fake)
    if int(num_subsets) < 1:
        raise InputError(f"`num_subsets` must be at least 1. Received: num_subsets={num_subsets}")
    if int(subset_size) < 2:
        raise InputError(f"`subset_size` must be at least 2. Received: subset_size={subset_size}")

    size = min(int(subset_size), real.shape[0], fake.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(int(num_subsets), dtype=np.float64)
    for i in range(int(num_subsets)):
        real_subset = real[rng.choice(real.shape[0], size, replace=False)]
        fake_subset = fake[rng.choice(fake.shape[0], size, replace=False)]
        values[i] = mmd2_unbiased(real_subset, fake_subset)
    return float(values.mean()), float(values.std())
