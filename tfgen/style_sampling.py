"""Pictures only a style-based generator can make: style mixing grids and walks
between the latents that AdaIN adaptation fitted to the shots. Any generator
with :data:`tfgen.style_interface.STYLE_GENERATOR_INTERFACE` works (the walks
also need fitted latents).

Every image here is rendered with the same injected noise (seeded by
``noise_seed``), so that what changes between two images is the styles
alone. The generator's SeedGenerator states are given back afterwards.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from tfgen.errors import InputError
from tfgen.sampling import _restored_seed_states, create_input_noise, make_grid, postprocess_images, set_noise_seed
from tfgen.style_interface import require_style_generator


def render_ws(generator, ws, *, noise_seed=0):
    """uint8 images ``[B, R, R, C]`` of ``ws [B, num_ws, w_dim]``, one at a time with the same noise."""
    ws = np.asarray(ws, np.float32)
    images = []
    with _restored_seed_states(generator):
        for index in range(len(ws)):
            set_noise_seed(generator, noise_seed)
            images.append(postprocess_images(generator.synthesize(ws[index : index + 1])))
    return np.concatenate(images, axis=0)


def seed_ws(generator, seeds, *, truncation_psi=None):
    """``ws [len(seeds), num_ws, w_dim]`` of the z of each seed (``create_input_noise(1, dim, seed)``)."""
    z = np.concatenate([create_input_noise(1, generator.latent_dim, int(s)) for s in seeds], axis=0)
    return ops.convert_to_numpy(generator.map(z, truncation_psi=truncation_psi))


def style_mixing_grid(generator, row_seeds, col_seeds, *, crossover=None, truncation_psi=None, noise_seed=0):
    """The StyleGAN paper's figure 3: a uint8 grid image.

    The top row shows the column sources, the left column the row sources
    (the corner is blank); cell (r, c) takes row r's styles for the layers
    before ``crossover`` (the coarse ones: pose, shape) and column c's from
    ``crossover`` on (the finer ones). ``crossover`` defaults to
    ``num_ws // 2``.
    """
    require_style_generator(generator, "A style mixing grid")
    num_ws = generator.num_ws
    crossover = num_ws // 2 if crossover is None else int(crossover)
    if not 0 < crossover < num_ws:
        raise InputError(
            f"crossover must be in [1, {num_ws - 1}] (the generator has {num_ws} style layers). "
            f"Received: crossover={crossover}"
        )
    if not row_seeds or not col_seeds:
        raise InputError(f"Give at least one row and one column seed. Received: {row_seeds}, {col_seeds}")
    rows = seed_ws(generator, row_seeds, truncation_psi=truncation_psi)
    cols = seed_ws(generator, col_seeds, truncation_psi=truncation_psi)
    mixed = np.concatenate(
        [np.concatenate([rows[r : r + 1, :crossover], cols[:, crossover:][c : c + 1]], axis=1)
         for r in range(len(rows)) for c in range(len(cols))],
        axis=0,
    )  # fmt: skip
    col_images = render_ws(generator, cols, noise_seed=noise_seed)
    row_images = render_ws(generator, rows, noise_seed=noise_seed)
    mixed_images = render_ws(generator, mixed, noise_seed=noise_seed)
    blank = np.zeros_like(col_images[0])
    cells = [blank, *col_images]
    for r in range(len(rows)):
        cells.append(row_images[r])
        cells.extend(mixed_images[r * len(cols) : (r + 1) * len(cols)])
    return make_grid(np.stack(cells), nrow=len(cols) + 1)


def _fitted_latents(generator):
    require_style_generator(generator, "Walking between fitted latents")
    count = getattr(generator, "fitted_latents", 0)
    if count < 2:
        raise InputError(
            "This generator has no fitted latents to walk between: adapt it to two or more shots "
            "first (generate.py --adapt-from RUN --shots ..., or tfgen.adapt)."
        )
    return ops.convert_to_numpy(generator.fitted)


def fitted_interpolation_frames(generator, steps_per_segment=16, *, loop=True, noise_seed=0):
    """uint8 frames of a walk through the fitted latents 0, 1, ..., k-1 (and back
    to 0 with ``loop``), linear in the fitted space as the adaptation's loss."""
    latents = _fitted_latents(generator)
    keys = list(latents) + ([latents[0]] if loop else [])
    t = (np.arange(int(steps_per_segment), dtype=np.float32) / int(steps_per_segment))[:, None]
    walk = [(1.0 - t) * a + t * b for a, b in zip(keys[:-1], keys[1:])]
    if not loop:
        walk.append(keys[-1][None])
    return render_ws(generator, generator.fitted_ws(np.concatenate(walk, axis=0)), noise_seed=noise_seed)


def fitted_interpolation_grid(generator, *, pairs=None, steps=8, noise_seed=0):
    """uint8 images ``[len(pairs) * steps, R, R, C]``: per pair (i, j) of fitted
    latents, ``steps`` images from latent i (t = 0) to latent j (t = 1) -- one
    row of a grid each. ``pairs`` defaults to (0, 1), (1, 2), ..., (k-1, 0)."""
    latents = _fitted_latents(generator)
    k = len(latents)
    pairs = [(i, (i + 1) % k) for i in range(k)] if pairs is None else [(int(i), int(j)) for i, j in pairs]
    t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]
    walk = np.concatenate([(1.0 - t) * latents[i] + t * latents[j] for i, j in pairs], axis=0)
    return render_ws(generator, generator.fitted_ws(walk), noise_seed=noise_seed)


__all__ = [
    "fitted_interpolation_frames",
    "fitted_interpolation_grid",
    "render_ws",
    "seed_ws",
    "style_mixing_grid",
]
