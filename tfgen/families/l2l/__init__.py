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


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    from tfgen.families.l2l.trainer import condition_on_shots

    return condition_on_shots(run, shots, steps=steps or 0, seed=seed, quiet=quiet)


def config_from_flags(flags):
    """The L2L-GAN config from train.py's flags, with L2L_PRESETS for the unset ones."""
    from tfgen.cli import flag_or

    if flags.steps is not None or flags.epochs:
        raise InputError(
            "L2L-GAN trains in stages: set --source-steps, --few-steps, --gem-steps and "
            f"--finetune-steps instead of --steps / --epochs. Received: --steps={flags.steps}, --epochs={flags.epochs}"
        )
    presets = L2L_PRESETS
    return L2LConfig(
        resolution=flag_or("resolution", presets["resolution"]),
        channels=flags.channels,
        latent_dim=flag_or("latent-dim", L2LConfig.latent_dim),
        width=flag_or("width", presets["width"]),
        noise_channels=flags["noise-channels"].value,
        batch_size=flag_or("batch-size", presets["batch_size"]),
        g_learning_rate=flag_or("G-learning-rate", L2LConfig.g_learning_rate),
        d_learning_rate=flag_or("D-learning-rate", L2LConfig.d_learning_rate),
        critic_steps=flag_or("critic-steps", presets["critic_steps"]),
        gp_weight=flags["gp-weight"].value,
        samples_per_class=flags["samples-per-class"].value,
        source_steps=flag_or("source-steps", presets["source_steps"]),
        few_steps=flag_or("few-steps", presets["few_steps"]),
        gem_epochs=flag_or("gem-epochs", presets["gem_epochs"]),
        gem_steps=flag_or("gem-steps", presets["gem_steps"]),
        gem_type=int(flags["gem-type"].value),
        gem_layers=flags["gem-layers"].value,
        strategy_gem=flags["strategy-gem"].value,
        gem_loss=flags["gem-loss"].value,
        gem_learning_rate=flags["gem-learning-rate"].value,
        finetune_steps=flag_or("finetune-steps", presets["finetune_steps"]),
        few_shot_init=flags["few-shot-init"].value,
        train_classes=flags["train-classes"].value,
        test_classes=flags["test-classes"].value,
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
        adapter=adapt,
        presets=L2L_PRESETS,
        config_from_flags=config_from_flags,
        trains_in_steps=False,
    )
}
