"""StyleGAN training (tfgen.families.stylegan.trainer) with tiny networks on digits at 32 px."""

import math
import os

import numpy as np
import pytest
import tensorflow as tf

from tfgen.config import RunConfig
from tfgen.families.stylegan.config import StyleGANConfig
from tfgen.runs import load_generator
from tfgen.families.stylegan.trainer import StyleGANTrainer, lazy_regularization_factor, training_images

WEIGHT_FILES = ("generator.weights.h5", "generator_ema.weights.h5", "discriminator.weights.h5")


def tiny_config(**overrides):
    values = dict(
        resolution=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2,
        channel_base=64, channel_max=8, batch_size=4,
    )  # fmt: skip
    values.update(overrides)
    return StyleGANConfig(**values)


def run_config(runs_dir, name="run", **overrides):
    values = dict(
        name=name, runs_dir=str(runs_dir), data="digits", steps=2, seed=0, flip=False,
        sample_every=1000, checkpoint_every=1000, log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


def first_batch(trainer):
    return next(iter(trainer.distribute(trainer.data.dataset)))


def test_default_split_holds_the_new_class_out():
    images, split = training_images("digits", tiny_config())
    assert split.test == ("9",) and "9" not in split.train
    assert images.shape[1:] == (32, 32, 1) and images.dtype == np.uint8
    # 1797 digits, 180 of them nines.
    assert len(images) == 1797 - 180


def test_sources_without_a_split_are_trained_on_whole(tmp_path):
    images, split = training_images("digits:3", tiny_config(channels=3))
    assert split is None and images.shape == (183, 32, 32, 3)
    images, split = training_images("digits", tiny_config(test_classes="0,1"))
    assert split.test == ("0", "1") and len(images) == 1797 - 178 - 182


def test_lazy_regularization_scales_d_adam():
    trainer = StyleGANTrainer(tiny_config(), run_config("/tmp/unused"), quiet=True)
    c = 16 / 17
    assert lazy_regularization_factor(trainer.model_config) == pytest.approx(c)
    assert float(trainer.d_optimizer.learning_rate) == pytest.approx(0.002 * c)
    assert float(trainer.d_optimizer.beta_2) == pytest.approx(0.99**c)
    assert float(trainer.g_optimizer.learning_rate) == pytest.approx(0.002)
    assert lazy_regularization_factor(tiny_config(r1_interval=1)) == 1.0
    assert lazy_regularization_factor(tiny_config(r1_gamma=0.0)) == 1.0


def test_r1_penalty_is_the_squared_gradient_norm_on_the_reals():
    config = tiny_config(diff_augment="")
    trainer = StyleGANTrainer(config, run_config("/tmp/unused"), quiet=True)
    batch = first_batch(trainer)
    real = tf.convert_to_tensor(batch)
    with tf.GradientTape() as tape:
        tape.watch(real)
        total = tf.reduce_sum(trainer.discriminator(real, training=True))
    gradients = tape.gradient(total, real)
    expected = float(tf.reduce_mean(tf.reduce_sum(tf.square(gradients), [1, 2, 3])))
    losses = trainer.train_function(batch)  # step 0: a regularised step
    assert float(losses["r1_penalty"]) == pytest.approx(expected, rel=1e-4)
    assert "r1_penalty" not in trainer.train_function(first_batch(trainer))  # step 1: not


def test_training_runs_writes_weights_and_resumes(tmp_path):
    config = tiny_config()
    trainer = StyleGANTrainer(config, run_config(tmp_path, steps=2), quiet=True)
    w_avg_before = np.array(trainer.generator.w_avg.numpy())
    trainer.fit()
    for name in WEIGHT_FILES:
        assert os.path.isfile(tmp_path / "run" / name)
    assert int(trainer.step.numpy()) == 2
    # The running average of w moved, and the EMA generator carries the same one.
    assert not np.array_equal(trainer.generator.w_avg.numpy(), w_avg_before)
    np.testing.assert_array_equal(trainer.generator_ema.w_avg.numpy(), trainer.generator.w_avg.numpy())
    resumed = StyleGANTrainer(config, run_config(tmp_path, steps=3), quiet=True)
    assert resumed.open_run() == 2
    generator = load_generator(tmp_path / "run")
    images = generator(np.zeros((2, 8), "float32"))
    assert images.shape == (2, 32, 32, 1) and np.isfinite(np.asarray(images)).all()


def test_losses_are_finite_and_d_learns_to_separate():
    """Steps against a near-frozen generator: D's loss falls."""
    config = tiny_config(diff_augment="", r1_gamma=0.0, g_learning_rate=1e-6)
    trainer = StyleGANTrainer(config, run_config("/tmp/unused"), quiet=True)
    totals = []
    for _ in range(30):
        values = {k: float(v) for k, v in trainer.train_function(first_batch(trainer)).items()}
        assert all(math.isfinite(v) for v in values.values())
        totals.append(values["d_loss_real"] + values["d_loss_fake"])
    assert np.mean(totals[-5:]) < 0.8 * np.mean(totals[:5])


def test_too_few_images_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fewer than batch_size=4"):
        StyleGANTrainer(tiny_config(), run_config(tmp_path, data="digits:3:3"), quiet=True)
