"""FIGR (Clouâtre & Demers, 2019): a ResNet WGAN-GP meta-trained with Reptile,
adapted to a new class by K inner steps on its shots (Algorithm 2)."""

from __future__ import annotations

from tfgen.families.figr.config import FIGR_PRESETS, FIGRConfig
from tfgen.registry import ModelFamily, describe_model
from tfgen.errors import InputError


def build_generator(config):
    from tfgen.families.figr.networks import FIGRGenerator

    config.validate()
    return FIGRGenerator(
        resolution=config.resolution, channels=config.channels, latent_dim=config.latent_dim, width=config.width,
        name="generator",
    )  # fmt: skip


def build_critic(config):
    from tfgen.families.figr.networks import FIGRCritic

    config.validate()
    return FIGRCritic(resolution=config.resolution, channels=config.channels, width=config.width, name="critic")


def check_flags(flags):
    """FIGR's batch is one task per step: --batch-size has no meaning here."""
    if flags["batch-size"].value is not None:
        raise InputError(
            "FIGR's batch is one task per step: set --shots and --tasks-per-step instead of "
            f"--batch-size. Received: --batch-size={flags['batch-size'].value}"
        )


FAMILIES = {
    "figr": ModelFamily(
        name="figr",
        config_class=FIGRConfig,
        build_generator=build_generator,
        build_discriminator=build_critic,
        describe_generator=lambda config: describe_model("FIGRGenerator", config),
        trainer_path="tfgen.families.figr.trainer:ReptileTrainer",
        networks="tfgen.families.figr.networks",
        adapt_method="reptile",
        method_help={"reptile": "Reptile steps of the meta-trained networks on the shots"},
        adapter="tfgen.families.figr.adapt:adapt",
        presets=FIGR_PRESETS,
        check_flags=check_flags,
    )
}
