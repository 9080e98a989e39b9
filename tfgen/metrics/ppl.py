"""Perceptual path length (PPL) of a style-based generator.

Karras et al., "A Style-Based Generator Architecture for Generative
Adversarial Networks" (CVPR 2019), section 4.2: how much the image changes,
perceptually, for a tiny step along an interpolation path in latent space. A
smooth, disentangled latent space changes little per step. For latent pairs
z0, z1 ~ N(0, I) and t ~ U(0, 1):

    space "z": l = d(G(slerp(z0, z1, t)), G(slerp(z0, z1, t + eps))) / eps^2
    space "w": l = d(g(lerp(f(z0), f(z1), t)), g(lerp(f(z0), f(z1), t + eps))) / eps^2

with f the mapping network, g the synthesis network, d a perceptual distance
(:class:`tfgen.perceptual.FeatureDistance`; StyleGAN used LPIPS-VGG) and
eps = 1e-4. PPL is the mean of l over the samples between the 1st and the 99th
percentile (StyleGAN's filtering of outliers). Both images of a pair get the
same per-pixel noise, so only the latent step separates them. As in StyleGAN,
the distance is computed in float32 on unclipped images and without
truncation; unlike StyleGAN (FFHQ), images are not cropped to a face.

    from tfgen.metrics.ppl import perceptual_path_length
    perceptual_path_length(G, space="w", num_samples=1000)["ppl"]

Reproducibility: the latents are :func:`sample_path_latents` ``(num_samples,
latent_dim, seed)`` whatever the batch size; the injected noise is drawn per
batch (from the seed and the batch start), so a model with non-zero noise
weights gives slightly different values for another batch size.
"""

from __future__ import annotations

import warnings

import numpy as np

from tfgen.errors import InputError
from tfgen.style_interface import require_style_generator

SPACES = ("w", "z")
SAMPLINGS = ("full", "end")  # t ~ U(0, 1), or t = 0 (StyleGAN's "end" variant)
# StyleGAN's percentile filter: samples outside [1st, 99th] percentile are dropped.
LOW_PERCENTILE, HIGH_PERCENTILE = 1, 99


def slerp(a, b, t):
    """Spherical interpolation between the directions of ``a`` and ``b`` ``[N, D]``
    at ``t`` ``[N]`` (float64; StyleGAN's ``slerp``): unit vectors, at angle
    ``t * angle(a, b)`` from ``a`` in the plane of ``a`` and ``b``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[:, None]
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    cos = np.clip(np.sum(a * b, axis=-1, keepdims=True), -1.0, 1.0)
    angle = t * np.arccos(cos)
    c = b - cos * a  # the component of b orthogonal to a
    c = c / np.linalg.norm(c, axis=-1, keepdims=True)
    d = a * np.cos(angle) + c * np.sin(angle)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _latent_batches(num_samples, latent_dim, batch_size, seed, sampling):
    """``(start, z0, z1, t)`` per batch. z0, z1 and t each come from their own
    stream, cut into chunks, so sample i is the same for any batch size."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    for start in range(0, num_samples, batch_size):
        count = min(batch_size, num_samples - start)
        z0 = streams[0].standard_normal((count, latent_dim), dtype=np.float32)
        z1 = streams[1].standard_normal((count, latent_dim), dtype=np.float32)
        t = streams[2].uniform(0.0, 1.0, count)
        if sampling == "end":
            t = np.zeros(count)
        yield start, z0, z1, t


def sample_path_latents(num_samples, latent_dim, *, seed=0, sampling="full"):
    """The ``(z0 [N, D] float32, z1 [N, D] float32, t [N] float64)`` that
    :func:`perceptual_path_length` uses for ``seed``."""
    _check_choice("sampling", sampling, SAMPLINGS)
    parts = list(zip(*(b[1:] for b in _latent_batches(int(num_samples), int(latent_dim), 1024, seed, sampling))))
    return tuple(np.concatenate(p) for p in parts)


def check_style_generator(generator, space="w"):
    """ValueError unless ``generator`` has the style-based interface PPL walks
    (``tfgen.style_interface.STYLE_GENERATOR_INTERFACE``) in float32, and
    ``space`` is ``"w"`` or ``"z"``."""
    _check_choice("space", space, SPACES)
    require_style_generator(generator, "The perceptual path length")
    compute_dtype = str(getattr(generator, "compute_dtype", "float32"))
    if compute_dtype in ("float16", "bfloat16"):
        raise InputError(
            f"The generator computes in {compute_dtype}, whose precision cannot resolve the "
            "tiny steps (epsilon) of the path length. Build or load it under the float32 policy "
            f"(keras.mixed_precision.set_global_policy('float32')). Received: compute_dtype={compute_dtype}"
        )


def path_length_samples(
    generator,
    *,
    space="w",
    num_samples=1000,
    epsilon=1e-4,
    distance=None,
    features="efficientnet_lite0",
    feature_weights=None,
    batch_size=32,
    seed=0,
    sampling="full",
    progress=False,
):
    """The unfiltered per-sample path lengths ``d / eps^2``, float64 ``[num_samples]``.

    Arguments as in :func:`perceptual_path_length`.
    """
    epsilon = _check_arguments(generator, space, num_samples, epsilon, batch_size, sampling)
    if distance is None:
        from tfgen.perceptual import FeatureDistance

        distance = FeatureDistance(features=features, weights=feature_weights)
    seed = int(np.random.default_rng().integers(2**31)) if seed is None else int(seed)

    from keras import ops

    from tfgen.sampling import seed_state_variables, set_noise_seed

    num_samples, batch_size = int(num_samples), int(batch_size)
    lengths = np.empty(num_samples, np.float64)
    bar = _progress_bar(num_samples, progress)
    # Leave the generator's noise streams as they were (measuring has no side effect).
    noise_states = seed_state_variables(generator)
    saved = [np.array(v.numpy()) for v in noise_states]
    try:
        batches = _latent_batches(num_samples, int(generator.latent_dim), batch_size, seed, sampling)
        for start, z0, z1, t in batches:
            ws_t, ws_e = _path_ends(generator, space, z0, z1, t, epsilon)  # [b, num_ws, w_dim] each
            # The same noise for both ends of every pair: reset the noise
            # streams to one state before each of the two calls.
            noise_seed = int(np.random.SeedSequence([seed, start]).generate_state(1)[0] >> 1)
            set_noise_seed(generator, noise_seed)
            images_t = ops.cast(generator.synthesize(ws_t, training=False), "float32")
            set_noise_seed(generator, noise_seed)
            images_e = ops.cast(generator.synthesize(ws_e, training=False), "float32")
            d = ops.convert_to_numpy(distance(images_t, images_e))  # [b]
            lengths[start : start + len(t)] = np.asarray(d, np.float64) / epsilon**2
            if bar is not None:
                bar.update(len(t))
    finally:
        for variable, value in zip(noise_states, saved):
            variable.assign(value)
        if bar is not None:
            bar.close()
    return lengths


def _check_arguments(generator, space, num_samples, epsilon, batch_size, sampling):
    """Validate the arguments (before any network is built); returns epsilon as a float."""
    check_style_generator(generator, space)
    _check_choice("sampling", sampling, SAMPLINGS)
    try:
        step = float(epsilon)
    except (TypeError, ValueError):
        step = float("nan")
    if not np.isfinite(step) or step <= 0:
        raise InputError(f"epsilon must be a positive number (StyleGAN: 1e-4). Received: epsilon={epsilon!r}")
    for key, value, minimum in (("num_samples", num_samples, 2), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            reason = " (the percentile filter needs a distribution)" if key == "num_samples" else ""
            raise InputError(f"{key} must be an integer >= {minimum}{reason}. Received: {key}={value!r}")
    return step


def _path_ends(generator, space, z0, z1, t, epsilon):
    """The ws ``[b, num_ws, w_dim]`` at t and t + epsilon along the path (no truncation)."""
    from keras import ops

    if space == "z":
        z_t = slerp(z0, z1, t).astype(np.float32)
        z_e = slerp(z0, z1, t + epsilon).astype(np.float32)
        ws = generator.map(np.concatenate([z_t, z_e]), truncation_psi=1.0)
    else:
        # f(z0) and f(z1) in one call; lerp in float64 so the step is exact.
        w = np.asarray(ops.convert_to_numpy(generator.mapping(np.concatenate([z0, z1]))), np.float64)
        w0, w1 = w[: len(t)], w[len(t) :]
        lerp = lambda s: (w0 + s[:, None] * (w1 - w0)).astype(np.float32)  # noqa: E731
        ws = generator.broadcast_w(np.concatenate([lerp(t), lerp(t + epsilon)]), truncation_psi=1.0)
    return ws[: len(t)], ws[len(t) :]


def summarize_path_lengths(lengths) -> dict:
    """StyleGAN's statistics of per-sample path lengths: ``ppl`` is the mean of
    those between the 1st (rounded down) and 99th (rounded up) percentile;
    also the raw mean, the median and the counts. NaN throughout when a
    sample is not finite (e.g. a diverged generator), with a warning."""
    lengths = np.asarray(lengths, np.float64)
    if not np.all(np.isfinite(lengths)):
        warnings.warn(
            f"{int(np.sum(~np.isfinite(lengths)))} of {lengths.size} path lengths are not finite "
            "(the generator's images contain NaN or inf); the PPL is NaN.",
            RuntimeWarning,
            stacklevel=2,
        )
        nan = float("nan")
        return {"ppl": nan, "ppl_mean": nan, "ppl_median": nan, "num_samples": int(lengths.size), "num_kept": 0}
    low = np.percentile(lengths, LOW_PERCENTILE, method="lower")
    high = np.percentile(lengths, HIGH_PERCENTILE, method="higher")
    kept = lengths[(lengths >= low) & (lengths <= high)]
    return {
        "ppl": float(np.mean(kept)),
        "ppl_mean": float(np.mean(lengths)),
        "ppl_median": float(np.median(lengths)),
        "num_samples": int(lengths.size),
        "num_kept": int(kept.size),
    }


def perceptual_path_length(
    generator,
    *,
    space="w",
    num_samples=1000,
    epsilon=1e-4,
    distance=None,
    features="efficientnet_lite0",
    feature_weights=None,
    batch_size=32,
    seed=0,
    sampling="full",
    progress=False,
) -> dict:
    """Perceptual path length of a style-based generator (StyleGAN, section 4.2).

    Args:
        generator: a style-based generator (``StyleGenerator``): ``mapping(z)
            -> w``, ``broadcast_w(w)`` / ``map(z) -> ws``, ``synthesize(ws)
            -> images``, ``latent_dim``. Computed in float32.
        space: ``"w"`` (lerp between mapped latents) or ``"z"`` (slerp between
            input latents).
        num_samples: latent pairs (StyleGAN: 100,000); at least 2.
        epsilon: the step along the path (StyleGAN: 1e-4).
        distance: ``(images_a, images_b) -> [B]`` perceptual distance; None
            builds ``FeatureDistance(features=features, weights=feature_weights)``.
        features, feature_weights: the feature network of the default
            distance (``"efficientnet_lite0"`` or ``"classifier"`` + its folder).
        batch_size: pairs per generator call.
        seed: fixes the latents, t and the injected noise (None: fresh).
        sampling: ``"full"`` (t ~ U(0, 1)) or ``"end"`` (t = 0, StyleGAN's
            path-endpoint variant).
        progress: show a progress bar.

    Returns:
        ``{"ppl": filtered mean, "ppl_mean": raw mean, "ppl_median": median,
        "num_samples": N, "num_kept": samples inside the percentiles,
        "space": space, "epsilon": epsilon, "distance": the distance's name}``.

    Raises:
        ValueError: not a style-based generator (e.g. FastGAN), a float16
            generator, epsilon <= 0, num_samples < 2, an unknown space.
    """
    if distance is None:
        # Check the arguments before building a feature network.
        _check_arguments(generator, space, num_samples, epsilon, batch_size, sampling)
        from tfgen.perceptual import FeatureDistance

        distance = FeatureDistance(features=features, weights=feature_weights)
    lengths = path_length_samples(
        generator,
        space=space,
        num_samples=num_samples,
        epsilon=epsilon,
        distance=distance,
        batch_size=batch_size,
        seed=seed,
        sampling=sampling,
        progress=progress,
    )
    return {
        **summarize_path_lengths(lengths),
        "space": space,
        "epsilon": float(epsilon),
        "distance": str(getattr(distance, "name", getattr(distance, "__name__", type(distance).__name__))),
    }


def _check_choice(key, value, choices):
    if value not in choices:
        raise InputError(f"{key} must be one of {', '.join(map(repr, choices))}. Received: {key}={value!r}")


def _progress_bar(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="pair", desc="path length", dynamic_ncols=True, leave=False)
