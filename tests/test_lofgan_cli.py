"""LoFGAN as a user runs it: train.py --model lofgan, then generate.py
--adapt-from with a bundled class or a folder of images (subprocesses, tiny
models)."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.scripts import run_script
from tests.test_train_cli import error_message

TINY = ("--model", "lofgan", "--width", "4", "--tasks-per-step", "2", "--steps", "2", "--quiet")


def digest(folder):
    names = ("generator.weights.h5", "discriminator.weights.h5")
    return [hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in names]


@pytest.fixture(scope="module")
def lofgan_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    completed = run_script("train.py", *TINY, "--runs-dir", str(runs))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return runs / "lofgan_digits"


def test_train_then_fuse_the_shots_of_a_held_out_class(lofgan_run, tmp_path):
    config = json.loads((lofgan_run / "config.json").read_text())
    assert config["family"] == "lofgan"
    assert config["model"]["num_classes"] == 9 and config["model"]["shots"] == 3  # digits 0-8; the paper's k
    assert (lofgan_run / "samples" / "final.png").is_file()
    before = digest(lofgan_run)
    out, saved = tmp_path / "out", tmp_path / "adapted"
    completed = run_script(
        "generate.py", "--adapt-from", str(lofgan_run), "--shots", "digits:9", "--num-images", "9", "--grid",
        "--pngs", "--output-dir", str(out), "--save-adapted", str(saved),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert digest(lofgan_run) == before  # the trained run is only read
    assert len(list(out.glob("0*.png"))) == 9
    grid = np.asarray(Image.open(out / "grid.png"))
    # The 3 shots on the top row, 9 images below in rows of 3: 4 rows of 32 px + padding.
    assert grid.shape[:2] == (4 * 34 + 2, 3 * 34 + 2)
    adapted = json.loads((saved / "config.json").read_text())
    assert adapted["family"] == "lofgan" and adapted["model"]["held_shots"] == 3
    completed = run_script("generate.py", "--generator", str(saved), "--num-images", "2", "--output-dir", str(tmp_path / "again"))
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_any_number_of_shots_from_a_folder(lofgan_run, tmp_path, count):
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(count)
    for i in range(count):  # a blob per image: any grey images will do
        image = np.zeros((32, 32), np.uint8)
        y, x = rng.integers(6, 26, 2)
        image[y - 5 : y + 5, x - 3 : x + 3] = 255
        Image.fromarray(image).save(folder / f"shot{i}.png")
    completed = run_script(
        "generate.py", "--adapt-from", str(lofgan_run), "--shots", str(folder), "--num-shots", str(count),
        "--num-images", "4", "--output-dir", str(tmp_path / "out"), "--save-adapted", str(tmp_path / "adapted"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    held = json.loads((tmp_path / "adapted" / "config.json").read_text())["model"]["held_shots"]
    assert held == max(count, 3 if count == 1 else count)  # one shot comes with 2 augmentations of itself


def test_lofgan_flag_errors_are_one_clean_line(lofgan_run, tmp_path):
    completed = run_script(
        "generate.py", "--adapt-from", str(lofgan_run), "--shots", "digits:9", "--adapt-steps", "3",
        "--output-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert "adapts without training" in error_message(completed)
    completed = run_script("train.py", "--model", "lofgan", "--batch-size", "8", "--runs-dir", str(tmp_path))
    assert "--tasks-per-step episodes of --shots images" in error_message(completed)
    completed = run_script("train.py", "--model", "lofgan", "--fusion-rate", "0", "--runs-dir", str(tmp_path))
    assert "fusion_rate" in error_message(completed)
    assert not os.listdir(tmp_path)
