"""L2L-GAN as a user runs it: train.py --model l2l (Algorithm 1), then
generate.py from the run (its stored novel images) and from new shots."""

import json

import numpy as np
import pytest
from PIL import Image

from tests.scripts import run_script
from tests.test_train_cli import error_message

TINY = (
    "--dataset", "glyphs:latin", "--test-classes", "latin/x,latin/y,latin/z", "--latent-dim", "8",
    "--width", "4", "--batch-size", "2", "--critic-steps", "1", "--source-steps", "2", "--few-steps", "2",
    "--gem-epochs", "1", "--gem-steps", "2", "--finetune-steps", "2", "--quiet",
)  # fmt: skip


@pytest.fixture(scope="module")
def l2l_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    completed = run_script(
        "train.py", "--model", "l2l", "--runs-dir", str(runs), "--gem-type", "2", "--gem-layers", "2,5",
        "--strategy-gem", "C", "--gem-loss", "l2", *TINY,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return runs / "l2l_glyphs_latin"


def test_train_writes_an_l2l_run(l2l_run):
    config = json.loads((l2l_run / "config.json").read_text())
    assert config["family"] == "l2l"
    model = config["model"]
    assert (model["gem_type"], model["gem_layers"], model["strategy_gem"], model["gem_loss"]) == (2, "2,5", "C", "l2")
    assert model["conditioning_images"] == 6 and model["resolution"] == 32 and model["channels"] == 1
    for name in ("generator.weights.h5", "discriminator.weights.h5", "samples/final.png", "gems/epoch_1.weights.h5"):
        assert (l2l_run / name).is_file(), name


def test_generate_from_the_run_and_from_new_shots(l2l_run, tmp_path):
    completed = run_script(
        "generate.py", "--generator", str(l2l_run), "--num-images", "3", "--output-dir", str(tmp_path / "run")
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list((tmp_path / "run").glob("*.png"))) == 3

    out, saved = tmp_path / "out", tmp_path / "adapted"
    completed = run_script(
        "generate.py", "--adapt-from", str(l2l_run), "--shots", "glyphs:latin/w", "--num-shots", "2",
        "--adapt-steps", "1", "--num-images", "4", "--grid", "--output-dir", str(out), "--save-adapted", str(saved),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape[:2] == (3 * 34 + 2, 2 * 34 + 2)  # 2 shots on top, 4 images in rows of 2
    adapted = json.loads((saved / "config.json").read_text())["model"]
    assert adapted["conditioning_images"] == 2


def test_l2l_flag_errors(tmp_path):
    completed = run_script("train.py", "--model", "l2l", "--runs-dir", str(tmp_path), "--steps", "5", *TINY)
    assert completed.returncode != 0
    assert "--source-steps" in error_message(completed)
    completed = run_script("train.py", "--model", "l2l", "--runs-dir", str(tmp_path), "--gem-layers", "0,9", *TINY)
    assert completed.returncode != 0
    assert "decoder blocks from 1 to 5" in error_message(completed)
