"""train.py as a user runs it (subprocesses)."""

import json
import os

import pytest

from tests.scripts import run_script


def run_train(*args, timeout=300):
    return run_script("train.py", *args, timeout=timeout)


def error_message(completed):
    """The one `error: ...` line that ends stderr (TensorFlow's start-up
    logging may precede it)."""
    assert completed.returncode == 2, (completed.returncode, completed.stderr[-2000:])
    assert "Traceback" not in completed.stderr, completed.stderr[-2000:]
    lines = completed.stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert len(starts) == 1 and starts[0] == len(lines) - 1, completed.stderr[-2000:]
    return lines[-1]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--data-folder", "/nonexistent/images"], "/nonexistent/images"),
        (["--resolution", "100"], "resolution=100"),
        (["--mixed-precision", "bogus"], "--mixed-precision=bogus"),
        (["--dataset", "digits", "--data-folder", "images"], "Give the training images once, with --data"),
        (["--mixed-precision", "float16"], "float16 needs a GPU"),  # CI has none
        # Numbers outside their declared range (tfgen.config.check_settings) and names
        # that do not start with a letter or digit, refused before the run folder is
        # made (--ngf 0 used to leave a config.json behind). --steps 1: a regression
        # trains one step, not the family's thousands.
        (["--ngf", "0", "--steps", "1"], "ngf must be an integer >= 1. Received: ngf=0"),
        (["--model", "dcgan", "--steps", "1", "--seed", "-1"], "Received: seed=-1"),
        (["--model", "dcgan", "--steps", "1", "--G-learning-rate", "nan"], "Received: g_learning_rate=nan"),
        (["--steps", "1", "--D-learning-rate", "-1"], "Received: d_learning_rate=-1"),
        (["--model", "dcgan", "--steps", "1", "--name", " "], "start with a letter or digit"),
        (["--model", "dcgan", "--steps", "1", "--name", ".hidden"], "Received: name='.hidden'"),
        # A flag only another family reads would silently do nothing (this trained a DCGAN for 10000 steps).
        (["--model", "dcgan", "--ngf", "0"], "--model dcgan does not use --ngf (fastgan)"),
    ],
)
def test_bad_input_is_a_clean_error_message(tmp_path, args, expected):
    completed = run_train(*args, "--runs-dir", str(tmp_path))
    assert expected in error_message(completed).splitlines()[0]
    assert not os.listdir(tmp_path)  # nothing half-made


def test_trains_a_bundled_dataset_and_names_the_run_after_it(tmp_path):
    completed = run_train(
        "--dataset", "digits:3", "--resolution", "64", "--ngf", "8", "--ndf", "8", "--latent-dim", "16",
        "--batch-size", "2", "--steps", "1", "--runs-dir", str(tmp_path), "--quiet",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    run_dir = tmp_path / "fastgan_digits_3"
    names = ("config.json", "generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5")
    for name in names:
        assert (run_dir / name).is_file(), name
    assert (run_dir / "samples" / "final.png").is_file()


@pytest.mark.parametrize(
    "frequency, measured",
    [
        (["--fid-frequency", "1"], [4, 5]),  # epochs, as the SLE-GAN reference: 8 images / batch 2 = 4 steps
        pytest.param(["--fid-frequency-steps", "2"], [2, 4, 5], marks=pytest.mark.slow),
    ],
)
def test_fid_during_training_keeps_the_best_weights_loadable(tmp_path, frequency, measured):
    completed = run_script(
        "train.py",
        "--dataset", "digits:3:8", "--resolution", "64", "--ngf", "4", "--ndf", "4", "--latent-dim", "8",
        "--batch-size", "2", "--steps", "5", "--runs-dir", str(tmp_path), "--name", "fid_run", "--quiet",
        "--fid", *frequency, "--fid-number-of-images", "4", "--fid-features", "efficientnet_lite0",
        env={"TFGEN_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    run_dir = tmp_path / "fid_run"
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == measured  # the last step is always measured
    record = json.loads((run_dir / "best" / "metric.json").read_text())
    assert record["features"] == "efficientnet_lite0" and record["step"] in measured

    from tfgen.runs import load_generator

    generator = load_generator(str(run_dir / "best"))
    assert generator.output_resolution == 64


def test_the_sle_gan_reference_example_command_runs_until_the_offline_inception_weights(tmp_path):
    # The reference README's example, with a bundled dataset for --data-folder:
    # --diff-augment is a switch (it used to swallow --fid as its policy).
    completed = run_script(
        "train.py", "--name", "experiment_1", "--resolution", "512", "--batch-size", "8", "--diff-augment",
        "--fid", "--fid-number-of-images", "256", "--dataset", "digits:3", "--runs-dir", str(tmp_path),
        env={"KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path)},
    )  # fmt: skip
    # It stops at the FID part, offline, with what to do; not at a flag.
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in error_message(completed)


def test_diff_augment_given_a_policy_says_it_is_a_switch(tmp_path):
    message = error_message(run_train("--diff-augment=cutout", "--runs-dir", str(tmp_path)))
    assert "--diff-augment-policy" in message


def test_fid_with_missing_inception_weights_fails_before_training(tmp_path):
    completed = run_script(
        "train.py", "--dataset", "digits:3", "--runs-dir", str(tmp_path), "--fid",
        env={"KERAS_HOME": str(tmp_path / "keras"), "HOME": str(tmp_path)},
    )  # fmt: skip
    message = error_message(completed)
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels.h5" in message
    assert not (tmp_path / "fastgan_digits_3" / "checkpoints").exists()


@pytest.mark.parametrize("script", ["train.py", "generate.py", "evaluate.py", "benchmark.py"])
def test_the_clis_start_quietly(script):
    # TensorFlow's native start-up lines (oneDNN, CPU features) are hidden:
    # a bad flag gives one line and nothing else.
    completed = run_script(script, "--no-such-flag")
    assert completed.returncode == 2
    assert completed.stderr == "error: Unknown command line flag 'no-such-flag'\n", completed.stderr[-2000:]


def test_verbose_shows_tensorflows_start_up_and_still_ends_with_the_error(tmp_path):
    args = ("--data-folder", "/nonexistent/images", "--runs-dir", str(tmp_path))
    quiet, verbose = run_script("train.py", *args), run_script("train.py", *args, "--verbose")
    assert quiet.returncode == verbose.returncode == 2
    assert len(quiet.stderr.splitlines()) == 1 and quiet.stderr.startswith("error: "), quiet.stderr[-2000:]
    assert verbose.stderr.splitlines()[-1] == quiet.stderr.strip()
