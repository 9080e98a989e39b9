"""FastGAN / SLE-GAN (Liu et al., ICLR 2021): trains on the images it is to make."""

from __future__ import annotations

from tfgen.families.fastgan.config import DEMO, FastGANConfig
from tfgen.registry import ModelFamily


def build_generator(config):
    from tfgen.families.fastgan.networks import FastGANGenerator

    config.validate()
    return FastGANGenerator(
        output_resolution=config.resolution, latent_dim=config.latent_dim, ngf=config.ngf, name="generator"
    )


def build_discriminator(config):
    config.validate()
    if config.discriminator == "projected":
        from tfgen.projected import ProjectedDiscriminator

        return ProjectedDiscriminator(
            input_resolution=config.resolution,
            feature_resolution=config.projected_resolution,
            width=config.ndf,
            name="discriminator",
        )
    from tfgen.families.fastgan.networks import FastGANDiscriminator

    return FastGANDiscriminator(input_resolution=config.resolution, ndf=config.ndf, name="discriminator")


def describe_generator(config):
    return (
        f"FastGANGenerator(output_resolution={config.resolution}, latent_dim={config.latent_dim}, "
        f"ngf={config.ngf})"
    )


FAMILIES = {
    "fastgan": ModelFamily(
        name="fastgan",
        config_class=FastGANConfig,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        describe_generator=describe_generator,
        trainer_path="tfgen.families.fastgan.trainer:FastGANTrainer",
        networks="tfgen.families.fastgan.networks",
        presets=DEMO,
    )
}
