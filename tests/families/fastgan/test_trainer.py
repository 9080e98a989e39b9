"""FastGAN training (tfgen.families.fastgan.trainer) at 64 px with tiny widths."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.runs import load_generator, load_run_config
from tfgen.families.fastgan.trainer import FastGANTrainer, resize_to

LOSS_NAMES = {"d_loss_real", "d_loss_fake", "rec_loss", "g_loss", "logits_real", "logits_fake"}


def tiny_config(**overrides):
    values = dict(resolution=64, latent_dim=32, ngf=8, ndf=8, batch_size=2)
    values.update(overrides)
    return FastGANConfig(**values)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return str(folder)


def numpy_weights(variables):
    return [np.array(v.numpy()) for v in variables]


def test_resize_to_averages_blocks_and_keeps_same_size():
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    expected = images.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(resize_to(images, 4), expected, rtol=1e-6)
    assert resize_to(images, 8) is images
    assert tuple(resize_to(images, 16).shape) == (2, 16, 16, 3)


def test_train_runs_fastgan_and_writes_a_loadable_run(tmp_path, image_folder):
    run = RunConfig(
        name="tiny", runs_dir=str(tmp_path), data=image_folder, steps=2, sample_every=2, log_every=1
    )
    trainer = FastGANTrainer(tiny_config(), run, quiet=True)
    g_before = numpy_weights(trainer.generator.trainable_variables)
    d_before = numpy_weights(trainer.discriminator.trainable_variables)
    ema_before = numpy_weights(trainer.generator_ema.trainable_variables)

    losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    assert set(losses) == LOSS_NAMES
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())
    assert float(losses["rec_loss"]) > 0
    # Every trainable weight moves (the noise-injection strengths start at 0
    # and must receive gradient too); the EMA moves by (1 - decay) of that.
    g_after = numpy_weights(trainer.generator.trainable_variables)
    assert all(not np.array_equal(a, b) for a, b in zip(g_before, g_after))
    d_after = numpy_weights(trainer.discriminator.trainable_variables)
    assert all(not np.array_equal(a, b) for a, b in zip(d_before, d_after))
    decay = trainer.ema_decay
    for old, w, new in zip(ema_before, g_after, numpy_weights(trainer.generator_ema.trainable_variables)):
        np.testing.assert_allclose(new, decay * old + (1 - decay) * w, rtol=1e-5, atol=1e-7)

    run_dir = trainer.fit()
    assert int(trainer.step.numpy()) == 2
    family, model_config, _ = load_run_config(run_dir)
    assert family == "fastgan" and model_config == tiny_config()
    for name in ("final.png", "step_0000002.png"):
        assert os.path.isfile(os.path.join(run_dir, "samples", name))
    generator = load_generator(run_dir)  # generator_ema.weights.h5 + config.json
    ema = trainer.generator_ema
    for a, b in zip(numpy_weights(ema.trainable_variables), numpy_weights(generator.trainable_variables)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "mixed_precision",
    ["bfloat16", pytest.param("float16", marks=pytest.mark.slow)],
)
def test_mixed_precision_step_is_finite_and_updates(tmp_path, image_folder, mixed_precision):
    run = RunConfig(
        name="mp", runs_dir=str(tmp_path), data=image_folder, steps=1, mixed_precision=mixed_precision
    )
    trainer = FastGANTrainer(tiny_config(), run, quiet=True)
    assert trainer.generator.compute_dtype == ("bfloat16" if mixed_precision == "bfloat16" else "float16")
    d_before = numpy_weights(trainer.discriminator.trainable_variables)
    losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())
    d_after = numpy_weights(trainer.discriminator.trainable_variables)
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, d_after))


def test_perceptual_reconstruction_needs_its_vgg_weights(tmp_path, image_folder):
    config = tiny_config(reconstruction_loss="lpips_vgg", vgg_weights=str(tmp_path / "absent.h5"))
    run = RunConfig(name="x", runs_dir=str(tmp_path), data=image_folder, steps=1)
    with pytest.raises(FileNotFoundError, match="--vgg-weights"):
        FastGANTrainer(config, run, quiet=True)


@pytest.mark.slow
def test_perceptual_reconstruction_step(tmp_path, image_folder):
    # Random weights in the Keras VGG16 layout stand in for the ImageNet file.
    vgg_weights = str(tmp_path / "vgg16_notop.weights.h5")
    keras.applications.VGG16(include_top=False, weights=None).save_weights(vgg_weights)
    config = tiny_config(reconstruction_loss="lpips_vgg", vgg_weights=vgg_weights)
    run = RunConfig(name="lpips", runs_dir=str(tmp_path), data=image_folder, steps=1)
    trainer = FastGANTrainer(config, run, quiet=True)
    vgg_before = numpy_weights(trainer.perceptual_distance.features.weights)
    losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    assert all(np.isfinite(v.numpy()) for v in losses.values())
    assert float(losses["rec_loss"]) > 0
    # The feature network is a fixed measure, never trained.
    for a, b in zip(vgg_before, numpy_weights(trainer.perceptual_distance.features.weights)):
        np.testing.assert_array_equal(a, b)
