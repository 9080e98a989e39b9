"""DAGAN (Antoniou, Storkey, Edwards, "Data Augmentation Generative
Adversarial Networks", 2017): a UNet generator G(x, z) that makes another
member of x's class, trained against a critic of pairs of one class on the
training classes; it adapts to a new class by holding its shots
(``generate.py --method condition``): each image is G(shot_i, z), no training."""

from __future__ import annotations

from tfgen.errors import InputError
from tfgen.families.dagan.config import DAGAN_PRESETS, DAGANConfig
from tfgen.registry import ModelFamily, describe_model


def build_generator(config):
    from tfgen.families.dagan.networks import DAGANGenerator

    config.validate()
    return DAGANGenerator(
        resolution=config.resolution, channels=config.channels, width=config.width, noise_dim=config.latent_dim,
        noise_channels=config.noise_channels, held_shots=config.generator_held, output_mode=config.output_mode,
        max_shift=config.max_shift, flow_grid=config.flow_grid, name="generator",
    )  # fmt: skip


def build_critic(config):
    from tfgen.families.dagan.networks import DAGANCritic

    config.validate()
    return DAGANCritic(resolution=config.resolution, channels=config.channels, width=config.width, name="critic")


def check_flags(flags):
    """A step is --critic-steps batches of --pairs-per-step pairs: --batch-size has no meaning here."""
    if flags["batch-size"].value is not None:
        raise InputError(
            "DAGAN's step is --critic-steps batches of --pairs-per-step pairs (x, x') of one class: set those "
            f"instead of --batch-size. Received: --batch-size={flags['batch-size'].value}"
        )


FAMILIES = {
    "dagan": ModelFamily(
        name="dagan",
        config_class=DAGANConfig,
        build_generator=build_generator,
        build_discriminator=build_critic,
        describe_generator=lambda config: describe_model(
            "DAGANGenerator", config, fields=("resolution", "channels", "width", "latent_dim", "noise_channels",
                                              "held_shots", "output_mode")),  # fmt: skip
        trainer_path="tfgen.families.dagan.trainer:DAGANTrainer",
        networks="tfgen.families.dagan.networks",
        adapt_method="condition",
        method_help={"condition": "its generator conditioned on one shot per image, no training"},
        adapter="tfgen.families.dagan.adapt:adapt",
        presets=DAGAN_PRESETS,
        check_flags=check_flags,
    )
}
