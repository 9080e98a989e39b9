"""A checkpoint holds the whole training state, for every family.

Reference computed another way: the networks are found by walking the
trainer's attributes (any Keras model it holds), not through
``checkpoint_objects``, so a network a method adds without checkpointing it,
or a layer Keras' own tracking misses (held in a Python list), fails here.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.dagan.config import DAGANConfig
from tfgen.families.figr.config import FIGRConfig
from tfgen.families.lofgan.config import LoFGANConfig
from tfgen.families.l2l.config import L2LConfig
from tfgen.families.stylegan.config import StyleGANConfig
from tfgen.families.transfer.config import CDCGANConfig, DCGANConfig, InfoGANConfig
from tfgen.data.builtin import LabelledImages
from tfgen.runs import CHECKPOINT_DIR
from tfgen.families.dagan.trainer import DAGANTrainer
from tfgen.families.fastgan.trainer import FastGANTrainer
from tfgen.families.lofgan.trainer import LoFGANTrainer
from tfgen.families.l2l.trainer import PairTrainer
from tfgen.families.figr.trainer import ReptileTrainer
from tfgen.families.stylegan.trainer import StyleGANTrainer
from tfgen.families.transfer.trainer import CDCGANTrainer, DCGANTrainer, InfoGANTrainer

FEW_SHOT = dict(resolution=32, channels=1, latent_dim=8, width=4, batch_size=8, augmented_shots=16, adapt_steps=2)


def run(tmp_path, name, **overrides):
    values = dict(
        name=name, runs_dir=str(tmp_path), data="digits", steps=2, seed=0, flip=False,
        sample_every=1000, checkpoint_every=1000, log_every=1,
    )  # fmt: skip
    values.update(overrides)
    return RunConfig(**values)


def labelled(num_classes=3, per_class=4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (num_classes * per_class, 32, 32, 1), dtype=np.uint8)
    labels = np.repeat(np.arange(num_classes), per_class)
    return LabelledImages(images, labels, [f"c{k}" for k in range(num_classes)])


TRAINERS = {
    "fastgan": lambda tmp, name: FastGANTrainer(
        FastGANConfig(resolution=64, ngf=4, ndf=4, batch_size=2, ema_decay=0.9), run(tmp, name, data="digits:3")
    ),
    "figr": lambda tmp, name: ReptileTrainer(
        FIGRConfig(width=4, latent_dim=8, inner_steps=2, adapt_steps=2, inner_optimizer="adam"), run(tmp, name)
    ),
    "dcgan": lambda tmp, name: DCGANTrainer(DCGANConfig(**FEW_SHOT), run(tmp, name)),
    "cdcgan": lambda tmp, name: CDCGANTrainer(CDCGANConfig(**FEW_SHOT), run(tmp, name)),
    "infogan": lambda tmp, name: InfoGANTrainer(
        InfoGANConfig(**FEW_SHOT, num_categories=4, num_continuous=2), run(tmp, name)
    ),
    "stylegan": lambda tmp, name: StyleGANTrainer(
        StyleGANConfig(
            resolution=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64,
            channel_max=8, batch_size=4, ema_decay=0.9,
        ),
        run(tmp, name),
    ),  # fmt: skip
    "l2l": lambda tmp, name: PairTrainer(
        L2LConfig(resolution=32, channels=1, latent_dim=8, width=4, noise_channels=2, batch_size=2,
                  critic_steps=1, gem_layers="3", conditioning_images=3),
        run(tmp, name), images=labelled(), gems="all",
    ),  # fmt: skip
    "lofgan": lambda tmp, name: LoFGANTrainer(LoFGANConfig(width=4, tasks_per_step=2), run(tmp, name)),
    "dagan": lambda tmp, name: DAGANTrainer(
        DAGANConfig(width=4, latent_dim=8, pairs_per_step=2, critic_steps=2), run(tmp, name)
    ),
    "dagan_warp": lambda tmp, name: DAGANTrainer(
        DAGANConfig(width=4, latent_dim=8, pairs_per_step=2, critic_steps=2, output_mode="warp",
                    mode_seeking_weight=1.0),
        run(tmp, name),
    ),  # fmt: skip
}


def held_networks(trainer):
    """{attribute: Keras model} of every network the trainer holds."""
    return {name: value for name, value in vars(trainer).items() if isinstance(value, keras.Model)}


def values(variables):
    return [np.array(v.numpy()) for v in variables]


@pytest.fixture(scope="module", params=sorted(TRAINERS))
def trained(request, tmp_path_factory):
    """(family, trainer after two steps and a checkpoint, checkpoint prefix)."""
    trainer = TRAINERS[request.param](str(tmp_path_factory.mktemp("runs")), request.param)
    trainer.quiet = True
    trainer.fit()
    prefix = tf.train.latest_checkpoint(os.path.join(trainer.run_dir, CHECKPOINT_DIR))
    return request.param, trainer, prefix


def test_every_network_variable_is_in_the_checkpoint(trained):
    family, trainer, prefix = trained
    stored = dict(tf.train.list_variables(prefix))
    networks = held_networks(trainer)
    assert {"generator", "discriminator"} <= set(networks)
    for name, network in networks.items():
        for index, variable in enumerate(network.variables):
            key = f"{name}/{index}/.ATTRIBUTES/VARIABLE_VALUE"
            assert key in stored, f"{family}: {name} variable {variable.path} is not in the checkpoint"
            assert tuple(stored[key]) == tuple(variable.shape), f"{family}: {variable.path}"
        assert f"{name}/{len(network.variables)}/.ATTRIBUTES/VARIABLE_VALUE" not in stored


def test_restore_gives_back_every_variable(trained):
    """A fresh trainer restoring the checkpoint equals the trained one, array by array
    (networks, optimizer slots, step, random state)."""
    family, trainer, _ = trained
    fresh = TRAINERS[family](os.path.dirname(trainer.run_dir), os.path.basename(trainer.run_dir))
    assert fresh.restore() == 2
    fresh.release()
    for name, network in held_networks(trainer).items():
        for a, b, variable in zip(values(network.variables), values(held_networks(fresh)[name].variables), network.variables):
            np.testing.assert_array_equal(a, b, err_msg=f"{family}: {name} {variable.path}")
    for old, new in ((trainer.g_optimizer, fresh.g_optimizer), (trainer.d_optimizer, fresh.d_optimizer)):
        for a, b in zip(values(old.variables), values(new.variables)):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(trainer.seed_generator.state.numpy(), fresh.seed_generator.state.numpy())
