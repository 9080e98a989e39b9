"""A metric during training (train.py --fid): log, TensorBoard, best weights, resume."""

import json
import os

import numpy as np
import pytest

from tfgen.config import RunConfig

from ..metrics.tiny_extractor import TinyPixelExtractor  # noqa: F401  (registers "tiny_pixels")
from .toy_gan import ToyConfig, ToyTrainer


def fid_run_config(tmp_path, **overrides):
    values = dict(
        name="toy", runs_dir=str(tmp_path), data="digits:3", steps=5, seed=1, sample_every=100,
        checkpoint_every=2, log_every=1, fid=True, fid_frequency=2, fid_number_of_images=8,
        fid_features="tiny_pixels",
    )  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


def read_log(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_metric_is_logged_and_the_best_weights_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    trainer = ToyTrainer(ToyConfig(), fid_run_config(tmp_path), quiet=True)
    run_dir = trainer.fit()
    log = read_log(run_dir)
    assert [r["step"] for r in log] == [2, 4, 5]  # every 2 steps, and the final weights
    assert all(r["features"] == "tiny_pixels" and r["num_images"] == 8 for r in log)
    assert all(r["feature_network"] == "tiny_pixels" for r in log)  # an extractor of its own: its name
    best = min(log, key=lambda r: r["fid"])
    with open(os.path.join(run_dir, "best", "metric.json")) as f:
        record = json.load(f)
    assert record["step"] == best["step"] and record["fid"] == pytest.approx(best["fid"])
    for name in ("config.json", "generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5"):
        assert os.path.isfile(os.path.join(run_dir, "best", name))
    assert float(trainer.best_metric.numpy()) == pytest.approx(best["fid"])
    assert os.listdir(os.path.join(run_dir, "logs"))  # TensorBoard events


def test_best_weights_are_the_measured_generator(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    trainer = ToyTrainer(ToyConfig(), fid_run_config(tmp_path, steps=2), quiet=True)
    run_dir = trainer.fit()
    saved = trainer.build_generator()
    saved.load_weights(os.path.join(run_dir, "best", "generator_ema.weights.h5"))
    for a, b in zip(saved.trainable_variables, trainer.generator_ema.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_resumed_run_keeps_the_best_value(tmp_path, monkeypatch):
    monkeypatch.setenv("TFGEN_CACHE_DIR", str(tmp_path / "cache"))
    first = ToyTrainer(ToyConfig(), fid_run_config(tmp_path, steps=4), quiet=True)
    first.fit()
    best_before = float(first.best_metric.numpy())
    resumed = ToyTrainer(ToyConfig(), fid_run_config(tmp_path, steps=6), quiet=True)
    resumed.fit()
    log = read_log(resumed.run_dir)
    assert [r["step"] for r in log] == [2, 4, 6]
    assert float(resumed.best_metric.numpy()) == pytest.approx(min(best_before, log[-1]["fid"]))


def test_metrics_that_training_cannot_compute_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="needs pixels"):
        ToyTrainer(ToyConfig(), fid_run_config(tmp_path, fid_metric="mse_ssim"), quiet=True)
    with pytest.raises(ValueError, match="needs generator"):
        ToyTrainer(ToyConfig(), fid_run_config(tmp_path, fid_metric="ppl_w"), quiet=True)
    with pytest.raises(ValueError, match="Unknown metric"):
        ToyTrainer(ToyConfig(), fid_run_config(tmp_path, fid_metric="fdi"), quiet=True)
    with pytest.raises(ValueError, match="Unknown feature extractor"):
        ToyTrainer(ToyConfig(), fid_run_config(tmp_path, fid_features="vgg"), quiet=True)
    with pytest.raises(ValueError, match="fid_number_of_images"):
        fid_run_config(tmp_path, fid_number_of_images=1).validate()
