"""evaluate.py run as a user would: tables, JSON, classifier training, errors."""

import json
import os

import numpy as np
from PIL import Image

from .scripts import run_script


def save_pngs(folder, images):
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(folder, f"{i:03d}.png"))


def test_generated_folder_with_the_offline_extractor(tmp_path):
    rng = np.random.default_rng(0)
    save_pngs(tmp_path / "real", rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8))
    save_pngs(tmp_path / "fake", rng.integers(0, 128, (10, 32, 32, 3), dtype=np.uint8))
    output = tmp_path / "result.json"
    result = run_script(
        "evaluate.py", "--generated-folder", str(tmp_path / "fake"), "--real", str(tmp_path / "real"),
        "--features", "efficientnet_lite0", "--metrics", "fid,kid,pr,diversity,mse_ssim",
        "--output", str(output), "--cache-dir", str(tmp_path / "cache"), "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for name in ("fid", "kid", "precision", "recall", "diversity", "mse", "ssim"):
        assert name in result.stdout
    saved = json.loads(output.read_text())
    assert saved["features"] == "efficientnet_lite0" and saved["feature_network"] == "EfficientNet-Lite0"
    assert "fid (EfficientNet-Lite0)" in result.stdout  # every FID names its network
    assert saved["num_generated"] == 10 and saved["num_real"] == 12 and saved["resolution"] == 32
    assert saved["metrics"]["fid"] > 0 and 0 <= saved["metrics"]["precision"] <= 1
    assert os.listdir(tmp_path / "cache")  # real features cached for next time


def test_classifier_features_trained_on_the_fly(tmp_path):
    # "Generated" images: real digits 3, so the classifier should call them 3s.
    from tfgen.data import load_images

    save_pngs(tmp_path / "fake", load_images("digits:3:40", resolution=16))
    classifier = tmp_path / "classifier"
    args = [
        "evaluate.py", "--generated-folder", str(tmp_path / "fake"), "--real", "digits:3",
        "--features", "classifier", "--train-classifier", "digits", "--classifier", str(classifier),
        "--classifier-resolution", "16", "--classifier-epochs", "3", "--metrics", "fid,accuracy",
        "--target-class", "3", "--output", str(tmp_path / "r.json"), "--nocache", "--quiet",
    ]  # fmt: skip
    result = run_script(*args)
    assert result.returncode == 0, result.stderr
    assert "Trained a classifier on digits" in result.stderr
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["metrics"]["class_share"] > 0.8
    # The second run reuses the trained classifier.
    again = run_script(*args)
    assert again.returncode == 0, again.stderr
    assert "Using the classifier already trained" in again.stderr


def test_errors_are_one_clean_line(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (["--real", "digits"], "exactly one of --generator or --generated-folder"),
        (["--generated-folder", str(tmp_path / "empty"), "--real", "digits", "--features", "efficientnet_lite0"],
         "0 readable images"),
        (["--generated-folder", str(tmp_path), "--real", "digits", "--features", "classifier"],
         "--features classifier needs --classifier"),
        (["--generator", str(tmp_path / "missing_run"), "--real", "digits"], "Nothing to load"),
    ]  # fmt: skip
    for args, message in cases:
        result = run_script("evaluate.py", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_missing_inception_weights_say_where_to_put_them(tmp_path):
    save_pngs(tmp_path / "fake", np.zeros((3, 16, 16, 3), np.uint8))
    env_home = {"KERAS_HOME": str(tmp_path / "keras_home"), "HOME": str(tmp_path)}
    result = run_script(
        "evaluate.py", "--generated-folder", str(tmp_path / "fake"), "--real", "digits", env=env_home
    )
    assert result.returncode == 2
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in result.stderr
    assert "--inception-weights" in result.stderr and "efficientnet_lite0" in result.stderr
    # The suite runs offline (tests/conftest.py): the error says downloads were off, and how.
    assert "could not be downloaded (downloads are off (--offline or TFGEN_OFFLINE=1))" in result.stderr


def test_list_metrics():
    result = run_script("evaluate.py", "--list-metrics")
    assert result.returncode == 0
    for name in ("fid", "kid", "is", "pr", "dc", "diversity", "memorisation", "mse_ssim", "brisque", "accuracy"):
        assert name in result.stdout
