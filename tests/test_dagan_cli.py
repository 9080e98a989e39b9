"""DAGAN as a user runs it: train.py --model dagan, then generate.py
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

TINY = ("--model", "dagan", "--width", "4", "--pairs-per-step", "2", "--critic-steps", "2", "--steps", "2", "--quiet")


def digest(folder):
    names = ("generator.weights.h5", "discriminator.weights.h5")
    return [hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in names]


@pytest.fixture(scope="module")
def dagan_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    completed = run_script("train.py", *TINY, "--runs-dir", str(runs))
    assert completed.returncode == 0, completed.stderr[-3000:]
    return runs / "dagan_digits"


def test_train_then_condition_on_the_shots_of_a_held_out_class(dagan_run, tmp_path):
    config = json.loads((dagan_run / "config.json").read_text())
    assert config["family"] == "dagan"
    assert config["model"]["width"] == 4 and config["model"]["held_shots"] == 0
    assert config["run"]["data"] == "digits" and config["run"]["steps"] == 2
    assert (dagan_run / "samples" / "final.png").is_file()
    before = digest(dagan_run)
    out, saved = tmp_path / "out", tmp_path / "adapted"
    completed = run_script(
        "generate.py", "--adapt-from", str(dagan_run), "--shots", "digits:9", "--num-shots", "3", "--num-images", "7",
        "--grid", "--pngs", "--output-dir", str(out), "--save-adapted", str(saved),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert digest(dagan_run) == before  # the trained run is only read
    pngs = sorted(out.glob("0*.png"))
    assert len(pngs) == 7
    assert all(np.asarray(Image.open(p)).shape[:2] == (32, 32) for p in pngs)
    grid = np.asarray(Image.open(out / "grid.png"))
    # The 3 shots on the top row, 7 images below in rows of 3: 4 rows of 32 px + padding.
    assert grid.shape[:2] == (4 * 34 + 2, 3 * 34 + 2)
    adapted = json.loads((saved / "config.json").read_text())
    assert adapted["family"] == "dagan" and adapted["model"]["held_shots"] == 3
    again = tmp_path / "again"
    completed = run_script("generate.py", "--generator", str(saved), "--num-images", "2", "--pngs",
                           "--output-dir", str(again))  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list(again.glob("0*.png"))) == 2


@pytest.mark.parametrize("count", [1, 5])
def test_any_number_of_shots_from_a_folder(dagan_run, tmp_path, count):
    folder = tmp_path / "shots"
    folder.mkdir()
    rng = np.random.default_rng(count)
    for i in range(count):  # a blob per image: any grey images will do
        image = np.zeros((32, 32), np.uint8)
        y, x = rng.integers(6, 26, 2)
        image[y - 5 : y + 5, x - 3 : x + 3] = 255
        Image.fromarray(image).save(folder / f"shot{i}.png")
    completed = run_script(
        "generate.py", "--adapt-from", str(dagan_run), "--shots", str(folder), "--num-shots", str(count),
        "--num-images", "4", "--pngs", "--output-dir", str(tmp_path / "out"), "--save-adapted", str(tmp_path / "adapted"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("0*.png"))) == 4
    assert json.loads((tmp_path / "adapted" / "config.json").read_text())["model"]["held_shots"] == count


def test_the_warp_generator_trains_and_keeps_each_shot_inside_its_range(tmp_path):
    runs = tmp_path / "runs"
    completed = run_script("train.py", *TINY, "--output-mode", "warp", "--max-shift", "0.1", "--runs-dir", str(runs))
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = runs / "dagan_digits"
    assert json.loads((run / "config.json").read_text())["model"]["output_mode"] == "warp"
    folder = tmp_path / "shots"
    folder.mkdir()
    shot = np.zeros((32, 32), np.uint8)
    shot[8:24, 13:19] = 200  # a bar of grey 200 on black
    Image.fromarray(shot).save(folder / "bar.png")
    out = tmp_path / "out"
    completed = run_script("generate.py", "--adapt-from", str(run), "--shots", str(folder), "--num-shots", "1",
                           "--num-images", "4", "--pngs", "--output-dir", str(out))  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    made = np.stack([np.asarray(Image.open(p)) for p in sorted(out.glob("0*.png"))]).astype(int)
    assert made.shape == (4, 32, 32)
    # Every image resamples the bar (moved at most 3.2 px): grey 200 at most, its ink kept near the bar.
    assert made.max() <= 201 and (made.reshape(4, -1).max(axis=1) >= 150).all()
    assert made[:, :4].sum() == 0 and made[:, :, :8].sum() == 0 and made[:, :, 24:].sum() == 0
    completed = run_script("train.py", *TINY, "--output-mode", "warp", "--flow-grid", "5", "--runs-dir", str(runs))
    assert "flow_grid must divide the resolution" in error_message(completed)


def test_dagan_flag_errors_are_one_clean_line(dagan_run, tmp_path):
    completed = run_script(
        "generate.py", "--adapt-from", str(dagan_run), "--shots", "digits:9", "--adapt-steps", "3",
        "--output-dir", str(tmp_path / "out"),
    )  # fmt: skip
    assert "adapts without training" in error_message(completed)
    completed = run_script("train.py", "--model", "dagan", "--batch-size", "8", "--runs-dir", str(tmp_path))
    assert "--pairs-per-step" in error_message(completed)
    completed = run_script("train.py", "--model", "dagan", "--mode-seeking-weight", "-1", "--runs-dir", str(tmp_path))
    assert "mode_seeking_weight" in error_message(completed)
    assert not os.listdir(tmp_path)
