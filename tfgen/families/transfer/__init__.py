"""The transfer-learning baselines: DCGAN, conditional DCGAN (a free class
slot for the new class) and InfoGAN, pre-trained on the training classes and
fine-tuned on the augmented shots of a new one."""

from __future__ import annotations

from tfgen.families.transfer.config import TRANSFER_PRESETS, CDCGANConfig, DCGANConfig, InfoGANConfig
from tfgen.registry import ModelFamily, describe_model

# Keyword options of the fine-tuning (finetune_on_shots) that adapt() passes on.
FINETUNE_OPTIONS = ("base_mix", "freeze_d", "generator_part", "ema_decay", "diff_augment", "truncation_psi",
                    "from_scratch")  # fmt: skip


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


def adapt(run, shots, *, steps=None, seed=0, quiet=True, **options):
    from tfgen.families.transfer.trainer import finetune_on_shots

    return finetune_on_shots(run, shots, steps=steps, seed=seed, quiet=quiet, **options)


def _family(name, config_class, trainer, generator_class, build_generator, build_discriminator):
    return ModelFamily(
        name=name,
        config_class=config_class,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        describe_generator=lambda config: describe_model(generator_class, config),
        trainer_path=f"tfgen.families.transfer.trainer:{trainer}",
        networks="tfgen.families.transfer.networks",
        adapt_method="finetune",
        adapter=adapt,
        adapter_options=FINETUNE_OPTIONS,
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
