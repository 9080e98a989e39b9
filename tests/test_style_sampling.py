"""Style mixing grids and walks between fitted latents (tfgen.style_sampling)."""

import numpy as np
import pytest

from tfgen.families.stylegan.config import StyleGANConfig
from tfgen.registry import get_family
from tfgen.sampling import create_input_noise
from tfgen.style_sampling import (
    fitted_interpolation_frames,
    fitted_interpolation_grid,
    render_ws,
    seed_ws,
    style_mixing_grid,
)

R = 32


def tiny_generator(**overrides):
    values = dict(
        resolution=R, channels=1, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8
    )
    values.update(overrides)
    return get_family("stylegan").build_generator(StyleGANConfig(**values))


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


@pytest.fixture(scope="module")
def fitted_generator():
    G = tiny_generator(fitted_latents=3, sampling="interpolate")
    G.fitted.assign(np.random.default_rng(0).standard_normal((3, 8)).astype("float32"))
    return G


def cell(grid, row, col):
    top, left = 2 + row * (R + 2), 2 + col * (R + 2)
    return grid[top : top + R, left : left + R]


def test_render_uses_the_same_noise_for_every_image(generator):
    ws = seed_ws(generator, [7, 7, 7])
    images = render_ws(generator, ws, noise_seed=1)
    np.testing.assert_array_equal(images[0], images[1])
    np.testing.assert_array_equal(images[0], images[2])


def test_style_mixing_grid_layout(generator):
    grid = style_mixing_grid(generator, [1, 2], [3, 4, 5], crossover=2, noise_seed=0)
    assert grid.shape[:2] == (3 * (R + 2) + 2, 4 * (R + 2) + 2)
    assert not cell(grid, 0, 0).any()  # the blank corner
    rows, cols = seed_ws(generator, [1, 2]), seed_ws(generator, [3, 4, 5])
    np.testing.assert_array_equal(cell(grid, 0, 1), render_ws(generator, cols[:1])[0])
    np.testing.assert_array_equal(cell(grid, 2, 0), render_ws(generator, rows[1:2])[0])
    # Cell (row 2, column 3): row seed 2's first two style layers, column seed 5's others.
    mixed = np.concatenate([rows[1:2, :2], cols[2:3, 2:]], axis=1)
    np.testing.assert_array_equal(cell(grid, 2, 3), render_ws(generator, mixed)[0])


def test_mixing_a_seed_with_itself_gives_its_own_image(generator):
    grid = style_mixing_grid(generator, [9], [9])
    np.testing.assert_array_equal(cell(grid, 1, 1), cell(grid, 0, 1))
    np.testing.assert_array_equal(cell(grid, 1, 1), cell(grid, 1, 0))


def test_seed_ws_are_the_mapped_noise_of_each_seed(generator):
    ws = seed_ws(generator, [4])
    expected = np.asarray(generator.map(create_input_noise(1, 8, 4)))
    np.testing.assert_allclose(ws, expected, rtol=1e-6)


def test_fitted_walk_starts_at_each_fitted_latent(fitted_generator):
    G = fitted_generator
    frames = fitted_interpolation_frames(G, 4, noise_seed=2)
    assert frames.shape == (3 * 4, R, R, 1)
    ends = render_ws(G, np.asarray(G.map(np.asarray(G.fitted))), noise_seed=2)
    for k in range(3):
        np.testing.assert_array_equal(frames[4 * k], ends[k])
    open_walk = fitted_interpolation_frames(G, 4, loop=False, noise_seed=2)
    assert len(open_walk) == 2 * 4 + 1
    np.testing.assert_array_equal(open_walk[-1], ends[2])


def test_fitted_grid_rows_run_between_the_pairs(fitted_generator):
    G = fitted_generator
    images = fitted_interpolation_grid(G, pairs=[(0, 2)], steps=5, noise_seed=0)
    ends = render_ws(G, np.asarray(G.map(np.asarray(G.fitted))), noise_seed=0)
    assert images.shape == (5, R, R, 1)
    np.testing.assert_array_equal(images[0], ends[0])
    np.testing.assert_array_equal(images[-1], ends[2])


def test_errors(generator):
    with pytest.raises(ValueError, match="crossover must be in"):
        style_mixing_grid(generator, [1], [2], crossover=generator.num_ws)
    with pytest.raises(ValueError, match="no fitted latents"):
        fitted_interpolation_frames(generator)
    with pytest.raises(ValueError, match="style-based generator"):
        style_mixing_grid(object(), [1], [2])
