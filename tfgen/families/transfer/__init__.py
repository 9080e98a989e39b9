"""The transfer-learning baselines: DCGAN, conditional DCGAN (a free class
slot for the new class) and InfoGAN, pre-trained on the training classes and
adapted to the shots of a new one by one of three methods: ``finetune`` (the
augmented shots, G and D fine-tuned), ``bsa`` (batch statistics adaptation:
G frozen, new scales and shifts after its norms and per-shot latents fitted)
or ``cdc`` (fine-tuning plus the cross-domain distance consistency loss);
see ``tfgen/families/transfer/adapt.py`` and docs/adaptation_methods.md."""

from __future__ import annotations

from tfgen.families.transfer.config import (
    TRANSFER_PRESETS,
    BSAConfig,  # noqa: F401  (re-exported: the bsa option's type)
    CDCGANConfig,
    DCGANConfig,
    InfoGANConfig,
)
from tfgen.registry import ModelFamily, describe_model

# Keyword options of the fine-tuning that adapt.py's adapt() passes on to finetune_on_shots.
FINETUNE_OPTIONS = ("base_mix", "freeze_d", "generator_part", "ema_decay", "diff_augment", "truncation_psi",
                    "from_scratch", "training_images")  # fmt: skip
# The adaptation methods, the default first, and the options each takes.
ADAPT_METHODS = ("finetune", "bsa", "cdc")
METHOD_HELP = {
    "finetune": "G and D fine-tuned on the shots (--finetune-images: augmented or morphs)",
    "bsa": "batch statistics adaptation: G frozen, new scales and shifts after its norms and per-shot latents fitted",
    "cdc": "fine-tuning with the cross-domain distance consistency loss",
}
METHOD_OPTIONS = {
    "finetune": FINETUNE_OPTIONS,
    "bsa": ("bsa",),  # a BSAConfig
    "cdc": (*FINETUNE_OPTIONS, "cdc"),  # fine-tuning's options and a CDCConfig
}
ADAPTER_OPTIONS = tuple(dict.fromkeys(option for options in METHOD_OPTIONS.values() for option in options))


def build_dcgan_generator(config):
    from tfgen.families.transfer.networks import DCGANGenerator

    config.validate()
    return DCGANGenerator(
        resolution=config.resolution,
        channels=config.channels,
        latent_dim=config.latent_dim,
        width=config.width,
        num_classes=getattr(config, "num_classes", 0),
        sample_class=getattr(config, "sample_class", None),
        truncation_psi=getattr(config, "truncation_psi", 1.0),
        fitted_latents=config.fitted_latents,
        name="generator",
    )


def build_dcgan_discriminator(config):
    from tfgen.families.transfer.networks import DCGANDiscriminator

    config.validate()
    return DCGANDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        width=config.width,
        num_classes=getattr(config, "num_classes", 0),
        name="discriminator",
    )


def build_infogan_generator(config):
    from tfgen.families.transfer.networks import InfoGANGenerator

    config.validate()
    return InfoGANGenerator(
        resolution=config.resolution,
        channels=config.channels,
        noise_dim=config.latent_dim,
        num_categories=config.num_categories,
        num_continuous=config.num_continuous,
        width=config.width,
        fitted_latents=config.fitted_latents,
        name="generator",
    )


def build_infogan_discriminator(config):
    from tfgen.families.transfer.networks import InfoGANDiscriminator

    config.validate()
    return InfoGANDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        width=config.width,
        num_categories=config.num_categories,
        num_continuous=config.num_continuous,
        name="discriminator",
    )


def _family(name, config_class, trainer, generator_class, build_generator, build_discriminator):
    return ModelFamily(
        name=name,
        config_class=config_class,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        describe_generator=lambda config: describe_model(generator_class, config),
        trainer_path=f"tfgen.families.transfer.trainer:{trainer}",
        networks="tfgen.families.transfer.networks",
        adapt_method=ADAPT_METHODS[0],
        adapt_methods=ADAPT_METHODS,
        adapter="tfgen.families.transfer.adapt:adapt",
        adapter_options=ADAPTER_OPTIONS,
        method_help=METHOD_HELP,
        presets=TRANSFER_PRESETS,
    )


FAMILIES = {
    "dcgan": _family("dcgan", DCGANConfig, "DCGANTrainer", "DCGANGenerator", build_dcgan_generator,
                     build_dcgan_discriminator),
    "cdcgan": _family("cdcgan", CDCGANConfig, "CDCGANTrainer", "DCGANGenerator", build_dcgan_generator,
                      build_dcgan_discriminator),
    "infogan": _family("infogan", InfoGANConfig, "InfoGANTrainer", "InfoGANGenerator", build_infogan_generator,
                       build_infogan_discriminator),
}  # fmt: skip
