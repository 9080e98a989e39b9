"""StyleGAN as a user runs it: train.py --model stylegan, then generate.py
(AdaIN adaptation, truncation, style mixing, interpolation GIF)."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.scripts import run_script
from tests.test_train_cli import error_message

TINY = (
    "--latent-dim", "8", "--w-dim", "8", "--mapping-layers", "2", "--channel-base", "64",
    "--channel-max", "8", "--batch-size", "4", "--steps", "2", "--quiet",
)  # fmt: skip
ADAPT = ("--adapt-steps", "2", "--perceptual-features", "none")


@pytest.fixture(scope="module")
def style_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    completed = run_script("train.py", "--model", "stylegan", "--runs-dir", str(runs), *TINY)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return runs / "stylegan_digits"


def test_train_writes_a_stylegan_run(style_run):
    config = json.loads((style_run / "config.json").read_text())
    assert config["family"] == "stylegan"
    assert config["model"]["resolution"] == 32 and config["model"]["channels"] == 1
    assert config["model"]["g_learning_rate"] == 0.002
    for name in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5"):
        assert (style_run / name).is_file()


def test_adapt_generate_and_reload(style_run, tmp_path):
    out, saved = tmp_path / "out", tmp_path / "adapted"
    completed = run_script(
        "generate.py", "--adapt-from", str(style_run), "--shots", "digits:9", "--num-shots", "3",
        *ADAPT, "--num-images", "6", "--grid", "--interpolate", "2", "--steps-per-segment", "2",
        "--output-dir", str(out), "--save-adapted", str(saved),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[:2] == (3 * 34 + 2, 3 * 34 + 2)  # 3 shots on top, 6 images in rows of 3
    gif = Image.open(out / "interpolation.gif")
    assert gif.n_frames == 3 * 2  # the walk through all 3 fitted latents and back
    adapted = json.loads((saved / "config.json").read_text())["model"]
    assert adapted["fitted_latents"] == 3 and adapted["sampling"] == "interpolate"
    completed = run_script(
        "generate.py", "--generator", str(saved), "--num-images", "2", "--output-dir", str(tmp_path / "again")
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list((tmp_path / "again").glob("*.png"))) == 2


def test_truncation_and_style_mixing(style_run, tmp_path):
    out = tmp_path / "out"
    completed = run_script(
        "generate.py", "--generator", str(style_run), "--truncation-psi", "0", "--num-images", "3",
        "--style-mixing", "2x3", "--crossover", "2", "--grid", "--nrow", "3", "--output-dir", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    mixing = np.asarray(Image.open(out / "style_mixing.png"))
    assert mixing.shape[:2] == (3 * 34 + 2, 4 * 34 + 2)
    grid = np.asarray(Image.open(out / "grid.png"))
    cells = [grid[2:34, 2 + 34 * c : 34 + 34 * c] for c in range(3)]
    # psi = 0: every z gives the average-w image (the noise differs per image,
    # but its learned scales start at zero and two steps barely move them).
    assert np.abs(cells[0].astype(int) - cells[1]).max() <= 2
    assert not list(out.glob("0*.png"))  # grids only, no PNGs unless --pngs


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--style-mixing", "3by5"], "ROWSxCOLS"),
        (["--style-mixing", "2x2", "--crossover", "99"], "crossover must be in"),
        (["--adapt-from", "{run}", "--shots", "digits:9", "--method", "reptile"], "adapts with method 'adain'"),
        (["--adapt-from", "{run}", "--shots", "digits:9", "--num-shots", "1"], "at least 2 shots"),
        (["--adapt-from", "{run}", "--shots", "digits:9", "--perceptual-features", "classifier"], "feature_weights"),
    ],
)
def test_errors_are_one_clean_line(style_run, tmp_path, args, expected):
    args = [a.replace("{run}", str(style_run)) for a in args]
    if "--adapt-from" not in args:
        args = ["--generator", str(style_run), *args]
    completed = run_script("generate.py", *args, "--output-dir", str(tmp_path / "out"))
    assert expected in error_message(completed)


def test_truncation_needs_a_style_generator(tmp_path):
    completed = run_script(
        "train.py", "--model", "dcgan", "--width", "4", "--latent-dim", "8", "--batch-size", "8",
        "--steps", "1", "--quiet", "--runs-dir", str(tmp_path), "--name", "d",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    completed = run_script(
        "generate.py", "--generator", str(tmp_path / "d"), "--truncation-cutoff", "1", "--output-dir", str(tmp_path / "o")
    )
    assert "StyleGAN generators only" in error_message(completed)
    # a DCGAN takes --truncation-psi (z scaled by it)
    completed = run_script(
        "generate.py", "--generator", str(tmp_path / "d"), "--truncation-psi", "0.5", "--num-images", "2",
        "--output-dir", str(tmp_path / "o"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
