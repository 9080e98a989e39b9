"""Running ``train.py`` as a user would and killing it: the crash tests' tools.

``python tests/crash_harness.py TORN_AT ARGS...`` runs train.py with ARGS, but
the checkpoint save numbered TORN_AT is torn: the files are written, then the
data file is cut in half and the process SIGKILLs itself, as a crash or a
full disk in the middle of a write leaves it. ``TORN_AT:intact`` SIGKILLs it
right after that save, with the checkpoint whole (a kill between the last
checkpoint and the final weights).
"""

import os
import random
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHT_FILES = ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5")


def environment():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)


def train(args, *, timeout=600):
    """Run train.py to its end; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "train.py"), *args],
        cwd=REPO, env=environment(), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def checkpoint_steps(run_dir):
    folder = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(folder):
        return []
    return sorted(int(n[5:-6]) for n in os.listdir(folder) if n.startswith("ckpt-") and n.endswith(".index"))


def train_and_signal(args, run_dir, *, signum, after_checkpoint, delay, timeout=600):
    """Start train.py, send ``signum`` ``delay`` seconds after it has written
    ``after_checkpoint`` checkpoints (anywhere under ``run_dir``, stages
    included); returns (returncode, stdout + stderr)."""
    before = _checkpoint_files(run_dir)
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "train.py"), *args],
        cwd=REPO, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and len(_checkpoint_files(run_dir).items() - before.items()) < after_checkpoint:
            if time.monotonic() > deadline:
                raise TimeoutError(f"train.py wrote no {after_checkpoint} checkpoints in {run_dir}")
            time.sleep(0.02)
        time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signum)
        output, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, output


def _checkpoint_files(run_dir):
    """{path: mtime} of the checkpoint index files under ``run_dir`` (stages included)."""
    found = {}
    for root, _, files in os.walk(run_dir):
        for name in files:
            if name.startswith("ckpt-") and name.endswith(".index"):
                path = os.path.join(root, name)
                try:
                    found[path] = os.stat(path).st_mtime_ns
                except FileNotFoundError:  # rotated away meanwhile
                    pass
    return found


def read_weights(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def differences(run_a, run_b, files=WEIGHT_FILES):
    """Descriptions of the arrays that differ between two run folders' weights files (bit for bit)."""
    found = []
    for name in files:
        a_path, b_path = os.path.join(run_a, name), os.path.join(run_b, name)
        if not os.path.exists(a_path):
            continue
        if not os.path.exists(b_path):
            found.append(f"{name}: missing")
            continue
        a, b = read_weights(a_path), read_weights(b_path)
        if set(a) != set(b):
            found.append(f"{name}: different arrays")
            continue
        for key in a:
            if a[key].tobytes() != b[key].tobytes():
                gap = np.max(np.abs(a[key].astype(np.float64) - b[key].astype(np.float64)))
                found.append(f"{name}:{key} differs by up to {gap:.3g}")
    return found


def random_delays(seed, count, most=1.0):
    rng = random.Random(seed)
    return [round(rng.uniform(0.0, most), 3) for _ in range(count)]


def _tear_checkpoint_at(torn_step, *, tear=True):
    """Patch CheckpointManager.save: at ``torn_step`` cut the data file in half
    (unless not ``tear``), then die."""
    import tensorflow as tf

    save = tf.train.CheckpointManager.save

    def torn_save(self, checkpoint_number=None, **kwargs):
        path = save(self, checkpoint_number=checkpoint_number, **kwargs)
        if int(checkpoint_number) == torn_step:
            if not tear:
                os.kill(os.getpid(), signal.SIGKILL)
            data = [n for n in os.listdir(self.directory) if n.startswith(os.path.basename(path) + ".data")]
            for name in data:
                full = os.path.join(self.directory, name)
                with open(full, "r+b") as f:
                    f.truncate(os.path.getsize(full) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        return path

    tf.train.CheckpointManager.save = torn_save


if __name__ == "__main__":
    import runpy

    step, _, mode = sys.argv[1].partition(":")
    _tear_checkpoint_at(int(step), tear=mode != "intact")
    sys.argv = [os.path.join(REPO, "train.py"), *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
