"""The style-based generator (Karras et al., 2019: mapping, AdaIN synthesis,
noise, mixing, truncation), adapted to a new class through its AdaIN maps
and fitted latents."""

from __future__ import annotations

from tfgen.families.stylegan.config import STYLEGAN_PRESETS, AdaINAdaptConfig, StyleGANConfig
from tfgen.registry import ModelFamily, describe_model

DESCRIBED = ("resolution", "channels", "latent_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
             "fitted_latents")  # fmt: skip


def build_generator(config):
    from tfgen.families.stylegan.networks import StyleGenerator

    config.validate()
    return StyleGenerator(
        resolution=config.resolution,
        channels=config.channels,
        latent_dim=config.latent_dim,
        w_dim=config.w_dim,
        mapping_layers=config.mapping_layers,
        mapping_lr_multiplier=config.mapping_lr_multiplier,
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        style_mixing=config.style_mixing,
        w_avg_beta=config.w_avg_beta,
        truncation_psi=config.truncation_psi,
        truncation_cutoff=config.truncation_cutoff,
        fitted_latents=config.fitted_latents,
        fitted_space=config.fitted_space,
        sampling=config.sampling,
        name="generator",
    )


def build_discriminator(config):
    from tfgen.families.stylegan.networks import StyleDiscriminator

    config.validate()
    return StyleDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        name="discriminator",
    )


FAMILIES = {
    "stylegan": ModelFamily(
        name="stylegan",
        config_class=StyleGANConfig,
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        describe_generator=lambda config: describe_model("StyleGenerator", config, DESCRIBED),
        trainer_path="tfgen.families.stylegan.trainer:StyleGANTrainer",
        networks="tfgen.families.stylegan.networks",
        adapt_method="adain",
        adapter="tfgen.families.stylegan.adapt:adapt",
        adapter_options=("adain",),
        adapter_settings={"adain": AdaINAdaptConfig},
        method_help={"adain": "per-shot latents and the AdaIN maps fitted to the shots (the AdaIN settings below)"},
        presets=STYLEGAN_PRESETS,
    )
}
