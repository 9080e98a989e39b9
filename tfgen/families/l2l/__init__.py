"""L2L-GAN: a UNet-ResNet generator conditioned on images of a class, with
generator-enhancing modules (GEM types 1-3, strategies A/B/C); adapted to a
new class by conditioning on its shots."""

from __future__ import annotations

from tfgen.families.l2l.config import L2L_PRESETS, L2LConfig
from tfgen.registry import ModelFamily, describe_model
from tfgen.errors import InputError

DESCRIBED = ("resolution", "channels", "latent_dim", "width", "noise_channels", "gem_type", "gem_layers",
             "conditioning_images")  # fmt: skip


def build_generator(config):
    from tfgen.families.l2l.networks import L2LGenerator

    config.validate()
    return L2LGenerator(
        resolution=config.resolution,
        channels=config.channels,
        latent_dim=config.latent_dim,
        width=config.width,
        noise_channels=config.noise_channels,
        gem_type=config.gem_type,
        gem_layers=config.gem_layers,
        conditioning_images=config.conditioning_images,
        name="generator",
    )


def build_critic(config):
    from tfgen.families.l2l.networks import L2LCritic

    config.validate()
    return L2LCritic(resolution=config.resolution, channels=config.channels, width=config.width, name="critic")


def check_flags(flags):
    """L2L-GAN trains in stages whose lengths are its own flags, not --steps / --epochs."""
    if flags.steps is not None or flags.epochs:
        raise InputError(
            "L2L-GAN trains in stages: set --source-steps, --few-steps, --gem-steps and "
            f"--finetune-steps instead of --steps / --epochs. Received: --steps={flags.steps}, --epochs={flags.epochs or 0}"
        )


FAMILIES = {
    "l2l": ModelFamily(
        name="l2l",
        config_class=L2LConfig,
        build_generator=build_generator,
        build_discriminator=build_critic,
        describe_generator=lambda config: describe_model("L2LGenerator", config, DESCRIBED, quote=True),
        trainer_path="tfgen.families.l2l.trainer:L2LTrainer",
        networks="tfgen.families.l2l.networks",
        adapt_method="condition",
        method_help={"condition": "its generator conditioned on the shots, fine-tuned for --adapt-steps if > 0"},
        adapter="tfgen.families.l2l.adapt:adapt",
        presets=L2L_PRESETS,
        check_flags=check_flags,
        trains_in_steps=False,
        sees_held_out_images="its base trains on p = --samples-per-class images of every held-out class (the paper's X_n)",
    )
}
