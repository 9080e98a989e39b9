"""RunFolder (tfgen.run_folder), the one owner of the run folder's layout.

Its names are checked against what a real tiny FastGAN run writes (every
entry it leaves is one RunFolder names, and each name points at what the run
wrote), against the layout runs already on disk have (a rename would orphan
them), and a source scan checks that no other tfgen module spells the
layout itself, so the paths cannot drift apart again.
"""

import ast
import os
import warnings

import pytest

from tfgen import run_folder
from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.trainer import FastGANTrainer
from tfgen.registry import get_family
from tfgen.run_folder import RunFolder

from tests.metrics.tiny_extractor import TinyPixelExtractor  # noqa: F401  (registers "tiny_pixels")
from tests.test_import_cycles import tfgen_modules

MODEL = FastGANConfig(resolution=64, ngf=4, ndf=4, batch_size=2, ema_decay=0.9)
STEPS = 4


class FolderWatcher:
    """What the run folder holds when training begins, and the sample grids written."""

    def __init__(self):
        self.at_begin, self.samples = None, []

    def on_train_begin(self, run_dir, step):
        self.at_begin = sorted(os.listdir(run_dir))

    def on_samples(self, step, path):
        self.samples.append(path)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(RunFolder, trainer, FolderWatcher) of a finished 4-step FastGAN run that
    writes everything a FastGAN run can: snapshots, the metric and best/, a
    time budget's record and the health check."""
    runs_dir = tmp_path_factory.mktemp("runs")
    config = RunConfig(
        name="tiny", runs_dir=str(runs_dir), data="digits:3", steps=STEPS, seed=0, flip=False,
        sample_every=2, checkpoint_every=2, snapshot_every=2, log_every=1, time_budget="1h",
        fid=True, fid_frequency=2, fid_number_of_images=8, fid_features="tiny_pixels",
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a 4-step generator fails the health check
        patch.setenv("TFGEN_CACHE_DIR", str(runs_dir / "cache"))
        trainer = FastGANTrainer(MODEL, config, quiet=True)
        trainer.checks_health = True  # health.json, as the benchmark's bases write it
        watcher = FolderWatcher()
        trainer.callbacks.append(watcher)
        run_dir = trainer.fit()
    return RunFolder(run_dir), trainer, watcher


def test_every_entry_a_run_writes_is_named_by_run_folder(tiny_run):
    folder, _, _ = tiny_run
    named = [
        folder.config, folder.checkpoints, folder.samples, folder.logs, folder.raw_weights,
        folder.ema_weights, folder.discriminator_weights, folder.snapshots, folder.metrics_log,
        folder.best, folder.finished_record, folder.time_record, folder.health,
    ]  # fmt: skip
    assert all(os.path.dirname(path) == folder.run_dir for path in named)
    assert sorted(os.listdir(folder.run_dir)) == sorted(os.path.basename(path) for path in named)


def test_the_names_point_at_what_the_run_wrote(tiny_run):
    folder, trainer, watcher = tiny_run
    for path in (folder.config, folder.raw_weights, folder.ema_weights, folder.discriminator_weights,
                 folder.metrics_log, folder.best_record, folder.finished_record, folder.time_record,
                 folder.health, folder.final_samples):  # fmt: skip
        assert os.path.isfile(path), path
    for path in (folder.checkpoints, folder.samples, folder.logs, folder.snapshots, folder.best):
        assert os.path.isdir(path) and os.listdir(path), path
    assert watcher.samples == [folder.sample("step_0000002.png"), folder.sample("step_0000004.png")]
    assert folder.find_snapshots(ema=True) == {2: folder.snapshot(2, ema=True), 4: folder.snapshot(4, ema=True)}
    assert folder.find_snapshots(ema=False) == {}
    assert RunFolder(folder.best).config in {os.path.join(folder.best, n) for n in os.listdir(folder.best)}
    # The lock is held while the run trains, and removed when it ends.
    assert os.path.basename(folder.lock) in watcher.at_begin
    assert not os.path.exists(folder.lock)
    assert trainer.folder == folder


def test_finished_is_answered_by_the_run_folder(tiny_run, tmp_path):
    folder, trainer, _ = tiny_run
    assert folder.finished_at(STEPS, trainer.final_weights())
    assert not folder.finished_at(STEPS - 1, trainer.final_weights())
    assert folder.finished_step(folder.ema_weights) == STEPS
    assert folder.is_finished(get_family("fastgan"))
    empty = RunFolder(str(tmp_path))
    assert not empty.is_finished(get_family("fastgan")) and not empty.finished_at(STEPS, [])
    empty.forget_finished()  # nothing to forget: no error


def test_the_layout_is_the_one_runs_on_disk_have():
    # Renaming any of these would orphan existing runs: change them only with a migration.
    folder = RunFolder("run")
    expected = {
        "config": "config.json", "lock": ".lock", "raw_weights": "generator.weights.h5",
        "ema_weights": "generator_ema.weights.h5", "discriminator_weights": "discriminator.weights.h5",
        "checkpoints": "checkpoints", "snapshots": "snapshots", "samples": "samples",
        "final_samples": os.path.join("samples", "final.png"), "logs": "logs",
        "metrics_log": "metrics.jsonl", "best": "best", "best_record": os.path.join("best", "metric.json"),
        "stages": "stages", "gems": "gems", "finished_record": "finished.json", "health": "health.json",
        "time_record": "training_time.json", "benchmark_seconds": "benchmark_seconds.json", "export": "export",
    }  # fmt: skip
    assert {name: os.path.relpath(getattr(folder, name), "run") for name in expected} == expected
    assert folder.snapshot(1000, ema=False) == os.path.join("run", "snapshots", "generator_step_0001000.weights.h5")
    assert folder.stage("target_plain") == os.path.join("run", "stages", "target_plain")


def test_the_old_names_stay_importable():
    from tfgen import files, runs
    from tfgen.few_shot_benchmark.methods import SECONDS_FILE
    from tfgen.families.l2l.trainer import FINAL_OUTPUTS
    from tfgen.training.health import HEALTH_FILE
    from tfgen.training.time_budget import TIME_RECORD

    for name in ("LOCK_FILE", "CONFIG_FILE", "RAW_WEIGHTS", "EMA_WEIGHTS", "DISCRIMINATOR_WEIGHTS", "CHECKPOINT_DIR",
                 "METRICS_LOG", "BEST_DIR", "BEST_RECORD", "STAGES_DIR", "GEMS_DIR", "FINISHED_RECORD", "SNAPSHOT_DIR"):  # fmt: skip
        assert getattr(runs, name) == getattr(run_folder, name), name
    assert files.WEIGHTS_SUFFIX == ".weights.h5"
    assert (HEALTH_FILE, TIME_RECORD, SECONDS_FILE) == ("health.json", "training_time.json", "benchmark_seconds.json")
    assert FINAL_OUTPUTS == ("generator.weights.h5", "discriminator.weights.h5", os.path.join("samples", "final.png"))


# ------------------------------------------------------------ the source scan

# The values of run_folder's names ("samples", "config.json", ...) and the names themselves.
LAYOUT_NAMES = {name for name, value in vars(run_folder).items() if name.isupper() and isinstance(value, str)}
LAYOUT_VALUES = {getattr(run_folder, name) for name in LAYOUT_NAMES}


def _is_run_dir(node):
    """``run_dir``, ``self.run_dir``, ``run.run_dir``, ...: a run folder's path."""
    return (isinstance(node, ast.Name) and node.id == "run_dir") or (
        isinstance(node, ast.Attribute) and node.attr == "run_dir"
    )


def _spells_an_entry(node):
    """A literal, f-string or run_folder name as a path part."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    return isinstance(node, ast.Name) and node.id in LAYOUT_NAMES


def layout_spellings(source):
    """``[(line, text)]`` of the ``os.path.join`` calls in ``source`` that build
    a run folder's path by hand: a run dir joined with an entry's name, or one
    of the layout's names joined as a literal (``os.path.join("samples", ...)``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and ast.unparse(node.func) == "os.path.join" and node.args):
            continue
        first, rest = node.args[0], node.args[1:]
        by_hand = _is_run_dir(first) and any(_spells_an_entry(arg) for arg in rest)
        literal = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and arg.value in LAYOUT_VALUES]
        # A relative path in the folder ("samples", ...), or a file name of it anywhere
        # (not a folder name such as "checkpoints", which other caches use too).
        literal = literal and (literal[0] == getattr(first, "value", None) or any("." in v for v in literal))
        if by_hand or literal:
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_scan_finds_hand_built_paths():
    source = """
import os
a = os.path.join(run_dir, "samples", name)
b = os.path.join(self.run_dir, CONFIG_FILE)
c = os.path.join(self.run_dir, f"epoch_{epoch}.h5")
d = os.path.join("samples", "final.png")
e = os.path.join(folder.gems, "losses.jsonl")
f = os.path.join(run_dir, name)
g = os.path.join(out_dir, "config.json")
h = os.path.join(home, "hub", "checkpoints")
"""
    assert [line for line, _ in layout_spellings(source)] == [3, 4, 5, 6, 9]


def test_no_module_but_run_folder_spells_the_layout():
    spelled = {}
    for module, path in tfgen_modules().items():
        if module == "tfgen.run_folder":
            continue
        with open(path, encoding="utf-8") as f:
            found = layout_spellings(f.read())
        if found:
            spelled[module] = found
    assert spelled == {}, "build these paths with tfgen.run_folder.RunFolder"
