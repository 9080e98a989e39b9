"""The run guarantees' last holes (issue 26), reproduced through train.py as a
user meets them: an extended run killed after its last checkpoint, a folder
whose checkpoints all failed to restore, a user's folder given as --name,
flags that cannot change on resume. A tiny DCGAN on digits, seconds a run.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.crash_harness import REPO, checkpoint_steps, differences, environment, train

WEIGHTS = ("generator.weights.h5", "discriminator.weights.h5")


def command(runs_dir, steps, *extra, name="r"):
    return [
        "--model", "dcgan", "--dataset", "digits", "--width", "4", "--latent-dim", "8", "--batch-size", "8",
        "--sample-every", "1000", "--checkpoint-every", "10", "--seed", "0", "--quiet",
        "--runs-dir", str(runs_dir), "--name", name, "--steps", str(steps), *extra,
    ]  # fmt: skip


def ok(completed):
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    return completed


def refused(completed, *phrases):
    """The run exited 2 with one ``error:`` line containing ``phrases``; returns that line."""
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, completed.stdout[-2000:] + completed.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), completed.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fingerprint(run_dir):
    """{weights file: (sha256, mtime)}: what a refused run must leave as it was."""
    return {name: (sha256(os.path.join(run_dir, name)), os.stat(os.path.join(run_dir, name)).st_mtime_ns)
            for name in WEIGHTS}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder with ``ref20`` and ``ref30``: uninterrupted runs of 20 and 30 steps."""
    runs_dir = tmp_path_factory.mktemp("runs")
    ok(train(command(runs_dir, 20, name="ref20")))
    ok(train(command(runs_dir, 30, name="ref30")))
    return runs_dir


def copy_of(runs, source, name):
    import shutil

    target = os.path.join(runs, name)
    shutil.copytree(os.path.join(runs, source), target)
    return target


def test_an_extension_killed_after_its_last_checkpoint_writes_that_steps_weights_on_the_rerun(runs):
    """Hole 1: `--steps 20`, then `--steps 30` killed right after ckpt-30 is
    written: the rerun used to say "finished" and keep step 20's weights."""
    run_dir = copy_of(runs, "ref20", "extended")
    killed = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "crash_harness.py"), "30:intact",
         *command(runs, 30, name="extended")],
        cwd=REPO, env=environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert max(checkpoint_steps(run_dir)) == 30
    assert not differences(os.path.join(runs, "ref20"), run_dir)  # still step 20's weights

    rerun = ok(train([a for a in command(runs, 30, name="extended") if a != "--quiet"]))
    assert "has finished" not in rerun.stdout and "final weights" in rerun.stdout, rerun.stdout
    assert not differences(os.path.join(runs, "ref30"), run_dir)  # bit for bit the uninterrupted run's
    with open(os.path.join(run_dir, "finished.json")) as f:
        record = json.load(f)
    assert record["step"] == 30
    assert record["files"]["generator.weights.h5"] == sha256(os.path.join(run_dir, "generator.weights.h5"))

    again = ok(train([a for a in command(runs, 30, name="extended") if a != "--quiet"]))
    assert "has finished (30 steps)" in again.stdout


def test_a_weights_file_changed_after_the_run_is_not_finished(runs):
    """The record's checksums, not the files' existence, say the run finished."""
    run_dir = copy_of(runs, "ref30", "tampered")
    copy = os.path.join(runs, "ref20", "generator.weights.h5")
    with open(copy, "rb") as src, open(os.path.join(run_dir, "generator.weights.h5"), "wb") as dst:
        dst.write(src.read())  # step 20's weights where step 30's were
    ok(train(command(runs, 30, name="tampered")))
    assert not differences(os.path.join(runs, "ref30"), run_dir)


def test_after_no_checkpoint_could_be_read_the_folder_stays_refused_until_override(runs):
    """Hole 2: every checkpoint truncated; the second rerun used to start afresh."""
    run_dir = copy_of(runs, "ref20", "damaged")
    folder = os.path.join(run_dir, "checkpoints")
    for name in os.listdir(folder):
        if ".data-" in name:
            with open(os.path.join(folder, name), "r+b") as f:
                f.truncate(os.path.getsize(os.path.join(folder, name)) // 2)
    before = fingerprint(run_dir)
    first = train(command(runs, 20, name="damaged"))
    assert first.returncode == 2 and "can be read" in first.stderr, first.stderr[-3000:]
    refused(train(command(runs, 20, name="damaged")), "could not be read", "--override")
    assert fingerprint(run_dir) == before
    ok(train(command(runs, 20, "--override", name="damaged")))
    assert not differences(os.path.join(runs, "ref20"), run_dir)


def test_a_folder_tfgen_did_not_make_is_never_adopted_nor_deleted(tmp_path):
    """Hole 3: --name of a user's folder used to train into it; --override then deleted its files."""
    user = tmp_path / "userdata"
    user.mkdir()
    (user / "notes.txt").write_text("x")
    refused(train(command(tmp_path, 1, name="userdata")), "not a tfgen run folder", "notes.txt", "--name")
    refused(train(command(tmp_path, 1, "--override", name="userdata")), "not a tfgen run folder")
    assert sorted(os.listdir(user)) == ["notes.txt"] and (user / "notes.txt").read_text() == "x"


def test_flags_that_cannot_change_on_resume_are_refused_and_learning_rates_take_effect(runs):
    """Hole 4: new learning rates on resume used to be recorded in config.json
    but overwritten by the restored optimizer state; a new class split was
    accepted and recorded."""
    split = copy_of(runs, "ref20", "split")
    config_before = open(os.path.join(split, "config.json")).read()
    refused(train(command(runs, 30, "--test-classes", "3", name="split")), "test_classes", "--override", "--name")
    assert open(os.path.join(split, "config.json")).read() == config_before
    assert checkpoint_steps(split) == checkpoint_steps(os.path.join(runs, "ref20"))

    faster = copy_of(runs, "ref20", "faster")
    resumed = ok(train([a for a in command(runs, 30, "--G-learning-rate", "1e-3", name="faster") if a != "--quiet"]))
    assert "g_learning_rate 0.0002 -> 0.001" in resumed.stdout, resumed.stdout
    assert differences(os.path.join(runs, "ref30"), faster)  # the new rate trained steps 21-30
    with open(os.path.join(faster, "config.json")) as f:
        config = json.load(f)
    assert config["model"]["g_learning_rate"] == 1e-3
    assert config["changes"] == [{"step": 20, "changed": {"g_learning_rate": [2e-4, 1e-3]}}]

    # The divergence message's advice now works both ways: an absurd rate takes effect (and
    # diverges, keeping the healthy files), the plain command then resumes.
    wild = copy_of(runs, "ref20", "wild")
    before = fingerprint(wild)
    diverged = train(command(runs, 30, "--G-learning-rate", "1e38", "--D-learning-rate", "1e38", name="wild"))
    refused(diverged, "diverged")
    assert fingerprint(wild) == before
    ok(train(command(runs, 30, name="wild")))
    assert not differences(os.path.join(runs, "ref30"), wild)
