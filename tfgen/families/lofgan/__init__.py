"""LoFGAN (Gu et al., "LoFGAN: Fusing Local Representations for Few-shot
Image Generation", ICCV 2021): a conditional generator that fuses the local
features of k shots of a class into a new image of it; trained on episodes
of the training classes, it adapts to a new class by holding its shots
(``generate.py --method fuse``), with no training."""

from __future__ import annotations

from tfgen.errors import InputError
from tfgen.families.lofgan.config import LOFGAN_PRESETS, LoFGANConfig
from tfgen.registry import ModelFamily, describe_model


def build_generator(config):
    from tfgen.families.lofgan.networks import LoFGANGenerator

    config.validate()
    return LoFGANGenerator(
        resolution=config.resolution, channels=config.channels, width=config.width,
        encoder_downsamples=config.encoder_downsamples, fused_shots=config.shots,
        held_shots=config.held_shots or config.shots, fusion_rate=config.fusion_rate, name="generator",
    )  # fmt: skip


def build_discriminator(config):
    from tfgen.families.lofgan.networks import LoFGANDiscriminator

    config.validate()
    return LoFGANDiscriminator(
        resolution=config.resolution, channels=config.channels, width=config.width,
        num_classes=config.num_classes, name="discriminator",
    )  # fmt: skip


def check_flags(flags):
    """A batch is --tasks-per-step episodes of --shots images: --batch-size has no meaning here."""
    if flags["batch-size"].value is not None:
        raise InputError(
            "LoFGAN's batch is --tasks-per-step episodes of --shots images: set those instead of "
            f"--batch-size. Received: --batch-size={flags['batch-size'].value}"
        )


FAMILIES = {
    "lofgan": ModelFamily(
        name="lofgan",
        config_class=LoFGANConfig,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        describe_generator=lambda config: describe_model(
            "LoFGANGenerator", config, fields=("resolution", "channels", "width", "encoder_downsamples", "shots",
                                               "held_shots")),  # fmt: skip
        trainer_path="tfgen.families.lofgan.trainer:LoFGANTrainer",
        networks="tfgen.families.lofgan.networks",
        adapt_method="fuse",
        method_help={"fuse": "new images fused from the shots' local features, no training"},
        adapter="tfgen.families.lofgan.adapt:adapt",
        presets=LOFGAN_PRESETS,
        check_flags=check_flags,
    )
}
