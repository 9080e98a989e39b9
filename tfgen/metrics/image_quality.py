"""Pixel-level image quality: MSE, SSIM, nearest-real MSE/SSIM and BRISQUE.

* ``mse``: mean squared error per image pair, in 0..255 units.
* ``ssim``: structural similarity, Wang et al., "Image Quality Assessment: From
  Error Visibility to Structural Similarity", IEEE TIP 2004, with the paper's
  11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03. It matches
  ``tf.image.ssim``: local statistics only where the window fits inside the
  image ("valid" filtering), SSIM map averaged over space, then over channels.
  (scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`` crops the same border and agrees to rounding.)
* ``nearest_real_mse_ssim``: for each generated image, the most similar real
  image by MSE, and the MSE and SSIM to it: a generated image should be close
  to the real data but not a copy of one image.
* ``brisque_scores``: the no-reference BRISQUE score (Mittal et al.,
  "No-Reference Image Quality Assessment in the Spatial Domain", IEEE TIP 2012)
  through the optional ``brisque`` package (``pip install "tfgen[brisque]"``).

Images are NHWC arrays ``[N, H, W, C]``: uint8 (0..255) as everywhere in
``tfgen.metrics``; ``mse`` and ``ssim`` also take floats in the same units.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tfgen.errors import InputError


def _check_images(images, name: str, *, require_uint8: bool = False) -> np.ndarray:
    array = np.asarray(images)
    if require_uint8 and array.dtype != np.uint8:
        raise InputError(
            f"`{name}` must be uint8 images (0..255); convert generator output with "
            f"`tfgen.postprocess_images`. Received: dtype={array.dtype}"
        )
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise InputError(f"`{name}` must be a numeric image array. Received: dtype={array.dtype}")
    if array.ndim != 4:
        raise InputError(
            f"`{name}` must be a batch of images [N, H, W, C]. Received: shape={array.shape}"
        )
    if array.shape[0] < 1 or min(array.shape[1:]) < 1:
        raise InputError(f"`{name}` is empty. Received: shape={array.shape}")
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise InputError(f"`{name}` contains NaN or infinite values.")
    return array


def _check_same_resolution(a: np.ndarray, b: np.ndarray, names: tuple[str, str]):
    if a.shape[1:] != b.shape[1:]:
        raise InputError(
            f"`{names[0]}` and `{names[1]}` have different image sizes [H, W, C]; "
            "resize/regenerate them at the same resolution and number of channels. "
            f"Received: {names[0]}.shape={a.shape}, {names[1]}.shape={b.shape}"
        )


def _check_pairs(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = _check_images(a, "a")
    b = _check_images(b, "b")
    _check_same_resolution(a, b, ("a", "b"))
    if a.shape[0] != b.shape[0]:
        raise InputError(
            "`a` and `b` must hold the same number of images (they are compared in pairs). "
            f"Received: a.shape={a.shape}, b.shape={b.shape}"
        )
    return a, b


# Images are converted to float64 this many values at a time (32 MB per array),
# so memory stays bounded however many or large the images are.
_CHUNK_VALUES = 2**22


def _chunks(images: np.ndarray):
    """Slices over the first axis, each holding at most ``_CHUNK_VALUES`` values (>= 1 image)."""
    per_chunk = max(1, _CHUNK_VALUES // int(np.prod(images.shape[1:])))
    for start in range(0, images.shape[0], per_chunk):
        yield slice(start, start + per_chunk)


def mse(a, b) -> np.ndarray:
    """Mean squared error of each image pair, in 0..255 units, float64.

    Args:
        a, b: ``[N, H, W, C]`` images (uint8, or floats in 0..255 units).

    Returns:
        ``[N]``: the mean over pixels and channels of ``(a - b)^2``.
    """
    a, b = _check_pairs(a, b)
    result = np.empty(a.shape[0], dtype=np.float64)
    for chunk in _chunks(a):
        difference = a[chunk].astype(np.float64) - b[chunk].astype(np.float64)
        result[chunk] = np.mean(difference**2, axis=(1, 2, 3))
    return result


def _gaussian_window(size: int, sigma: float) -> np.ndarray:
    # The 1-D factor of tf.image.ssim's separable window, normalised to sum 1.
    coords = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    window = np.exp(-0.5 * (coords / sigma) ** 2)
    return window / window.sum()


def _valid_filter(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    # Gaussian-weighted local mean over the window positions that fit entirely
    # inside the image ("valid"): [N, H, W, C] -> [N, H-s+1, W-s+1, C].
    # correlate1d centres the window on index s//2; cropping its output to the
    # centres of windows that fit means its border padding never reaches the result.
    size = window.size
    for axis in (1, 2):
        x = ndimage.correlate1d(x, window, axis=axis, mode="nearest")
        keep = [slice(None)] * x.ndim
        keep[axis] = slice(size // 2, size // 2 + x.shape[axis] - size + 1)
        x = x[tuple(keep)]
    return x


def _check_fits_window(shape: tuple, filter_size) -> int:
    if (
        isinstance(filter_size, bool)
        or not isinstance(filter_size, (int, np.integer))
        or filter_size < 1
    ):
        raise InputError(
            f"`filter_size` must be a positive integer. Received: filter_size={filter_size!r}"
        )
    height, width = shape[1:3]
    if min(height, width) < filter_size:
        raise InputError(
            f"Images of {height}×{width} pixels are smaller than the {filter_size}×{filter_size} "
            "SSIM window. Evaluate at a higher resolution (upsample both sets) or pass a "
            "smaller `filter_size` (the result is then not the standard SSIM). "
            f"Received: shape={shape}"
        )
    return int(filter_size)


def ssim(
    a,
    b,
    *,
    data_range: float = 255,
    filter_size: int = 11,
    filter_sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> np.ndarray:
    """SSIM (Wang et al. 2004) of each image pair, matching ``tf.image.ssim``.

    Local means, variances and covariance come from a Gaussian window
    (``filter_size`` × ``filter_size``, σ = ``filter_sigma``) evaluated only
    where it fits inside the image; the SSIM map is averaged over those
    positions, per channel, and then over channels. Variances are the
    window-weighted (population) ones, as in the paper and ``tf.image.ssim``.

    Args:
        a, b: ``[N, H, W, C]`` images in the same units (uint8 or floats).
        data_range: the dynamic range of the pixel values (255 for uint8).
        filter_size: window side; images must be at least this large in H and
            W. For smaller images pass a smaller window explicitly (e.g.
            ``filter_size=7``), knowing the result is then not comparable to the
            standard 11×11 SSIM.
        filter_sigma: σ of the Gaussian window.
        k1, k2: the stabilising constants, ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``.

    Returns:
        ``[N]`` SSIM values in [-1, 1] (1 for identical images).
    """
    a, b = _check_pairs(a, b)
    filter_size = _check_fits_window(a.shape, filter_size)
    if not filter_sigma > 0:
        raise InputError(f"`filter_sigma` must be positive. Received: filter_sigma={filter_sigma}")
    if not data_range > 0:
        raise InputError(f"`data_range` must be positive. Received: data_range={data_range}")
    window = _gaussian_window(filter_size, float(filter_sigma))
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    result = np.empty(a.shape[0], dtype=np.float64)
    for chunk in _chunks(a):
        result[chunk] = _ssim_float64(
            a[chunk].astype(np.float64), b[chunk].astype(np.float64), window, c1, c2
        )
    return result


def _ssim_float64(
    x: np.ndarray, y: np.ndarray, window: np.ndarray, c1: float, c2: float
) -> np.ndarray:
    # The SSIM formula as tf.image.ssim evaluates it (luminance × contrast-structure).
    mean_x = _valid_filter(x, window)
    mean_y = _valid_filter(y, window)
    mean_xy = mean_x * mean_y
    mean_sq = mean_x**2 + mean_y**2
    luminance = (2.0 * mean_xy + c1) / (mean_sq + c1)
    # 2 cov(x, y) and var(x) + var(y), from E[xy] - E[x]E[y] etc.
    covariance2 = 2.0 * (_valid_filter(x * y, window) - mean_xy)
    variance_sum = _valid_filter(x * x + y * y, window) - mean_sq
    contrast_structure = (covariance2 + c2) / (variance_sum + c2)
    per_channel = np.mean(luminance * contrast_structure, axis=(1, 2))  # [N, C]
    return per_channel.mean(axis=1)


def nearest_real_mse_ssim(
    fake_uint8, real_uint8, *, batch_size: int | None = None, filter_size: int = 11
) -> dict:
    """For each generated image, the nearest real image by MSE, and MSE/SSIM to it.

    The search is exact: every generated image is compared with every real one.

    Args:
        fake_uint8: ``[N, H, W, C]`` uint8 generated images.
        real_uint8: ``[M, H, W, C]`` uint8 real images at the same resolution.
        batch_size: generated images compared at once; None picks it so that
            each block of float64 pixels stays around 32 MB. Real images are
            processed in blocks of similar size, so memory does not grow with M.
        filter_size: the SSIM window (see ``ssim``); the images must be at
            least this large.

    Returns:
        dict with ``mse`` and ``ssim`` (means over the generated images),
        ``mse_per_image [N]``, ``ssim_per_image [N]`` and ``nearest_index [N]``
        (index into ``real_uint8``).
    """
    fake = _check_images(fake_uint8, "fake_uint8", require_uint8=True)
    real = _check_images(real_uint8, "real_uint8", require_uint8=True)
    _check_same_resolution(fake, real, ("fake_uint8", "real_uint8"))
    _check_fits_window(fake.shape, filter_size)  # fail before the search, not after
    pixels = int(np.prod(fake.shape[1:]))
    if batch_size is None:
        batch_size = max(1, _CHUNK_VALUES // pixels)
    elif (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise InputError(
            f"`batch_size` must be a positive integer or None. Received: batch_size={batch_size!r}"
        )

    fake_flat = fake.reshape(fake.shape[0], pixels)
    real_flat = real.reshape(real.shape[0], pixels)
    real_rows = max(1, 4 * _CHUNK_VALUES // pixels)  # real images per float64 block
    real_norms = np.empty(real.shape[0], dtype=np.float64)  # |r|^2 per real image
    for real_start in range(0, real.shape[0], real_rows):
        candidates = real_flat[real_start : real_start + real_rows].astype(np.float64)
        real_norms[real_start : real_start + real_rows] = np.einsum(
            "ij,ij->i", candidates, candidates
        )
    nearest = np.empty(fake.shape[0], dtype=np.int64)
    for start in range(0, fake.shape[0], int(batch_size)):
        block = fake_flat[start : start + int(batch_size)].astype(np.float64)
        best_score = np.full(block.shape[0], np.inf)
        best_index = np.zeros(block.shape[0], dtype=np.int64)
        # |f - r|^2 = |f|^2 + |r|^2 - 2 f·r; |f|^2 is the same for every r, so
        # ranking by |r|^2 - 2 f·r finds the nearest real image.
        for real_start in range(0, real_flat.shape[0], real_rows):
            candidates = real_flat[real_start : real_start + real_rows].astype(np.float64)
            score = real_norms[real_start : real_start + real_rows][None, :] - 2.0 * (
                block @ candidates.T
            )
            local = score.argmin(axis=1)
            local_score = score[np.arange(score.shape[0]), local]
            better = local_score < best_score
            best_score[better] = local_score[better]
            best_index[better] = real_start + local[better]
        nearest[start : start + block.shape[0]] = best_index

    # MSE recomputed directly from the matched pairs (an exact copy gives exactly 0).
    mse_values = np.empty(fake.shape[0], dtype=np.float64)
    ssim_values = np.empty(fake.shape[0], dtype=np.float64)
    for start in range(0, fake.shape[0], int(batch_size)):
        stop = start + int(batch_size)
        matched = real[nearest[start:stop]]
        mse_values[start:stop] = mse(fake[start:stop], matched)
        ssim_values[start:stop] = ssim(fake[start:stop], matched, filter_size=filter_size)
    return {
        "mse": float(mse_values.mean()),
        "ssim": float(ssim_values.mean()),
        "mse_per_image": mse_values,
        "ssim_per_image": ssim_values,
        "nearest_index": nearest,
    }


# Luminance weights of scikit-image's rgb2gray (the ITU-R BT.709 primaries as
# skimage rounds them; BT.601's 0.299/0.587/0.114 would give other scores):
# BRISQUE.score of the brisque package converts with rgb2gray, and its model
# was fitted to features of those grey images.
RGB_TO_GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def rgb_to_grey(image) -> np.ndarray:
    """``skimage.color.rgb2gray`` in NumPy: RGB ``[..., 3]`` -> float64 ``[...]``.

    uint8 values are first scaled to [0, 1] as skimage's ``img_as_float``
    does (× 1/255); float input is used as it is (float32 stays float32).
    """
    image = np.asarray(image)
    if image.shape[-1] != 3:
        raise InputError(f"rgb_to_grey needs RGB images [..., 3]. Received: shape={image.shape}")
    if image.dtype.kind == "u":
        image = np.multiply(image, 1.0 / np.iinfo(image.dtype).max, dtype=np.float64)
    elif image.dtype not in (np.float32, np.float64):
        raise InputError(f"rgb_to_grey takes unsigned-integer or float32/64 images. Received: dtype={image.dtype}")
    return image @ np.array(RGB_TO_GREY_WEIGHTS, dtype=image.dtype)


# BRISQUE needs at least this many pixels per side: its second scale halves the
# image and fits statistics over 7×7 windows; below this it saturates.
_BRISQUE_MIN_SIZE = 32


def brisque_scores(images_uint8) -> np.ndarray:
    """BRISQUE score of each image (Mittal et al. 2012): lower is better.

    Uses the SVR model trained on the LIVE database shipped with the PyPI
    package ``brisque`` (0.2.0), which works offline. Typical natural photos
    score about 0-40 and strongly degraded ones 50-100. The model was trained on
    photographs of several hundred pixels: scores of small images (below ~128
    px) are unreliable, and images below 32 px are refused. A constant image
    has no defined score (NaN).

    Args:
        images_uint8: ``[N, H, W, C]`` uint8 images, C = 1 or 3.

    Returns:
        ``[N]`` float64 scores.

    Raises:
        ImportError: when the optional packages are missing.
    """
    images = _check_images(images_uint8, "images_uint8", require_uint8=True)
    if images.shape[-1] not in (1, 3):
        raise InputError(
            f"`images_uint8` must have 1 or 3 channels. Received: shape={images.shape}"
        )
    if min(images.shape[1:3]) < _BRISQUE_MIN_SIZE:
        raise InputError(
            f"BRISQUE needs images of at least {_BRISQUE_MIN_SIZE}×{_BRISQUE_MIN_SIZE} pixels "
            f"(its statistics saturate below). Received: shape={images.shape}"
        )
    try:
        import cv2
        from brisque import BRISQUE
    except ImportError as error:
        raise ImportError(
            'BRISQUE needs optional packages: pip install "tfgen[brisque]" '
            f"(brisque, opencv-python-headless). Import failed with: {error}"
        ) from error

    model = BRISQUE(url=False)
    scores = np.empty(images.shape[0], dtype=np.float64)
    for i, image in enumerate(images):
        if image.shape[-1] == 1:
            image = np.repeat(image, 3, axis=-1)  # the package expects RGB
        # The steps of BRISQUE.score (brisque 0.2.0), whose own last step fails
        # under current NumPy (2.4): some features are 1-element arrays, which
        # float() no longer accepts, so they are converted here first.
        grey = rgb_to_grey(image)
        half = cv2.resize(grey, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_CUBIC)
        features = np.concatenate(
            [
                model.calculate_brisque_features(grey, kernel_size=7, sigma=7 / 6),
                model.calculate_brisque_features(half, kernel_size=7, sigma=7 / 6),
            ]
        )
        features = np.array([np.asarray(f, dtype=np.float64).item() for f in features])
        scores[i] = model.calculate_image_quality_score(features)
    return scores
