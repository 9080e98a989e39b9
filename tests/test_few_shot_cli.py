"""Few-shot runs as a user makes them: train.py --model ..., then
generate.py --adapt-from (subprocesses, tiny models)."""

import hashlib
import json
import os

import numpy as np
import pytest
from PIL import Image

from tests.scripts import run_script
from tests.test_train_cli import error_message

TINY = ("--width", "4", "--latent-dim", "8", "--steps", "2", "--quiet")


def digest(folder):
    names = ("generator.weights.h5", "discriminator.weights.h5")
    return [hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest() for n in names]


@pytest.fixture(scope="module")
def figr_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    completed = run_script("train.py", "--model", "figr", "--inner-steps", "2", "--runs-dir", str(runs), *TINY)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return runs / "figr_digits"


def test_meta_train_adapt_generate(figr_run, tmp_path):
    config = json.loads((figr_run / "config.json").read_text())
    assert config["family"] == "figr" and config["model"]["test_classes"] == ""
    before = digest(figr_run)
    out, saved = tmp_path / "out", tmp_path / "adapted"
    completed = run_script(
        "generate.py", "--adapt-from", str(figr_run), "--shots", "digits:9", "--adapt-steps", "2",
        "--num-images", "8", "--grid", "--pngs", "--output-dir", str(out), "--save-adapted", str(saved),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert digest(figr_run) == before  # the meta-weights on disk are never changed
    assert len(list(out.glob("0*.png"))) == 8
    grid = np.asarray(Image.open(out / "grid.png"))
    # Shots on the top row (4 of 4 cells), 8 images below in rows of 4: 3 rows of 32 px + padding.
    assert grid.shape[:2] == (3 * 34 + 2, 4 * 34 + 2)
    completed = run_script("generate.py", "--generator", str(saved), "--num-images", "2", "--output-dir", str(tmp_path / "again"))
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_transfer_baseline_through_the_same_commands(tmp_path):
    completed = run_script(
        "train.py", "--model", "cdcgan", "--batch-size", "8", "--runs-dir", str(tmp_path), "--name", "c", *TINY
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    config = json.loads((tmp_path / "c" / "config.json").read_text())
    assert config["model"]["num_classes"] == 10  # digits 0-8 plus the new class's slot
    completed = run_script(
        "generate.py", "--adapt-from", str(tmp_path / "c"), "--shots", "digits:9", "--adapt-steps", "2",
        "--num-images", "3", "--output-dir", str(tmp_path / "out"), "--save-adapted", str(tmp_path / "adapted"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    adapted = json.loads((tmp_path / "adapted" / "config.json").read_text())
    assert adapted["model"]["sample_class"] == 9
    # Fine-tuned on the shots' morphs instead: the same seed, other training images, other weights.
    completed = run_script(
        "generate.py", "--adapt-from", str(tmp_path / "c"), "--shots", "digits:9", "--adapt-steps", "2",
        "--finetune-images", "morphs", "--num-images", "3", "--output-dir", str(tmp_path / "out_morphs"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    images = [np.asarray(Image.open(tmp_path / d / "000000.png")) for d in ("out", "out_morphs")]
    assert images[0].shape == images[1].shape == (32, 32) and not np.array_equal(*images)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--shots", "digits:9"], "Give --generator"),
        (["--adapt-from", "{run}"], "--adapt-from needs --shots"),
        (["--adapt-from", "{run}", "--shots", "digits:12"], "Unknown class '12'"),
        (["--adapt-from", "/nonexistent", "--shots", "digits:9"], "not a run folder"),
        (["--adapt-from", "{run}", "--shots", "digits:9", "--finetune-images", "morphs"], "training_images"),
    ],
)
def test_adaptation_errors_are_one_clean_line(figr_run, tmp_path, args, expected):
    args = [a.replace("{run}", str(figr_run)) for a in args]
    completed = run_script("generate.py", *args, "--output-dir", str(tmp_path / "out"))
    assert expected in error_message(completed)


def test_few_shot_flag_errors(tmp_path):
    completed = run_script("train.py", "--model", "figr", "--batch-size", "8", "--runs-dir", str(tmp_path))
    assert "--shots and --tasks-per-step" in error_message(completed)
    completed = run_script(
        "train.py", "--model", "dcgan", "--test-classes", "9", "--train-classes", "8,9", "--runs-dir", str(tmp_path)
    )
    assert "9" in error_message(completed)
    assert not os.listdir(tmp_path)


def test_shot_morphing_through_the_same_commands(tmp_path):
    completed = run_script(
        "train.py", "--model", "shotmorph", "--train-classes", "1,2", "--test-classes", "9",
        "--classifier-epochs", "1", "--fit-seeds", "1", "--runs-dir", str(tmp_path), "--name", "m", "--quiet",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    run = tmp_path / "m"
    policy = json.loads((run / "shot_policy.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["family"] == "shotmorph"
    assert set(policy["policy"]) >= {"morph_share", "strength", "reach", "bank_scale", "pose_spread", "ink_spread"}
    assert {k: config["model"][k] for k in policy["policy"]} == policy["policy"]
    assert config["model"]["fit_seeds"] == 1
    out = tmp_path / "out"
    completed = run_script(
        "generate.py", "--adapt-from", str(run), "--shots", "digits:9", "--num-images", "8", "--grid",
        "--output-dir", str(out), "--save-adapted", str(tmp_path / "adapted"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (out / "grid.png").is_file()
    completed = run_script(
        "generate.py", "--adapt-from", str(run), "--shots", "digits:9", "--adapt-steps", "3",
        "--output-dir", str(tmp_path / "out2"),
    )  # fmt: skip
    assert "no adaptation steps" in error_message(completed)
