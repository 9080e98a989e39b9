"""Snapshots (RunConfig.snapshot_every): the trainer writes the sampling
generator's weights while it trains, on the toy GAN of test_trainer.py.

References computed another way: a snapshot is compared with the final
weights file of a run that ended at its step, and the weights of a run with
snapshots with those of one without, variable by variable."""

import glob
import os

import h5py
import numpy as np

from tfgen.config import RunConfig
from tfgen.runs import find_snapshots, snapshot_path

from .toy_gan import ToyConfig, ToyTrainer

FIRST_FILE = "generator_ema_step_0000002.weights.h5"


def run_config(tmp_path, name="toy", **overrides):
    values = dict(
        name=name, runs_dir=str(tmp_path), steps=7, seed=1, sample_every=100, checkpoint_every=3, log_every=1
    )
    values.update(overrides)
    return RunConfig(**values)


def datasets(path):
    """{dataset path: array} of a .weights.h5 file."""
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: arrays.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def assert_same_file_weights(a, b):
    first, second = datasets(a), datasets(b)
    assert first.keys() == second.keys() and first
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def test_off_by_default():
    assert RunConfig().snapshot_every == 0 and RunConfig().keep_snapshots >= 1


def test_snapshots_at_their_steps_newest_kept_and_each_one_the_ema_generator_of_its_step(tmp_path):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, snapshot_every=2, keep_snapshots=2), quiet=True)
    run_dir = trainer.fit()
    folder = os.path.join(run_dir, "snapshots")
    # Written at 2, 4 and 6; the oldest (2) deleted when 6 was written; no temporary file left.
    assert sorted(os.listdir(folder)) == [
        "generator_ema_step_0000004.weights.h5", "generator_ema_step_0000006.weights.h5"
    ]  # fmt: skip
    assert find_snapshots(run_dir, ema=True) == {4: snapshot_path(run_dir, 4, ema=True),
                                                 6: snapshot_path(run_dir, 6, ema=True)}  # fmt: skip
    assert find_snapshots(run_dir, ema=False) == {}
    assert not [p for p in glob.glob(os.path.join(run_dir, "**"), recursive=True) if ".tmp" in p]
    # The step-6 snapshot holds what a run that ends at step 6 leaves as its EMA generator.
    ended = ToyTrainer(ToyConfig(), run_config(tmp_path, name="six", steps=6), quiet=True).fit()
    assert_same_file_weights(snapshot_path(run_dir, 6, ema=True), os.path.join(ended, "generator_ema.weights.h5"))


def test_without_an_ema_generator_the_raw_generator_is_snapshotted(tmp_path):
    trainer = ToyTrainer(ToyConfig(ema_decay=None), run_config(tmp_path, steps=2, snapshot_every=2), quiet=True)
    run_dir = trainer.fit()
    assert os.listdir(os.path.join(run_dir, "snapshots")) == ["generator_step_0000002.weights.h5"]
    assert_same_file_weights(
        os.path.join(run_dir, "snapshots", "generator_step_0000002.weights.h5"),
        os.path.join(run_dir, "generator.weights.h5"),
    )


def test_snapshots_do_not_change_the_training(tmp_path):
    trainers = {}
    for name, every in (("without", 0), ("with", 1)):
        trainers[name] = ToyTrainer(ToyConfig(), run_config(tmp_path, name=name, snapshot_every=every), quiet=True)
        trainers[name].fit()
    assert not os.path.exists(os.path.join(trainers["without"].run_dir, "snapshots"))
    assert len(os.listdir(os.path.join(trainers["with"].run_dir, "snapshots"))) == 5  # keep_snapshots
    without, with_ = trainers["without"], trainers["with"]
    # Every variable of every network and optimizer, and the random state, array by array.
    pairs = list(zip(without.state_variables(), with_.state_variables()))
    pairs.append((without.seed_generator.state, with_.seed_generator.state))
    assert len(pairs) > 10
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for name in ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5"):
        assert_same_file_weights(os.path.join(without.run_dir, name), os.path.join(with_.run_dir, name))


def test_only_the_chief_writes_snapshots(tmp_path):
    trainer = ToyTrainer(ToyConfig(), run_config(tmp_path, snapshot_every=1), quiet=True)
    trainer.is_chief = False
    assert trainer.write_snapshot(1) is None
    assert not os.path.exists(os.path.join(trainer.run_dir, "snapshots"))
