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
    from tfgen.families.fastgan.networks import FastGANDiscriminator

    config.validate()
    return FastGANDiscriminator(input_resolution=config.resolution, ndf=config.ndf, name="discriminator")


def describe_generator(config):
    return (
        f"FastGANGenerator(output_resolution={config.resolution}, latent_dim={config.latent_dim}, "
        f"ngf={config.ngf})"
    )


def config_from_flags(flags):
    """The FastGAN config from train.py's flags, with DEMO for the unset ones."""
    from tfgen.cli import diff_augment_from_flags, flag_or

    return FastGANConfig(
        resolution=flag_or("resolution", DEMO["resolution"]),
        latent_dim=flag_or("latent-dim", FastGANConfig.latent_dim),
        ngf=flags.ngf,
        ndf=flags.ndf,
        batch_size=flag_or("batch-size", DEMO["batch_size"]),
        g_learning_rate=flag_or("G-learning-rate", FastGANConfig.g_learning_rate),
        d_learning_rate=flag_or("D-learning-rate", FastGANConfig.d_learning_rate),
        ema_decay=flags["ema-decay"].value,
        diff_augment=diff_augment_from_flags(flags, FastGANConfig.diff_augment),
        reconstruction_loss=flags["reconstruction-loss"].value,
        vgg_weights=flags["vgg-weights"].value,
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
        config_from_flags=config_from_flags,
    )
}
