"""Runs that never lose work: train.py killed at random moments and rerun ends
with the same weights, bit for bit, as a run that was never interrupted.

Every family gets one SIGKILL-and-resume case here (FastGAN and DCGAN in CI,
the rest with ``-m slow``); FastGAN also a torn checkpoint write, SIGTERM and
SIGINT in one chain. ``-m slow`` kills every family several times.
"""

import os
import shutil
import signal

import pytest

from tests.crash_harness import REPO, checkpoint_steps, differences, random_delays, train, train_and_signal

# Tiny train.py runs, a few seconds each; the checkpoint cadence makes the
# kills land between, and on, checkpoint writes.
COMMON = ["--sample-every", "1000", "--seed", "0", "--quiet"]
FAMILIES = {
    "fastgan": ["--ngf", "4", "--ndf", "4", "--batch-size", "2", "--steps", "12", "--checkpoint-every", "3"],
    "fastgan_projected": ["--discriminator", "projected", "--projected-resolution", "128", "--ngf", "4", "--ndf", "4",
                          "--batch-size", "2", "--steps", "12", "--checkpoint-every", "3"],
    "figr": ["--model", "figr", "--width", "4", "--latent-dim", "8", "--inner-steps", "2", "--steps", "6",
             "--checkpoint-every", "2"],
    "dcgan": ["--model", "dcgan", "--width", "4", "--latent-dim", "8", "--batch-size", "8", "--steps", "12",
              "--checkpoint-every", "3"],
    "cdcgan": ["--model", "cdcgan", "--width", "4", "--latent-dim", "8", "--batch-size", "8", "--steps", "12",
               "--checkpoint-every", "3"],
    "infogan": ["--model", "infogan", "--width", "4", "--latent-dim", "8", "--batch-size", "8", "--steps", "12",
                "--checkpoint-every", "3"],
    "stylegan": ["--model", "stylegan", "--latent-dim", "8", "--w-dim", "8", "--mapping-layers", "2",
                 "--channel-base", "64", "--channel-max", "8", "--batch-size", "4", "--steps", "12",
                 "--checkpoint-every", "3"],
    "l2l": ["--model", "l2l", "--width", "4", "--latent-dim", "8", "--noise-channels", "2", "--batch-size", "2",
            "--critic-steps", "1", "--source-steps", "4", "--few-steps", "2", "--gem-epochs", "1", "--gem-steps", "2",
            "--finetune-steps", "2", "--gem-layers", "3", "--checkpoint-every", "2"],
    "lofgan": ["--model", "lofgan", "--width", "4", "--tasks-per-step", "2", "--steps", "12", "--checkpoint-every", "3"],
    "dagan": ["--model", "dagan", "--width", "4", "--pairs-per-step", "2", "--critic-steps", "2", "--steps", "12",
              "--checkpoint-every", "3"],
    "dagan_warp": ["--model", "dagan", "--output-mode", "warp", "--mode-seeking-weight", "1", "--width", "4",
                   "--pairs-per-step", "2", "--critic-steps", "2", "--steps", "12", "--checkpoint-every", "3"],
}  # fmt: skip


def command(family, runs_dir, name):
    return [*FAMILIES[family], *COMMON, "--runs-dir", str(runs_dir), "--name", name]


def finish(family, runs_dir, name):
    completed = train(command(family, runs_dir, name))
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-3000:]
    return completed


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """{family: folder of an uninterrupted run} (each made when first asked for)."""
    runs_dir = tmp_path_factory.mktemp("reference")
    made = {}

    def get(family):
        if family not in made:
            finish(family, runs_dir, family)
            made[family] = os.path.join(runs_dir, family)
        return made[family]

    return get


def assert_same_weights(run_dir, reference_dir):
    assert os.path.isfile(os.path.join(run_dir, "generator.weights.h5"))
    found = differences(reference_dir, run_dir)
    assert not found, "resumed run differs from the uninterrupted one: " + "; ".join(found[:5])


def kill_and_resume(family, runs_dir, name, kills):
    """SIGKILL train.py after checkpoint k + a delay, for each (k, delay) of
    ``kills``, then run it to the end; returns how many kills landed."""
    run_dir = os.path.join(runs_dir, name)
    landed = 0
    for after_checkpoint, delay in kills:
        code, output = train_and_signal(
            command(family, runs_dir, name), run_dir, signum=signal.SIGKILL,
            after_checkpoint=after_checkpoint, delay=delay,
        )  # fmt: skip
        landed += code == -signal.SIGKILL
        assert code in (0, -signal.SIGKILL), output[-3000:]
    finish(family, runs_dir, name)
    return landed


# CI kills the flagship and the cheapest family; the others (L2L's staged run
# alone takes about 4 minutes here) run with -m slow. Every family's
# checkpoint holding all its state is checked in tests/training/test_checkpoint_state.py.
IN_CI = ("fastgan", "dcgan")


@pytest.mark.parametrize(
    "family", [f if f in IN_CI else pytest.param(f, marks=pytest.mark.slow) for f in sorted(FAMILIES)]
)
def test_sigkill_then_rerun_is_bit_exact(family, reference, tmp_path):
    landed = kill_and_resume(family, tmp_path, "killed", [(1, random_delays(family, 1, most=0.3)[0])])
    assert landed == 1, "the run ended before the kill: make the run longer"
    assert_same_weights(os.path.join(tmp_path, "killed"), reference(family))


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_many_random_sigkills_are_bit_exact(family, reference, tmp_path):
    delays = random_delays(f"{family}-many", 4, most=1.5)
    kills = [(1, delays[0]), (2, delays[1]), (2, delays[2]), (3, delays[3])]
    kill_and_resume(family, tmp_path, "killed", kills)
    assert_same_weights(os.path.join(tmp_path, "killed"), reference(family))


def test_torn_checkpoint_sigterm_and_sigint_each_resume_exactly(reference, tmp_path):
    """One FastGAN run: killed while writing checkpoint 6 (its data file cut in
    half), then stopped by SIGTERM, then by SIGINT, then run to the end."""
    import subprocess
    import sys

    from tests.crash_harness import environment

    args = command("fastgan", tmp_path, "chain")
    run_dir = os.path.join(tmp_path, "chain")
    torn = subprocess.run(
        [sys.executable, os.path.join(REPO, "tests", "crash_harness.py"), "6", *args],
        cwd=REPO, env=environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert torn.returncode == -signal.SIGKILL, torn.stderr[-3000:]
    assert checkpoint_steps(run_dir) == [3, 6]

    code, output = train_and_signal(args, run_dir, signum=signal.SIGTERM, after_checkpoint=1, delay=0.0)
    assert "ckpt-6" in output and "cannot be read" in output, output[-3000:]  # the torn one, moved aside
    assert os.listdir(os.path.join(run_dir, "checkpoints", "unreadable"))
    assert code == 128 + signal.SIGTERM, output[-3000:]
    assert "checkpoint saved" in output and "Traceback" not in output, output[-3000:]
    stopped_at = max(checkpoint_steps(run_dir))
    assert 3 < stopped_at < 12

    code, output = train_and_signal(args, run_dir, signum=signal.SIGINT, after_checkpoint=1, delay=0.0)
    assert code == 128 + signal.SIGINT, output[-3000:]
    assert "checkpoint saved" in output and "Traceback" not in output, output[-3000:]

    finish("fastgan", tmp_path, "chain")
    assert_same_weights(run_dir, reference("fastgan"))


def snapshot(folder):
    return {
        os.path.relpath(os.path.join(root, name), folder): (os.stat(os.path.join(root, name)).st_mtime_ns,
                                                            os.path.getsize(os.path.join(root, name)))
        for root, _, files in os.walk(folder) for name in files
    }  # fmt: skip


def test_rerunning_a_finished_run_touches_nothing_and_more_steps_continue(reference, tmp_path):
    run_dir = os.path.join(tmp_path, "fastgan")
    shutil.copytree(reference("fastgan"), run_dir)
    before = snapshot(run_dir)
    completed = train([a for a in command("fastgan", tmp_path, "fastgan") if a != "--quiet"])
    assert completed.returncode == 0 and "has finished" in completed.stdout, completed.stderr[-3000:]
    assert snapshot(run_dir) == before

    longer = command("fastgan", tmp_path, "fastgan")
    longer[longer.index("--steps") + 1] = "15"
    completed = train(longer)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert max(checkpoint_steps(run_dir)) == 15
    assert differences(reference("fastgan"), run_dir)  # trained on: new weights


# ------------------------------------- what a resumed or stopped run prints


def cli_environment():
    """train.py's environment as a user runs it: TensorFlow's C++ log level
    left to the quiet CLI (3), not the harness's 2, which shows its E lines."""
    from tests.crash_harness import environment

    env = environment()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def with_steps(args, steps):
    args = list(args)
    args[args.index("--steps") + 1] = str(steps)
    return args


def test_a_repaired_folder_keeps_rotating_and_says_so_in_one_line(tmp_path):
    """The newest checkpoint damaged, the index lost, a killed write's
    ``_temp`` folder left: the rerun resumes from the older checkpoint with
    one warning line, removes the folder, and keeps --keep-checkpoints (3)."""
    import subprocess
    import sys

    args = command("fastgan", tmp_path, "repaired")
    run_dir = os.path.join(tmp_path, "repaired")
    folder = os.path.join(run_dir, "checkpoints")
    completed = train(with_steps(args, 9))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert checkpoint_steps(run_dir) == [3, 6, 9]
    os.remove(os.path.join(folder, "checkpoint"))
    os.makedirs(os.path.join(folder, "ckpt-10_temp"))
    with open(os.path.join(folder, "ckpt-10_temp", "part-00000-of-00001.data-00000-of-00001"), "wb") as f:
        f.write(b"\0" * 1000)
    data = os.path.join(folder, "ckpt-9.data-00000-of-00001")
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)

    resumed = subprocess.run(
        [sys.executable, os.path.join(REPO, "train.py"), *with_steps(args, 15)],
        cwd=REPO, env=cli_environment(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stderr.splitlines() == [
        f"warning: Checkpoint {folder}/ckpt-9 cannot be read (Read less bytes than requested); "
        f"moved to {folder}/unreadable. Trying an older one."
    ], resumed.stderr
    assert checkpoint_steps(run_dir) == [9, 12, 15]  # 3 and 6 rotated away after the repair
    assert sorted(os.listdir(folder)) == [
        "checkpoint", "ckpt-12.data-00000-of-00001", "ckpt-12.index", "ckpt-15.data-00000-of-00001",
        "ckpt-15.index", "ckpt-9.data-00000-of-00001", "ckpt-9.index", "unreadable",
    ]  # fmt: skip


# Patches the save on a first signal to take a minute: the second signal lands in it.
SLOW_INTERRUPT_SAVE = """
import os, runpy, sys, time

os.environ["TFGEN_QUIET_STARTUP"] = "1"  # as train.py sets it, before tfgen imports TensorFlow
from tfgen.training.trainer import Trainer

save_on_interrupt = Trainer._save_on_interrupt


def slow_save_on_interrupt(self):
    time.sleep(60)
    save_on_interrupt(self)


Trainer._save_on_interrupt = slow_save_on_interrupt
sys.argv = [os.path.join(sys.argv[1], "train.py"), *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_second_signal_stops_at_once_with_one_line(tmp_path):
    import subprocess
    import sys
    import time

    wrapper = tmp_path / "slow_save.py"
    wrapper.write_text(SLOW_INTERRUPT_SAVE)
    run_dir = os.path.join(tmp_path, "stopped")
    args = with_steps(command("dcgan", tmp_path, "stopped"), 100000)
    process = subprocess.Popen(
        [sys.executable, str(wrapper), REPO, *args],
        cwd=REPO, env=cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while process.poll() is None and not checkpoint_steps(run_dir):
            assert time.monotonic() < deadline, "train.py wrote no checkpoint"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        first = []
        while not any("received" in line for line in first) and process.poll() is None:
            first.append(process.stderr.readline())  # up to the notice of the first signal
        process.send_signal(signal.SIGTERM)  # while it saves (a minute, here)
        output, errors = process.communicate(timeout=50)
    finally:
        if process.poll() is None:
            process.kill()
    lines = [line for line in "".join(first + [errors]).splitlines() if line]
    assert process.returncode == 128 + signal.SIGTERM, output + errors
    assert lines == [
        "SIGTERM received: saving a checkpoint after this step (send it again to stop at once).",
        "SIGTERM received again: stopped at once, without saving a checkpoint. "
        "Run the same command again to resume from the last checkpoint.",
    ], output + "".join(first) + errors
    assert "Traceback" not in output + errors
    assert checkpoint_steps(run_dir)  # what it had saved is there to resume from
