"""FastGAN with the projected discriminator (train.py --discriminator projected):
its step, its checkpointed state, its settings."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfgen.config import RunConfig
from tfgen.errors import InputError
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.trainer import FastGANTrainer
from tfgen.projected import ProjectedDiscriminator
from tfgen.runs import CHECKPOINT_DIR, load_generator, load_run_config
from tfgen.training.trainer import TrainingDiverged

LOSS_NAMES = {"d_loss_real", "d_loss_fake", "g_loss", "logits_real", "logits_fake"}


def tiny_config(**overrides):
    values = dict(resolution=64, latent_dim=16, ngf=4, ndf=4, batch_size=2, ema_decay=0.9,
                  discriminator="projected", projected_resolution=128)  # fmt: skip
    values.update(overrides)
    return FastGANConfig(**values)


def tiny_run(tmp_path, name, **overrides):
    values = dict(name=name, runs_dir=str(tmp_path), data="digits:3", steps=2, sample_every=1000,
                  checkpoint_every=1000, log_every=1, flip=False)  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


def arrays(variables):
    return [np.array(v.numpy()) for v in variables]


def first_batch(trainer):
    return next(iter(trainer.distribute(trainer.data.dataset)))


def test_settings_take_the_discriminators_defaults_unless_given():
    plain, projected = FastGANConfig(), FastGANConfig(discriminator="projected")
    assert (plain.adam_beta1, plain.adam_beta2, plain.diff_augment) == (0.5, 0.999, "color,translation")
    assert (projected.adam_beta1, projected.adam_beta2, projected.diff_augment) == (0.0, 0.99, "color,translation,cutout")
    given = FastGANConfig(discriminator="projected", adam_beta1=0.5, diff_augment="")
    assert (given.adam_beta1, given.adam_beta2, given.diff_augment) == (0.5, 0.99, "")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(projected_resolution=200), "projected_resolution must be a multiple of 32"),
        (dict(projected_resolution=96), "projected_resolution must be an integer >= 128"),
        (dict(discriminator="fastgan", projected_resolution=128), "only applies to discriminator='projected'"),
        (dict(reconstruction_loss="lpips_vgg", vgg_weights="x.h5"), "has no reconstruction decoders"),
        (dict(discriminator="stylegan"), "discriminator must be one of fastgan, projected"),
    ],
)
def test_bad_settings_are_refused(overrides, message):
    with pytest.raises(InputError, match=message):
        tiny_config(**overrides).validate()


def test_a_step_trains_the_mini_discriminators_and_the_generator_only(tmp_path):
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "step"), quiet=True)
    G, D = trainer.generator, trainer.discriminator
    assert isinstance(D, ProjectedDiscriminator)
    assert trainer.d_optimizer.beta_1 == 0.0 and trainer.d_optimizer.beta_2 == 0.99
    frozen = arrays(D.feature_network().variables)
    projection = arrays(D.projection.variables)
    minis = arrays(D.trainable_variables)
    to_small = arrays(G.to_small.variables)
    g_other = [v for v in G.trainable_variables if all(v is not w for w in G.to_small.variables)]
    g_before = arrays(g_other)
    ema_before = arrays(trainer.generator_ema.trainable_variables)

    losses = trainer.train_function(first_batch(trainer))
    assert set(losses) == LOSS_NAMES
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())

    # The feature network and the projection are fixed, bit for bit.
    for a, v in zip(frozen, D.feature_network().variables):
        np.testing.assert_array_equal(a, v.numpy(), err_msg=v.path)
    for a, v in zip(projection, D.projection.variables):
        np.testing.assert_array_equal(a, v.numpy(), err_msg=v.path)
    # Every mini-discriminator weight and every generator weight that reaches the image moves.
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(minis, D.trainable_variables))
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(g_before, g_other))
    for a, v in zip(to_small, G.to_small.variables):  # FastGAN's small output has no part here
        np.testing.assert_array_equal(a, v.numpy())
    decay = trainer.ema_decay
    for old, w, new in zip(ema_before, arrays(G.trainable_variables), arrays(trainer.generator_ema.trainable_variables)):
        np.testing.assert_allclose(new, decay * old + (1 - decay) * w, rtol=1e-5, atol=1e-7)


def test_the_d_loss_is_the_hinge_of_the_logits_the_step_reports(tmp_path):
    """A discriminator made to give every image the logit L = 0.25: its last
    BatchNorms output the constant a (gamma 0, beta a) and its heads' kernels
    are all ones, whose spectral norm is sqrt(16 C) exactly (rank one), so each
    logit is 16 C a / sqrt(16 C). The step's hinge losses must be
    relu(1 - L) = 0.75 and relu(1 + L) = 1.25."""
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "hinge"), quiet=True)
    logit = 0.25
    for disc in trainer.discriminator.discriminators:
        norm, kernel = disc.norms[-1], disc.head.kernel
        channels = kernel.shape[2]
        norm.gamma.assign(np.zeros(norm.gamma.shape, "float32"))
        norm.beta.assign(np.full(norm.beta.shape, logit / np.sqrt(16 * channels), "float32"))
        kernel.assign(np.ones(kernel.shape, "float32"))
    losses = trainer.train_function(first_batch(trainer))
    assert float(losses["logits_real"]) == pytest.approx(logit, rel=1e-5)
    assert float(losses["logits_fake"]) == pytest.approx(logit, rel=1e-5)
    assert float(losses["d_loss_real"]) == pytest.approx(1 - logit, rel=1e-5)
    assert float(losses["d_loss_fake"]) == pytest.approx(1 + logit, rel=1e-5)


def test_checkpoint_holds_the_trained_state_not_the_feature_network(tmp_path):
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "ckpt"), quiet=True)
    run_dir = trainer.fit()
    prefix = tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINT_DIR))
    stored = dict(tf.train.list_variables(prefix))
    D = trainer.discriminator
    keys = [k for k in stored if k.startswith("discriminator/")]
    assert len(keys) == len(D.variables)  # the projection and the mini discriminators, nothing else
    feature_numbers = sum(int(np.prod(v.shape)) for v in D.feature_network().variables)
    stored_numbers = sum(int(np.prod(shape)) for shape in stored.values())
    assert stored_numbers < feature_numbers  # the ~3 M frozen numbers would dominate it

    fresh = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "ckpt"), quiet=True)
    assert fresh.restore() == 2
    fresh.release()
    for network in ("generator", "discriminator", "generator_ema"):
        old, new = getattr(trainer, network), getattr(fresh, network)
        for a, b, v in zip(arrays(old.variables), arrays(new.variables), old.variables):
            np.testing.assert_array_equal(a, b, err_msg=v.path)
    for a, b in zip(arrays(trainer.d_optimizer.variables), arrays(fresh.d_optimizer.variables)):
        np.testing.assert_array_equal(a, b)

    family, config, _ = load_run_config(run_dir)
    assert family == "fastgan" and config == tiny_config()
    generator = load_generator(run_dir)
    assert tuple(generator(np.zeros((1, 16), "float32")).shape) == (1, 64, 64, 3)


def test_resuming_with_the_other_discriminator_is_refused(tmp_path):
    FastGANTrainer(tiny_config(discriminator="fastgan", projected_resolution=224),
                   tiny_run(tmp_path, "switch", steps=1), quiet=True).fit()  # fmt: skip
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "switch", steps=2), quiet=True)
    with pytest.raises(InputError, match="discriminator='fastgan'.*--discriminator fastgan"):
        trainer.fit()
    assert os.listdir(os.path.join(tmp_path, "switch", CHECKPOINT_DIR))  # left as it was
    assert not os.path.exists(os.path.join(tmp_path, "switch", CHECKPOINT_DIR, "unreadable"))


def test_bfloat16_step_is_finite_and_trains(tmp_path):
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "bf16", mixed_precision="bfloat16"), quiet=True)
    D = trainer.discriminator
    assert D.compute_dtype == "bfloat16" and D.feature_network().layers[1].compute_dtype == "bfloat16"
    before = arrays(D.trainable_variables)
    losses = trainer.train_function(first_batch(trainer))
    assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in losses.values())
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, D.trainable_variables))


def test_nan_in_the_discriminator_stops_the_run_with_its_message(tmp_path):
    trainer = FastGANTrainer(tiny_config(), tiny_run(tmp_path, "nan"), quiet=True)
    head = trainer.discriminator.discriminators[0].head.kernel
    head.assign(np.full(head.shape, np.nan, "float32"))
    with pytest.raises(TrainingDiverged, match="Training diverged at step 1"):
        trainer.loss_values(trainer.train_function(first_batch(trainer)))


# A fresh process: the CPU is split into two logical devices before TensorFlow starts.
_MIRRORED_SCRIPT = '''
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.trainer import FastGANTrainer

config = FastGANConfig(resolution=64, latent_dim=16, ngf=4, ndf=4, batch_size=4, discriminator="projected",
                       projected_resolution=128)
run = RunConfig(name="mirrored", runs_dir=sys.argv[1], data="digits:3", steps=1, strategy="mirrored", flip=False)
trainer = FastGANTrainer(config, run, quiet=True)
D = trainer.discriminator
frozen = [v.numpy().copy() for v in D.feature_network().variables]
minis = [v.numpy().copy() for v in D.trainable_variables]
losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
print("RESULT " + json.dumps({
    "replicas": trainer.num_replicas,
    "losses": {k: float(v) for k, v in losses.items()},
    "frozen_kept": all(np.array_equal(a, v.numpy()) for a, v in zip(frozen, D.feature_network().variables)),
    "minis_moved": all(not np.array_equal(a, v.numpy()) for a, v in zip(minis, D.trainable_variables)),
}))
'''


def test_a_mirrored_step_over_two_cpu_devices(tmp_path):
    from tests.scripts import run_result_script

    result = run_result_script(_MIRRORED_SCRIPT, tmp_path)
    assert result["replicas"] == 2
    assert set(result["losses"]) == LOSS_NAMES and all(np.isfinite(v) for v in result["losses"].values())
    assert result["frozen_kept"] and result["minis_moved"]
