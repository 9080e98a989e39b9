"""train.py as a user runs it (subprocesses)."""

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
        (["--dataset", "digits", "--data-folder", "images"], "either --data-folder or --dataset"),
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
