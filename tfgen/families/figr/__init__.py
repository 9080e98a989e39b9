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


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    from tfgen.families.figr.trainer import adapt_to_shots

    return adapt_to_shots(run, shots, steps=steps, seed=seed, quiet=quiet)


def config_from_flags(flags):
    """The FIGR config from train.py's flags."""
    from tfgen.cli import few_shot_fields, flag_or

    if flags["batch-size"].value is not None:
        raise InputError(
            "FIGR's batch is one task per step: set --shots and --tasks-per-step instead of "
            f"--batch-size. Received: --batch-size={flags['batch-size'].value}"
        )
    return FIGRConfig(
        **few_shot_fields(flags, FIGR_PRESETS, FIGRConfig),
        tasks_per_step=flags["tasks-per-step"].value,
        inner_steps=flags["inner-steps"].value,
        inner_optimizer=flags["inner-optimizer"].value,
        inner_learning_rate=flags["inner-learning-rate"].value,
        meta_optimizer=flags["meta-optimizer"].value,
        meta_learning_rate=flags["meta-learning-rate"].value,
        gp_weight=flags["gp-weight"].value,
        adapt_steps=flag_or("adapt-steps", FIGRConfig.adapt_steps),
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
        adapter=adapt,
        presets=FIGR_PRESETS,
        config_from_flags=config_from_flags,
    )
}
