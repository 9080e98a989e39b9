"""Transfer baselines (tfgen.families.transfer.trainer): DCGAN, cDCGAN, InfoGAN on
digits at 32 px with tiny widths, and fine-tuning on shots in memory
(tfgen.families.transfer.adapt, through adapt_run)."""

import dataclasses
import hashlib
import math
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import erf, log_softmax
from sklearn.datasets import load_digits

from tfgen.adaptation import adapt_run
from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.transfer.config import CDCGANConfig, DCGANConfig, InfoGANConfig
from tfgen.runs import load_generator, load_run_config, save_run_config
from tfgen.data.episodes import load_shots
from tfgen.losses import info_loss
from tfgen.families.transfer.networks import infogan_codes
from tfgen.sampling import generate
from tfgen.families.transfer.trainer import (
    TRANSFER_FAMILIES,
    CDCGANTrainer,
    DCGANTrainer,
    InfoGANTrainer,
)

TRAINERS = {"dcgan": DCGANTrainer, "cdcgan": CDCGANTrainer, "infogan": InfoGANTrainer}
CONFIGS = {"dcgan": DCGANConfig, "cdcgan": CDCGANConfig, "infogan": InfoGANConfig}
DCGAN_LOSSES = {"d_loss", "g_loss", "d_real", "d_fake"}
INFOGAN_LOSSES = DCGAN_LOSSES | {"info_loss", "info_categorical", "info_continuous"}
WEIGHT_FILES = ("generator.weights.h5", "discriminator.weights.h5")


def tiny_config(family, **overrides):
    values = dict(
        resolution=32, channels=1, latent_dim=8, width=4, batch_size=8, augmented_shots=16, adapt_steps=2
    )
    if family == "infogan":
        values.update(num_categories=4, num_continuous=2)
    values.update(overrides)
    return CONFIGS[family](**values)


def run_config(runs_dir, name="run", **overrides):
    values = dict(
        name=name, runs_dir=str(runs_dir), data="digits", steps=2, seed=0,
        sample_every=1000, checkpoint_every=1000, log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


def first_batch(trainer):
    return next(iter(trainer.distribute(trainer.data.dataset)))


def numpy_weights(model):
    return [np.array(v.numpy()) for v in model.trainable_variables]


def draw_step_latents(trainer, batch_size):
    """The z the next step will draw (the seed stream is left where it was)."""
    state = trainer.seed_generator.state.numpy()
    z = trainer.sample_latents(batch_size)
    trainer.seed_generator.state.assign(state)
    return z


def softplus(x):
    return np.logaddexp(0.0, np.asarray(x, np.float64))


def folder_hashes(folder):
    hashes = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                hashes[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return hashes


@pytest.fixture(scope="module")
def digit_shots():
    return load_shots("digits:9", shots=4, resolution=32, channels=1, seed=0)


# --------------------------------------------------------- training runs


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """family -> (run folder, trainer, losses of its first step): a 2-step
    pre-training run per family, also the meta runs of the fine-tuning tests
    (seed 5: other initial weights than fine-tuning from scratch with seed 0)."""
    runs_dir = tmp_path_factory.mktemp("pretrained")
    runs = {}
    for family in TRANSFER_FAMILIES:
        trainer = TRAINERS[family](tiny_config(family), run_config(runs_dir, family, seed=5), quiet=True)
        losses = trainer.train_function(first_batch(trainer))
        runs[family] = (trainer.fit(), trainer, losses)  # fit goes on from step 1 to 2
    return runs


@pytest.mark.parametrize("family", TRANSFER_FAMILIES)
def test_fit_writes_the_run_and_resumes(pretrained, tmp_path, family):
    run_dir, trainer, losses = pretrained[family]
    assert set(losses) == (INFOGAN_LOSSES if family == "infogan" else DCGAN_LOSSES)
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())
    for name in WEIGHT_FILES + ("config.json", os.path.join("samples", "final.png")):
        assert os.path.isfile(os.path.join(run_dir, name)), name
    saved_family, saved_model, _ = load_run_config(run_dir)
    assert saved_family == family
    if family == "cdcgan":
        assert saved_model.num_classes == 10  # digits 0..8 plus the free slot
    # The folder rebuilds the generator (the registry's builders, the raw weights).
    z = np.random.default_rng(0).standard_normal((2, trainer.generator.latent_dim)).astype("float32")
    rebuilt = load_generator(run_dir, ema=False)
    np.testing.assert_allclose(rebuilt(z), trainer.generator(z), rtol=1e-5, atol=1e-6)

    # Resume a copy (the original serves the fine-tuning tests).
    shutil.copytree(run_dir, tmp_path / family)
    resumed = TRAINERS[family](tiny_config(family), run_config(tmp_path, family, steps=3, seed=5), quiet=True)
    assert resumed.open_run() == 2
    resumed.fit()
    assert int(resumed.step.numpy()) == 3
    assert int(resumed.g_optimizer.iterations.numpy()) == 3
    checkpoints = os.path.join(str(tmp_path), family, "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-3")


def test_pretraining_never_sees_the_held_out_class(tmp_path):
    config = tiny_config("cdcgan")
    trainer = CDCGANTrainer(config, run_config(tmp_path), quiet=True)
    assert trainer.class_split.train == tuple("012345678") and trainer.class_split.test == ("9",)
    assert trainer.data.num_images == int(np.sum(load_digits().target != 9))
    batches = iter(trainer.data.dataset)
    labels = np.concatenate(
        [next(batches)[1].numpy() for _ in range(math.ceil(trainer.data.num_images / 8))]
    )
    assert set(labels) == set(range(9))  # one epoch: every meta-train class, never 9
    # num_classes = 9 meta-train classes + 1 free slot, set before the networks were built.
    assert trainer.model_config.num_classes == 10
    assert trainer.generator.num_classes == 10 and trainer.discriminator.num_classes == 10
    assert config.num_classes == 0  # the caller's config is left alone
    # Pre-training batches carry their own labels.
    images, batch_labels = trainer.split_batch(first_batch(trainer))
    assert set(batch_labels.numpy()) <= set(range(9))


def test_class_split_and_class_count_follow_the_config(tmp_path):
    config = tiny_config("cdcgan", train_classes="0,1,2", test_classes="3")
    trainer = CDCGANTrainer(config, run_config(tmp_path), quiet=True)
    assert trainer.class_split == (("0", "1", "2"), ("3",))
    assert trainer.data.num_images == int(np.sum(np.isin(load_digits().target, [0, 1, 2])))
    assert trainer.model_config.num_classes == 4
    explicit = CDCGANTrainer(tiny_config("cdcgan", num_classes=12), run_config(tmp_path), quiet=True)
    assert explicit.model_config.num_classes == 12
    with pytest.raises(ValueError, match=r"free slot.*at least 10.*num_classes=9"):
        CDCGANTrainer(tiny_config("cdcgan", num_classes=9), run_config(tmp_path), quiet=True)


def test_dcgan_step_losses_match_a_hand_computation(tmp_path):
    trainer = DCGANTrainer(tiny_config("dcgan"), run_config(tmp_path), quiet=True)
    G, D = trainer.generator, trainer.discriminator
    real, _ = first_batch(trainer)
    z = draw_step_latents(trainer, 8)
    g_before = G.get_weights()
    # Training-mode BatchNorm normalises with the batch's own statistics, so
    # these are the logits the step sees.
    real_logits = D(real, training=True).numpy()
    fake_logits = D(G(z, training=True), training=True).numpy()

    losses = trainer.train_function((real, _))

    expected_d = softplus(-real_logits).mean() + softplus(fake_logits).mean()
    np.testing.assert_allclose(losses["d_loss"].numpy(), expected_d, rtol=1e-5)
    np.testing.assert_allclose(losses["d_real"].numpy(), np.mean(1 / (1 + np.exp(-real_logits))), rtol=1e-5)
    np.testing.assert_allclose(losses["d_fake"].numpy(), np.mean(1 / (1 + np.exp(-fake_logits))), rtol=1e-5)
    # The G loss is G (before its update) against the updated D.
    g_after = G.get_weights()
    G.set_weights(g_before)
    expected_g = softplus(-D(G(z, training=True), training=True).numpy()).mean()
    np.testing.assert_allclose(losses["g_loss"].numpy(), expected_g, rtol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(g_before, g_after))


# ----------------------------------------------------------------- cDCGAN


def test_cdcgan_fine_tuning_labels_every_image_with_the_free_slot(tmp_path, digit_shots):
    images = digit_shots.astype("float32") / 127.5 - 1.0
    trainer = CDCGANTrainer(tiny_config("cdcgan", num_classes=10), run_config(tmp_path), quiet=True, images=images)
    assert trainer.class_split is None and trainer.data.num_images == 4
    batch = first_batch(trainer)
    _, labels = trainer.split_batch(batch)
    np.testing.assert_array_equal(labels.numpy(), np.full(8, 9))
    assert np.isfinite(trainer.train_function(batch)["d_loss"].numpy())
    # The class count must come from pre-training.
    with pytest.raises(ValueError, match="num_classes=0"):
        CDCGANTrainer(tiny_config("cdcgan"), run_config(tmp_path), quiet=True, images=images)
    with pytest.raises(ValueError, match=r"\[N, 32, 32, 1\].*shape=\(4, 16, 16, 1\)"):
        DCGANTrainer(tiny_config("dcgan"), run_config(tmp_path), quiet=True, images=images[:, :16, :16])


def test_cdcgan_sample_grid_has_one_row_per_class(tmp_path):
    trainer = CDCGANTrainer(tiny_config("cdcgan"), run_config(tmp_path), quiet=True)
    images = trainer.sample_images()
    assert images.shape == (100, 32, 32, 1) and images.dtype == np.uint8
    # Row r holds class r: the same latents with another label give other images.
    assert not np.array_equal(images[:10], images[10:20])
    fixed = CDCGANTrainer(tiny_config("cdcgan", num_classes=10, sample_class=3), run_config(tmp_path), quiet=True)
    assert fixed.sample_images().shape == (64, 32, 32, 1)


# ---------------------------------------------------------------- InfoGAN


def test_infogan_info_term_is_the_info_loss_of_the_codes(tmp_path):
    config = tiny_config("infogan", info_weight=0.5)
    trainer = InfoGANTrainer(config, run_config(tmp_path), quiet=True)
    G, D = trainer.generator, trainer.discriminator
    real, labels = first_batch(trainer)
    z = draw_step_latents(trainer, 8)
    assert z.shape == (8, config.latent_dim + config.num_categories + config.num_continuous)
    real_logits, _, _ = D(real, training=True)
    fake_logits, category_logits, continuous_mean = D(G(z, training=True), training=True)
    category, continuous = infogan_codes(
        z, noise_dim=config.latent_dim, num_categories=config.num_categories, num_continuous=config.num_continuous
    )
    expected_categorical = float(info_loss(categorical_logits=category_logits, categorical_codes=category))
    expected_continuous = float(info_loss(continuous_mean=continuous_mean, continuous_codes=continuous))

    # An independent reference for the same numbers (numpy, scipy).
    z_np, logits_np, mean_np = (np.asarray(t, np.float64) for t in (z, category_logits, continuous_mean))
    codes_category = np.argmax(z_np[:, 8:12], axis=1)
    codes_continuous = erf(z_np[:, 12:14] / np.sqrt(2.0))
    np.testing.assert_array_equal(np.asarray(category), codes_category)
    reference_categorical = -np.mean(log_softmax(logits_np, axis=1)[np.arange(8), codes_category])
    reference_continuous = np.mean(
        np.sum(0.5 * np.log(2 * np.pi) + 0.5 * (codes_continuous - mean_np) ** 2, axis=1)
    )
    np.testing.assert_allclose(expected_categorical, reference_categorical, rtol=1e-5)
    np.testing.assert_allclose(expected_continuous, reference_continuous, rtol=1e-5)

    losses = trainer.train_function((real, labels))
    np.testing.assert_allclose(losses["info_categorical"].numpy(), expected_categorical, rtol=1e-5)
    np.testing.assert_allclose(losses["info_continuous"].numpy(), expected_continuous, rtol=1e-5)
    info = expected_categorical + expected_continuous
    np.testing.assert_allclose(losses["info_loss"].numpy(), info, rtol=1e-5)
    adversarial = softplus(-np.asarray(real_logits)).mean() + softplus(np.asarray(fake_logits)).mean()
    np.testing.assert_allclose(losses["d_loss"].numpy(), adversarial + 0.5 * info, rtol=1e-5)


@pytest.mark.slow
def test_infogan_q_learns_the_categorical_code(tmp_path):
    config = tiny_config("infogan", width=8, g_learning_rate=1e-3, d_learning_rate=1e-3, batch_size=16)
    trainer = InfoGANTrainer(config, run_config(tmp_path), quiet=True)
    batches = iter(trainer.distribute(trainer.data.dataset))
    values = [float(trainer.train_function(next(batches))["info_categorical"]) for _ in range(40)]
    assert np.mean(values[-5:]) < 0.5 * np.mean(values[:5]), values


# ------------------------------------------------------------ fine-tuning


@pytest.fixture(scope="module")
def meta_runs(pretrained):
    return {family: run_dir for family, (run_dir, _, _) in pretrained.items()}


def distance(weights_a, weights_b):
    return math.sqrt(sum(float(np.sum((a - b) ** 2)) for a, b in zip(weights_a, weights_b)))


def test_finetune_on_morphs_trains_on_the_shots_in_betweens(meta_runs, digit_shots, monkeypatch):
    import tfgen.morph as episodes

    seen = []
    original = episodes.shots_and_morphs
    monkeypatch.setattr(episodes, "shots_and_morphs", lambda *a, **k: seen.append(original(*a, **k)) or seen[-1])
    meta_run = meta_runs["cdcgan"]
    on_morphs = numpy_weights(adapt_run(meta_run, digit_shots, steps=2, seed=0,
                                        training_images="morphs").generator)  # fmt: skip
    assert len(seen) == 1 and len(seen[0]) == load_run_config(meta_run)[1].augmented_shots
    on_augmented = numpy_weights(adapt_run(meta_run, digit_shots, steps=2, seed=0).generator)
    assert len(seen) == 1  # the default trains on the augmented shots
    assert any(not np.allclose(a, b) for a, b in zip(on_morphs, on_augmented))
    with pytest.raises(ValueError, match="training_images must be 'augmented' or 'morphs'"):
        adapt_run(meta_run, digit_shots, steps=2, training_images="warps")


def test_finetune_starts_from_the_meta_weights_and_writes_nothing(meta_runs, digit_shots):
    meta_run = meta_runs["dcgan"]
    before = folder_hashes(meta_run)
    meta_weights = numpy_weights(load_generator(meta_run, ema=False))

    adaptation = adapt_run(meta_run, digit_shots, steps=2, seed=0)
    adapted = adaptation.generator
    scratch = adapt_run(meta_run, digit_shots, steps=2, seed=0, from_scratch=True).generator

    assert folder_hashes(meta_run) == before  # same files, same bytes
    adapted_weights = numpy_weights(adapted)
    assert all(not np.allclose(a, b) for a, b in zip(adapted_weights, meta_weights))
    # Two small Adam steps from the meta weights stay near them; random init does not.
    assert distance(adapted_weights, meta_weights) < 0.2 * distance(numpy_weights(scratch), meta_weights)
    assert isinstance(adapted, keras.Model)
    base_config = load_run_config(meta_run)[1]
    # the adapted generator samples with the base's adapt_truncation_psi; nothing else changes
    assert adaptation.config == dataclasses.replace(base_config, truncation_psi=base_config.adapt_truncation_psi)
    assert generate(adapted, 3).shape == (3, 32, 32, 1)


def test_finetune_cdcgan_draws_the_free_class(meta_runs, digit_shots):
    adaptation = adapt_run(meta_runs["cdcgan"], digit_shots, steps=1)
    generator = adaptation.generator
    assert generator.num_classes == 10 and generator.sample_class == 9
    assert adaptation.config.sample_class == 9 and adaptation.config.num_classes == 10
    assert load_run_config(meta_runs["cdcgan"])[1].sample_class is None  # the run is untouched
    images = generate(generator, 4)
    assert images.shape == (4, 32, 32, 1) and images.dtype == np.uint8


def test_finetune_infogan(meta_runs, digit_shots):
    generator = adapt_run(meta_runs["infogan"], digit_shots, steps=1).generator
    assert generator.latent_dim == 8 + 4 + 2
    assert generate(generator, 2).shape == (2, 32, 32, 1)


def test_finetune_rejects_bad_shots_and_folders(meta_runs, digit_shots, tmp_path):
    meta_run = meta_runs["dcgan"]
    for shots in (digit_shots[:, :16, :16], np.repeat(digit_shots, 3, axis=-1), digit_shots.astype("float32")):
        with pytest.raises(ValueError, match=r"uint8 images \[n, 32, 32, 1\].*load_shots"):
            adapt_run(meta_run, shots, steps=1)
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        adapt_run(str(tmp_path), digit_shots, steps=1)
    # A run of another family.
    other = tmp_path / "fastgan_run"
    other.mkdir()
    save_run_config(str(other / "config.json"), "fastgan", FastGANConfig(), RunConfig())
    with pytest.raises(ValueError, match="adapts .*dcgan.* runs, but .* is a fastgan run"):
        adapt_run(str(other), digit_shots, steps=1)
    # A run without its weights (interrupted pre-training).
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    with open(os.path.join(meta_run, "config.json")) as f:
        (unfinished / "config.json").write_text(f.read())
    with pytest.raises(FileNotFoundError, match="generator.weights.h5"):
        adapt_run(str(unfinished), digit_shots, steps=1)
