"""The one owner of a run folder's layout: :class:`RunFolder` names every
entry of ``<runs_dir>/<name>/``, and answers whether the run is finished.

Every module that reads or writes a run folder asks a ``RunFolder`` for the
path instead of joining names itself, so the layout is written down once
(``tests/test_run_folder.py`` checks it against a real run, and that no
other module spells it). What a run *does* with its folder (the lock,
config I/O, resume checks, loading) stays in :mod:`tfgen.runs`.

Pure Python (no TensorFlow, no registry), so everything can use it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re

from tfgen.files import WEIGHTS_SUFFIX, read_json_or_none, write_json_atomic

LOCK_FILE = ".lock"
CONFIG_FILE = "config.json"
# Weight files a training run leaves in its folder.
RAW_WEIGHTS = "generator" + WEIGHTS_SUFFIX
EMA_WEIGHTS = "generator_ema" + WEIGHTS_SUFFIX
DISCRIMINATOR_WEIGHTS = "discriminator" + WEIGHTS_SUFFIX
CHECKPOINT_DIR = "checkpoints"
# Sample grids during training, and the final generator's grid.
SAMPLES_DIR = "samples"
FINAL_GRID = "final.png"
FINAL_SAMPLES = os.path.join(SAMPLES_DIR, FINAL_GRID)  # relative to the run folder
LOGS_DIR = "logs"  # TensorBoard
# The training metric (--fid): one JSON line per measurement, and the best
# step's weights with their record in best/.
METRICS_LOG = "metrics.jsonl"
BEST_DIR = "best"
BEST_RECORD = "metric.json"
# L2L-GAN's stage runs and GEM weights.
STAGES_DIR = "stages"
GEMS_DIR = "gems"
# The step of the final weights files and their checksums, written after them.
FINISHED_RECORD = "finished.json"
# The sampling generator's weights every RunConfig.snapshot_every steps, loadable
# while the run trains: snapshots/generator_ema_step_0001000.weights.h5 (or
# generator_step_... for a run without an EMA generator).
SNAPSHOT_DIR = "snapshots"
_SNAPSHOT_FILE = re.compile(r"^(generator|generator_ema)_step_(\d+)" + re.escape(WEIGHTS_SUFFIX) + "$")
# The final generator's health check (tfgen.training.health).
HEALTH_FILE = "health.json"
# Seconds trained up to each checkpoint, in runs with a time budget (tfgen.training.time_budget).
TIME_RECORD = "training_time.json"
# The seconds the benchmark spent training a base (tfgen.few_shot_benchmark.methods).
BENCHMARK_SECONDS = "benchmark_seconds.json"
# Where `tfgen export` writes by default.
EXPORT_DIR = "export"


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """The paths of one run folder, ``run_dir``; nothing is created or read
    until a method that says so is called."""

    run_dir: str

    def path(self, *names):
        """``<run_dir>/<names...>``: for entries a family names itself (its own files)."""
        return os.path.join(self.run_dir, *names)

    config = property(lambda self: self.path(CONFIG_FILE))
    lock = property(lambda self: self.path(LOCK_FILE))
    raw_weights = property(lambda self: self.path(RAW_WEIGHTS))
    ema_weights = property(lambda self: self.path(EMA_WEIGHTS))
    discriminator_weights = property(lambda self: self.path(DISCRIMINATOR_WEIGHTS))
    checkpoints = property(lambda self: self.path(CHECKPOINT_DIR))
    snapshots = property(lambda self: self.path(SNAPSHOT_DIR))
    samples = property(lambda self: self.path(SAMPLES_DIR))
    final_samples = property(lambda self: self.path(FINAL_SAMPLES))
    logs = property(lambda self: self.path(LOGS_DIR))
    metrics_log = property(lambda self: self.path(METRICS_LOG))
    best = property(lambda self: self.path(BEST_DIR))
    best_record = property(lambda self: self.path(BEST_DIR, BEST_RECORD))
    stages = property(lambda self: self.path(STAGES_DIR))
    gems = property(lambda self: self.path(GEMS_DIR))
    finished_record = property(lambda self: self.path(FINISHED_RECORD))
    health = property(lambda self: self.path(HEALTH_FILE))
    time_record = property(lambda self: self.path(TIME_RECORD))
    benchmark_seconds = property(lambda self: self.path(BENCHMARK_SECONDS))
    export = property(lambda self: self.path(EXPORT_DIR))

    def sample(self, filename):
        """``samples/<filename>``: a sample grid."""
        return self.path(SAMPLES_DIR, filename)

    def stage(self, name):
        """``stages/<name>``: an L2L-GAN stage, a run folder of its own."""
        return self.path(STAGES_DIR, name)

    # ---------------------------------------------------------------- snapshots

    def snapshot(self, step, *, ema):
        """``snapshots/generator_ema_step_0001000.weights.h5`` (``ema``)
        or ``snapshots/generator_step_0001000.weights.h5``."""
        network = (EMA_WEIGHTS if ema else RAW_WEIGHTS)[: -len(WEIGHTS_SUFFIX)]
        return self.path(SNAPSHOT_DIR, f"{network}_step_{int(step):07d}{WEIGHTS_SUFFIX}")

    def find_snapshots(self, *, ema):
        """``{step: path}`` of the snapshots of the EMA generator (``ema``) or
        the raw one, oldest first, whatever their number of digits."""
        if not os.path.isdir(self.snapshots):
            return {}
        wanted = EMA_WEIGHTS if ema else RAW_WEIGHTS
        found = {}
        for name in os.listdir(self.snapshots):
            match = _SNAPSHOT_FILE.match(name)
            if match and match.group(1) + WEIGHTS_SUFFIX == wanted:
                found[int(match.group(2))] = os.path.join(self.snapshots, name)
        return dict(sorted(found.items()))

    # ----------------------------------------------------------------- finished
    # Two questions, kept apart because their answers differ on purpose: whether
    # a family's finished file is there (what the benchmark and a shot-morphing
    # run ask before training), and whether finished.json vouches for the final
    # outputs of a step (what a training lifecycle asks before it resumes).

    def is_finished(self, family):
        """Whether the file that says ``family`` (a :class:`tfgen.registry.ModelFamily`)
        finished training is there: ``ModelFamily.finished_file``, the final
        generator weights, or a shot-morphing run's fitted policy."""
        return os.path.isfile(self.path(family.finished_file))

    def forget_finished(self):
        """Remove ``finished.json`` before the final files are rewritten: it would
        no longer describe them."""
        if os.path.exists(self.finished_record):
            os.remove(self.finished_record)

    def write_finished_record(self, step, filenames):
        """Record, after writing them, that the files ``filenames`` (relative to
        the folder) are the final outputs of ``step`` (None for runs without one step)."""
        files = {name: _sha256(self.path(name)) for name in filenames}
        write_json_atomic(self.finished_record, {"step": step, "files": files}, indent=1, sort_keys=True)

    def finished_at(self, step, filenames):
        """Whether the folder holds the final outputs of ``step``: its record
        names that step and exactly ``filenames``, and each is unchanged since."""
        record = read_json_or_none(self.finished_record)
        if not isinstance(record, dict) or record.get("step") != step:
            return False
        files = record.get("files")
        if not isinstance(files, dict) or set(files) != set(filenames):
            return False
        for name, checksum in files.items():
            path = self.path(name)
            if not os.path.isfile(path) or _sha256(path) != checksum:
                return False
        return True

    def finished_step(self, weights_path):
        """The step ``finished.json`` records for the final weights file
        ``weights_path``, if it records that file as it is; else None."""
        record = read_json_or_none(self.finished_record)
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            return None
        checksum = record["files"].get(os.path.basename(weights_path))
        return record.get("step") if checksum is not None and checksum == _sha256(weights_path) else None
