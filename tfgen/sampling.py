"""Sampling from trained generators: noise, batched generation, grids, GIFs.

Reproducibility contract:

* ``create_input_noise`` draws z with NumPy from ``seed``, so the same seed
  gives the same z on every backend and device.
* ``generate(G, n, seed=s)`` feeds the rows of ``create_input_noise(n, seed=s)``
  batch by batch (one NumPy stream split into chunks), so image ``i`` always
  gets the same z, whatever the batch size.
* FastGAN's noise-injection layers draw extra per-pixel noise from their own
  ``SeedGenerator``s, which advance on every call. ``generate`` sets those
  states from ``(seed, batch start)`` before each batch and restores them
  afterwards: results depend only on (weights, seed, batch size), and calling
  ``generate`` leaves the model untouched. That injected noise is drawn per
  batch, so once a trained model has non-zero noise weights, image ``i`` can
  differ slightly between batch sizes (z is still the same).
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np
from PIL import Image

from tfgen.errors import InputError



# --------------------------------------------------------------------- noise


def create_input_noise(batch_size, latent_dim=256, seed=None):
    """Standard-normal latent codes, float32 NumPy array ``[batch_size, latent_dim]``.

    NumPy (not a backend RNG) draws them, so a seed gives identical z on every
    backend and device. A NumPy array is accepted by any Keras model, so the
    result can be passed straight to ``G(noise)``. ``seed=None`` draws fresh
    entropy.
    """
    if int(batch_size) < 0 or int(latent_dim) < 1:
        raise InputError(
            "batch_size must be >= 0 and latent_dim >= 1. "
            f"Received: batch_size={batch_size}, latent_dim={latent_dim}"
        )
    rng = np.random.default_rng(seed)
    return rng.standard_normal((int(batch_size), int(latent_dim)), dtype=np.float32)


# ----------------------------------------------------------- postprocessing


def _to_numpy(x):
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy"):  # eager TF tensors, JAX/torch-like arrays
        return np.asarray(x.numpy())
    return np.asarray(x)


class ImageArray(np.ndarray):
    """A NumPy array that also answers ``.numpy()``, as the tensors of the
    SLE-GAN reference's ``postprocess_images`` do: its snippet
    ``postprocess_images(G(noise), tf.uint8).numpy()`` runs unchanged."""

    def numpy(self):
        return self.view(np.ndarray)


def postprocess_images(images, dtype="uint8"):
    """Images in [-1, 1] (tensor or array, any float dtype) -> NumPy images.

    ``dtype="uint8"`` (or ``tf.uint8``, ``np.uint8``): ``round((x + 1) * 127.5)``
    clipped to [0, 255]. ``dtype="float32"``: ``(x + 1) / 2`` clipped to [0, 1].
    The shape is kept (NHWC in, NHWC out). The result is a NumPy array (an
    :class:`ImageArray`, which also has ``.numpy()``).
    """
    name = getattr(dtype, "name", None) if not isinstance(dtype, str) else dtype
    if name is None and dtype in (np.uint8, np.float32):
        name = np.dtype(dtype).name
    if name not in ("uint8", "float32"):
        raise InputError(f"dtype must be 'uint8' or 'float32'. Received: dtype={dtype!r}")
    x = _to_numpy(images).astype(np.float32)  # also lifts bfloat16/float16
    if name == "float32":
        return np.clip((x + 1.0) / 2.0, 0.0, 1.0).view(ImageArray)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8).view(ImageArray)


# --------------------------------------------------------------- generation


def seed_state_variables(model):
    """The state variables of every ``keras.random.SeedGenerator`` in ``model``.

    They are not part of ``.weights.h5`` files, so a reloaded model starts
    from fresh states; ``generate`` sets them itself.
    """
    return [v for v in model.variables if v.path.split("/")[-1].startswith("seed_generator_state")]



def set_noise_seed(model, seed):
    """Set the state of every ``keras.random.SeedGenerator`` in ``model`` from
    ``seed``: two calls after the same ``set_noise_seed`` draw the same noise
    (e.g. the two ends of a path-length pair)."""
    _set_seed_states(seed_state_variables(model), seed, 0)


def _derived_seed(*entropy):
    """A positive int31 seed from integers (stable across runs and platforms)."""
    return int(np.random.SeedSequence([int(e) & 0xFFFFFFFF for e in entropy]).generate_state(1)[0] >> 1)


def _fresh_seed():
    """A random seed, for ``seed=None`` (not reproducible, by request)."""
    return int(np.random.default_rng().integers(2**31))


@contextlib.contextmanager
def _restored_seed_states(model):
    """Give back the model's SeedGenerator states on exit (sampling has no side effect)."""
    variables = seed_state_variables(model)
    saved = [np.array(v.numpy()) for v in variables]
    try:
        yield variables
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


def _set_seed_states(variables, seed, start):
    for index, variable in enumerate(variables):
        value = np.array([_derived_seed(seed, start, index), 0])
        variable.assign(value.astype(variable.dtype))


def _latent_dim(generator):
    latent_dim = getattr(generator, "latent_dim", None)
    if latent_dim is None:
        raise InputError(
            f"Model {getattr(generator, 'name', generator)!r} has no `latent_dim` attribute; "
            "pass a generator such as tfgen.families.fastgan.networks.FastGANGenerator."
        )
    return int(latent_dim)


def _check_counts(num_images, batch_size):
    if int(num_images) < 1 or int(batch_size) < 1:
        raise InputError(
            "num_images and batch_size must be >= 1. "
            f"Received: num_images={num_images}, batch_size={batch_size}"
        )


def _progress_bar(total, enabled):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="img", desc="generating")


def _generate_batches(generator, z_batches, total, *, seed, progress, same_noise=False):
    """Run ``generator`` on ``(start, z)`` pairs, yielding uint8 batches.

    The generator's SeedGenerators are set from ``(seed, start)`` before each
    batch (from ``(seed, 0)`` for all of them when ``same_noise``) and
    restored when the iteration ends.
    """
    bar = _progress_bar(total, progress)
    try:
        with _restored_seed_states(generator) as seed_states:
            for start, z in z_batches:
                _set_seed_states(seed_states, seed, 0 if same_noise else start)
                images = generator(z, training=False)  # inference: BN moving stats
                yield postprocess_images(images)
                if bar is not None:
                    bar.update(len(z))
    finally:
        if bar is not None:
            bar.close()


def iter_generate(generator, num_images, *, batch_size=16, seed=0, progress=False):
    """Like :func:`generate`, but yields uint8 batches ``[b, R, R, C]`` one at a time.

    Use it to write many images without holding them all in memory. The
    batches concatenated equal ``generate(generator, num_images, ...)``.
    """
    _check_counts(num_images, batch_size)
    latent_dim = _latent_dim(generator)
    num_images, batch_size = int(num_images), int(batch_size)
    seed = _fresh_seed() if seed is None else int(seed)

    def z_batches():
        # One NumPy stream cut into chunks: image i gets row i of
        # create_input_noise(num_images, latent_dim, seed) for any batch size.
        rng = np.random.default_rng(seed)
        for start in range(0, num_images, batch_size):
            count = min(batch_size, num_images - start)
            yield start, rng.standard_normal((count, latent_dim), dtype=np.float32)

    return _generate_batches(generator, z_batches(), num_images, seed=seed, progress=progress)


def generate(generator, num_images, *, batch_size=16, seed=0, progress=False):
    """``num_images`` uint8 images ``[N, R, R, C]`` from ``generator``, in batches
    (C = 3, or 1 for grey few-shot models).

    Deterministic for a given ``seed``: image ``i`` comes from row ``i`` of
    ``create_input_noise(num_images, generator.latent_dim, seed)`` whatever
    the batch size (see the module doc for the generator's injected noise).
    """
    batches = list(
        iter_generate(generator, num_images, batch_size=batch_size, seed=seed, progress=progress)
    )
    return np.concatenate(batches, axis=0)


# --------------------------------------------------------------- grids, files


def make_grid(images_uint8, nrow=None, padding=2, pad_value=0):
    """Tile ``[N, H, W, C]`` uint8 images into one ``[rows*(H+p)+p, nrow*(W+p)+p, C]`` image.

    ``nrow`` is the number of images per row (default ``ceil(sqrt(N))``), as
    in torchvision; images fill rows left to right, unused cells and the
    ``padding``-pixel borders hold ``pad_value``. ``[N, H, W]`` is treated as
    one channel.
    """
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise InputError(
            f"make_grid expects uint8 images; convert with postprocess_images first. "
            f"Received: dtype={images.dtype}"
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) == 0:
        raise InputError(
            f"make_grid expects a non-empty batch [N, H, W, C]. Received: shape={images.shape}"
        )
    n, h, w, c = images.shape
    nrow = int(nrow) if nrow else math.ceil(math.sqrt(n))
    if nrow < 1 or padding < 0:
        raise InputError(f"nrow must be >= 1 and padding >= 0. Received: nrow={nrow}, padding={padding}")
    rows = math.ceil(n / nrow)
    grid = np.full(
        (rows * (h + padding) + padding, nrow * (w + padding) + padding, c), pad_value, np.uint8
    )
    for index, image in enumerate(images):
        row, col = divmod(index, nrow)
        top = padding + row * (h + padding)
        left = padding + col * (w + padding)
        grid[top : top + h, left : left + w] = image
    return grid


def make_shots_grid(shots_uint8, images_uint8, nrow=None, padding=2, pad_value=0):
    """A grid with the few-shot ``shots`` on the top row and ``images`` below.

    Rows hold ``nrow`` images (default: ``max(len(shots), ceil(sqrt(len(images))))``);
    the shots' row is padded with empty cells.
    """
    shots, images = np.asarray(shots_uint8), np.asarray(images_uint8)
    if shots.ndim != 4 or images.ndim != 4 or shots.shape[1:] != images.shape[1:]:
        raise InputError(
            "make_shots_grid expects shots and images of one shape [N, H, W, C]. "
            f"Received: shots={shots.shape}, images={images.shape}"
        )
    nrow = int(nrow) if nrow else max(len(shots), math.ceil(math.sqrt(len(images))))
    if len(shots) > nrow:
        raise InputError(f"The {len(shots)} shots do not fit a row of nrow={nrow} images; raise nrow.")
    blanks = np.full((nrow - len(shots),) + shots.shape[1:], pad_value, np.uint8)
    return make_grid(np.concatenate([shots, blanks, images]), nrow=nrow, padding=padding, pad_value=pad_value)


def _pil_image(image_uint8):
    image = np.asarray(image_uint8)
    if image.dtype != np.uint8:
        raise InputError(
            f"Expected a uint8 image (use postprocess_images). Received: dtype={image.dtype}"
        )
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (3, 4)):
        raise InputError(
            f"Expected an image [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]. Received: shape={image.shape}"
        )
    return Image.fromarray(image)


def _image_format(path):
    ext = os.path.splitext(path)[1].lower()
    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise InputError(f"Cannot tell the image format from the file name. Received: path={path!r}")
    return fmt


def _atomic_pil_save(path, save):
    """Run ``save(tmp_path)`` then move the result to ``path`` in one step."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_image(path, image_uint8):
    """Write one uint8 image (format from the suffix), creating parent folders, atomically."""
    image = _pil_image(image_uint8)
    fmt = _image_format(path)
    _atomic_pil_save(path, lambda tmp: image.save(tmp, format=fmt))


def save_gif(path, frames_uint8, duration_ms=80):
    """Write uint8 frames ``[F, H, W, C]`` as a GIF that loops forever.

    Pillow merges consecutive frames that are identical after palette
    quantisation, so a GIF can hold fewer frames than given.
    """
    frames = [_pil_image(frame) for frame in frames_uint8]
    if not frames:
        raise InputError("save_gif needs at least one frame.")

    def save(tmp):
        frames[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=frames[1:],
            duration=int(duration_ms),
            loop=0,  # forever
        )

    _atomic_pil_save(path, save)


# ------------------------------------------------------------ interpolation


def slerp(z0, z1, t):
    """Spherical interpolation from ``z0`` (t=0) to ``z1`` (t=1) along the last axis.

    The angle is measured between the directions of ``z0`` and ``z1``;
    vectors of equal norm keep that norm along the path. For nearly parallel
    (or anti-parallel) vectors the great circle is ill-defined and this falls
    back to linear interpolation. ``t`` is a scalar or broadcasts against
    ``z0[..., :1]``.
    """
    z0 = np.asarray(z0)
    z1 = np.asarray(z1)
    out_dtype = np.result_type(z0.dtype, z1.dtype, np.float32)
    a, b = z0.astype(np.float64), z1.astype(np.float64)
    t = np.asarray(t, dtype=np.float64)
    if t.ndim > 0 and t.shape[-1] != 1:
        t = t[..., None]
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(a * b, axis=-1, keepdims=True) / (na * nb)
    cos = np.clip(np.nan_to_num(cos, nan=1.0), -1.0, 1.0)
    omega = np.arccos(cos)
    sin_omega = np.sin(omega)
    near_parallel = np.abs(cos) > 0.9995
    safe_sin = np.where(near_parallel, 1.0, sin_omega)
    spherical = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / safe_sin
    linear = (1.0 - t) * a + t * b
    return np.where(near_parallel, linear, spherical).astype(out_dtype)


def interpolation_latents(seeds, steps_per_segment, latent_dim=256, *, loop=True):
    """Latent walk through the z of ``seeds``, float32 ``[F, latent_dim]``.

    Seed ``s`` stands for ``create_input_noise(1, latent_dim, s)[0]``; each
    segment between successive seeds has ``steps_per_segment`` frames (slerp,
    start included, end excluded). With ``loop=True`` a last segment returns
    to the first seed so the GIF cycles seamlessly (F = K * steps); otherwise
    the final seed's z closes the walk (F = (K - 1) * steps + 1).
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or int(steps_per_segment) < 1:
        raise InputError(
            "An interpolation needs at least 2 seeds and steps_per_segment >= 1. "
            f"Received: seeds={seeds}, steps_per_segment={steps_per_segment}"
        )
    keys = [create_input_noise(1, latent_dim, seed)[0] for seed in seeds]
    if loop:
        keys.append(keys[0])
    t = np.arange(int(steps_per_segment), dtype=np.float64) / int(steps_per_segment)
    frames = [slerp(z0, z1, t) for z0, z1 in zip(keys[:-1], keys[1:])]
    if not loop:
        frames.append(keys[-1][None])
    return np.concatenate(frames, axis=0).astype(np.float32)


def interpolation_frames(generator, seeds, steps_per_segment=16, *, loop=True, seed=0, progress=False):
    """uint8 frames ``[F, R, R, C]`` along the latent walk of :func:`interpolation_latents`.

    Frames are rendered one per call with the same injected noise (seeded by
    ``seed``), so only z moves and the animation does not flicker.
    """
    latents = interpolation_latents(seeds, steps_per_segment, _latent_dim(generator), loop=loop)
    seed = _fresh_seed() if seed is None else int(seed)
    z_batches = ((index, latents[index : index + 1]) for index in range(len(latents)))
    frames = _generate_batches(
        generator, z_batches, len(latents), seed=seed, progress=progress, same_noise=True
    )
    return np.concatenate(list(frames), axis=0)
