"""Fréchet Inception Distance.

Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", NeurIPS 2017. Each image set is summarised by the mean
and covariance of its features (a Gaussian fit); FID is the Fréchet (2-Wasserstein)
distance between the two Gaussians:

    |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The features usually come from InceptionV3 (``tfgen.features.extractor``); the
maths here does not care which network produced them.

``check_features`` and ``check_same_dimension`` are the shared input checks of
every feature-space metric (KID, precision/recall, diversity).
"""

from __future__ import annotations

import numpy as np

from tfgen.errors import InputError


def check_features(features, *, name: str = "features", min_samples: int = 2) -> np.ndarray:
    """Return ``features`` as a finite float64 ``[N, D]`` array, or raise ValueError.

    Args:
        features: array-like ``[N, D]``, one feature vector per sample.
        name: the argument's name, used in error messages.
        min_samples: the fewest rows the caller's metric can work with.
    """
    array = np.asarray(features)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise InputError(
            f"`{name}` must be a numeric array of shape [N, D]. Received: dtype={array.dtype}"
        )
    if array.ndim != 2:
        raise InputError(
            f"`{name}` must have shape [N, D] (one feature vector per row). "
            f"Received: shape={array.shape}"
        )
    if array.shape[1] < 1:
        raise InputError(f"`{name}` has no feature columns. Received: shape={array.shape}")
    if array.shape[0] < min_samples:
        raise InputError(
            f"`{name}` needs at least {min_samples} samples. Received: shape={array.shape}"
        )
    array = array.astype(np.float64, copy=False)
    if not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values.")
    return array


def check_same_dimension(
    a: np.ndarray, b: np.ndarray, *, names: tuple[str, str] = ("real", "fake")
):
    """Raise ValueError unless feature arrays ``a`` and ``b`` have the same width D."""
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` have different feature dimensions (were they "
            f"made by the same extractor?). Received: {names[0]}.shape={a.shape}, "
            f"{names[1]}.shape={b.shape}"
        )


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set, in float64.

    Args:
        features: ``[N, D]`` array, N >= 2.

    Returns:
        ``(mu [D], sigma [D, D])`` with ``sigma = np.cov(features, rowvar=False)``.
    """
    features = check_features(features, name="features", min_samples=2)
    mu = features.mean(axis=0)
    sigma = np.cov(features, rowvar=False)
    return mu, np.atleast_2d(sigma)  # np.cov returns a scalar when D == 1


def _check_statistics(mu, sigma, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise InputError(f"`mu{name}` must be a vector [D]. Received: shape={mu.shape}")
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise InputError(
            f"`sigma{name}` must be a [D, D] matrix matching `mu{name}` (D={mu.shape[0]}). "
            f"Received: shape={sigma.shape}"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sigma))):
        raise InputError(f"`mu{name}` / `sigma{name}` contain NaN or infinite values.")
    return mu, sigma


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    # Symmetric square root through the eigendecomposition; rounding can make
    # a PSD matrix's smallest eigenvalues slightly negative, so clip them to 0.
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * root) @ eigenvectors.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """``tr((S1 S2)^(1/2))`` for symmetric PSD ``S1``, ``S2``.

    ``S1 S2`` is not symmetric, and taking its square root directly
    (``scipy.linalg.sqrtm``, as pytorch-fid does) can return complex values or
    fail on rank-deficient covariances. ``S1 S2`` is similar to the symmetric PSD
    matrix ``M = S1^(1/2) S2 S1^(1/2)``, so both have the same eigenvalues and
    ``tr((S1 S2)^(1/2)) = sum(sqrt(eig(M)))``, which ``eigvalsh`` computes stably.
    """
    sigma1 = (sigma1 + sigma1.T) / 2.0  # symmetrise away rounding noise
    sigma2 = (sigma2 + sigma2.T) / 2.0
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017).

    Args:
        mu1, mu2: means ``[D]``.
        sigma1, sigma2: covariances ``[D, D]`` (symmetric positive semi-definite).

    Returns:
        A float >= 0 (tiny negative rounding is clipped to 0).
    """
    mu1, sigma1 = _check_statistics(mu1, sigma1, "1")
    mu2, sigma2 = _check_statistics(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise InputError(
            "The two feature sets have different dimensions (were they made by the "
            f"same extractor?). Received: D1={mu1.shape[0]}, D2={mu2.shape[0]}"
        )
    difference = mu1 - mu2
    distance = (
        difference @ difference
        + np.trace(sigma1)
        + np.trace(sigma2)
        - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return max(float(distance), 0.0)


def fid_from_features(real, fake) -> float:
    """FID between two feature sets ``[N1, D]`` and ``[N2, D]`` (Heusel et al. 2017).

    FID is biased upwards for small N: compare values computed with the same
    sample counts (the usual figure uses 50k generated images).
    """
    real = check_features(real, name="real")
    fake = check_features(fake, name="fake")
    check_same_dimension(real, fake)
    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))
