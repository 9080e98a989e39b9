"""End-to-end tests of generate.py on a fake run folder (subprocesses)."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from tests.scripts import REPO, run_script

LATENT_DIM = 16


def _run(*args):
    return run_script("generate.py", *args)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    import keras

    from tfgen.config import RunConfig
    from tfgen.families.fastgan.config import FastGANConfig
    from tfgen.runs import save_run_config
    from tfgen.families.fastgan.networks import FastGANGenerator
    from tfgen.weights import save_weights_atomic

    folder = tmp_path_factory.mktemp("runs") / "fake"
    folder.mkdir()
    config = FastGANConfig(resolution=64, latent_dim=LATENT_DIM, ngf=8, ndf=8)
    save_run_config(str(folder / "config.json"), "fastgan", config, RunConfig(name="fake"))
    generator = FastGANGenerator(output_resolution=64, latent_dim=LATENT_DIM, ngf=8)
    # Set BN moving statistics from one batch so images are not flat grey.
    norms = [l for l in generator._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    generator(np.random.default_rng(0).standard_normal((16, LATENT_DIM), dtype=np.float32), training=True)
    for layer in norms:
        layer.momentum = 0.9
    save_weights_atomic(generator, str(folder / "generator_ema.weights.h5"))
    return folder


def _assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_writes_pngs_grid_and_gif(run_folder, tmp_path):
    from tfgen import sampling
    from tfgen.runs import load_generator

    out = tmp_path / "out"
    result = _run(
        f"--generator={run_folder}",
        "--num-images=5",
        "--batch-size=2",
        "--seed=3",
        f"--output-dir={out}",
        "--pngs",
        "--grid",
        "--nrow=3",
        "--interpolate=2",
        "--steps-per-segment=3",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == [f"{i:06d}.png" for i in range(5)] + ["grid.png", "interpolation.gif"]
    assert "Wrote 5 images" in result.stdout

    pngs = np.stack([np.asarray(Image.open(out / f"{i:06d}.png")) for i in range(5)])
    assert pngs.shape == (5, 64, 64, 3) and pngs.std() > 5
    # The same images in the same order as the library call with that seed.
    generator = load_generator(str(run_folder))
    np.testing.assert_array_equal(pngs, sampling.generate(generator, 5, batch_size=2, seed=3))

    grid = np.asarray(Image.open(out / "grid.png"))
    np.testing.assert_array_equal(grid, sampling.make_grid(pngs, nrow=3))
    with Image.open(out / "interpolation.gif") as gif:
        assert 1 < gif.n_frames <= 2 * 3  # Pillow may merge identical frames


def test_pngs_are_written_by_default_only():
    sys.path.insert(0, REPO)
    try:
        from generate import pngs_wanted
    finally:
        sys.path.remove(REPO)
    assert pngs_wanted(None, grid=False, interpolate=0)
    assert not pngs_wanted(None, grid=True, interpolate=0)
    assert not pngs_wanted(None, grid=False, interpolate=3)
    assert pngs_wanted(True, grid=True, interpolate=3)
    assert not pngs_wanted(False, grid=False, interpolate=0)


def test_missing_run_folder_is_one_clean_line(tmp_path):
    missing = str(tmp_path / "no_such_run")
    _assert_one_line_error(_run(f"--generator={missing}", f"--output-dir={tmp_path}"), missing)


def test_mismatched_weights_are_one_clean_line(run_folder, tmp_path):
    from tfgen.config import RunConfig
    from tfgen.families.fastgan.config import FastGANConfig
    from tfgen.runs import save_run_config

    # The fake run's weights (ngf=8) beside a config.json that says ngf=16.
    other = tmp_path / "other_run"
    other.mkdir()
    config = FastGANConfig(resolution=64, latent_dim=LATENT_DIM, ngf=16, ndf=8)
    save_run_config(str(other / "config.json"), "fastgan", config, RunConfig(name="other"))
    weights = other / "generator_ema.weights.h5"
    weights.write_bytes((run_folder / "generator_ema.weights.h5").read_bytes())
    result = _run(f"--generator={other}", f"--output-dir={tmp_path / 'out'}")
    _assert_one_line_error(result, str(weights), "does not fit", "ngf=16")
    assert not (tmp_path / "out").exists()


def test_bfloat16_generator_has_the_same_weights_and_close_images(run_folder):
    import keras

    from tfgen import sampling
    from tfgen.runs import load_generator

    plain = load_generator(str(run_folder))
    fast = load_generator(str(run_folder), mixed_precision="bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"  # the policy is restored
    assert plain.compute_dtype == "float32" and fast.compute_dtype == "bfloat16"
    for a, b in zip(plain.weights, fast.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    z = np.random.default_rng(3).standard_normal((4, LATENT_DIM)).astype("float32")
    reference, images = plain(z), fast(z)
    assert keras.backend.standardize_dtype(images.dtype) == "float32"
    # bfloat16 keeps 8 bits of mantissa: close to float32's images, not equal.
    difference = np.abs(keras.ops.convert_to_numpy(images) - keras.ops.convert_to_numpy(reference))
    assert 0 < difference.max() < 0.25 and difference.mean() < 0.03
    assert sampling.generate(fast, 3, batch_size=2, seed=0).dtype == np.uint8


def test_mixed_precision_flag(run_folder, tmp_path):
    result = _run(f"--generator={run_folder}", "--mixed-precision=bfloat16", "--num-images=4", "--grid",
                  f"--output-dir={tmp_path / 'out'}")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "grid.png").size[0] > 64
    refused = _run(f"--adapt-from={run_folder}", "--shots=digits:9", "--mixed-precision=bfloat16",
                   f"--output-dir={tmp_path / 'adapted'}")  # fmt: skip
    _assert_one_line_error(refused, "--mixed-precision applies to --generator")
