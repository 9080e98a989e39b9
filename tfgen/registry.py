"""Model family name -> how to build its config, networks and trainer.

``config.json`` names a family; everything that rebuilds a run from its
folder (``load_generator``, resuming, evaluation) goes through here, so a new
family is added in one place.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

from tfgen.config import MODEL_CONFIGS


@dataclasses.dataclass(frozen=True)
class ModelFamily:
    name: str
    config_class: type
    build_generator: Callable  # config -> built keras.Model
    build_discriminator: Callable  # config -> built keras.Model
    describe_generator: Callable  # config -> str, for error messages
    trainer_path: str  # "module:Class", imported lazily (trainers import TF)
    # The file whose presence says the run finished training.
    finished_file: str = "generator.weights.h5"

    def trainer_class(self):
        module, name = self.trainer_path.split(":")
        return getattr(importlib.import_module(module), name)


def _fastgan_generator(config):
    from tfgen.models.fastgan import FastGANGenerator

    config.validate()
    return FastGANGenerator(
        output_resolution=config.resolution, latent_dim=config.latent_dim, ngf=config.ngf, name="generator"
    )


def _fastgan_discriminator(config):
    from tfgen.models.fastgan import FastGANDiscriminator

    config.validate()
    return FastGANDiscriminator(input_resolution=config.resolution, ndf=config.ndf, name="discriminator")


def _fastgan_describe(config):
    return (
        f"FastGANGenerator(output_resolution={config.resolution}, latent_dim={config.latent_dim}, "
        f"ngf={config.ngf})"
    )


def _figr_generator(config):
    from tfgen.models.resnet_gan import FIGRGenerator

    config.validate()
    return FIGRGenerator(
        resolution=config.resolution,
        channels=config.channels,
        latent_dim=config.latent_dim,
        width=config.width,
        name="generator",
    )


def _figr_critic(config):
    from tfgen.models.resnet_gan import FIGRCritic

    config.validate()
    return FIGRCritic(resolution=config.resolution, channels=config.channels, width=config.width, name="critic")


def _dcgan_generator(config):
    from tfgen.models.dcgan import DCGANGenerator

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


def _dcgan_discriminator(config):
    from tfgen.models.dcgan import DCGANDiscriminator

    config.validate()
    return DCGANDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        width=config.width,
        num_classes=getattr(config, "num_classes", 0),
        name="discriminator",
    )


def _infogan_generator(config):
    from tfgen.models.dcgan import InfoGANGenerator

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


def _infogan_discriminator(config):
    from tfgen.models.dcgan import InfoGANDiscriminator

    config.validate()
    return InfoGANDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        width=config.width,
        num_categories=config.num_categories,
        num_continuous=config.num_continuous,
        name="discriminator",
    )


def _stylegan_generator(config):
    from tfgen.models.stylegan import StyleGenerator

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


def _stylegan_discriminator(config):
    from tfgen.models.stylegan import StyleDiscriminator

    config.validate()
    return StyleDiscriminator(
        resolution=config.resolution,
        channels=config.channels,
        channel_base=config.channel_base,
        channel_max=config.channel_max,
        name="discriminator",
    )


def _stylegan_describe(config):
    fields = (
        "resolution", "channels", "latent_dim", "w_dim", "mapping_layers", "channel_base",
        "channel_max", "fitted_latents",
    )  # fmt: skip
    return "StyleGenerator(" + ", ".join(f"{f}={getattr(config, f)}" for f in fields) + ")"


def _l2l_generator(config):
    from tfgen.models.l2l import L2LGenerator

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


def _l2l_critic(config):
    from tfgen.models.l2l import L2LCritic

    config.validate()
    return L2LCritic(resolution=config.resolution, channels=config.channels, width=config.width, name="critic")


def _l2l_describe(config):
    fields = (
        "resolution", "channels", "latent_dim", "width", "noise_channels", "gem_type", "gem_layers",
        "conditioning_images",
    )  # fmt: skip
    return "L2LGenerator(" + ", ".join(f"{f}={getattr(config, f)!r}" for f in fields) + ")"


def _shot_morph_generator(config):
    from tfgen.models.shot_morph import ShotMorphGenerator
    from tfgen.shot_policy import ShotPolicy

    config.validate()
    return ShotMorphGenerator(
        resolution=config.resolution, channels=config.channels, num_shots=config.num_shots,
        bank_size=config.bank_size, style_size=config.style_size, name="generator", **ShotPolicy.of(config).to_json(),
    )  # fmt: skip


def _no_discriminator(config):
    raise ValueError("Shot morphing has no discriminator: it fits a policy, it does not train a GAN.")


def _describe_few_shot(model_name):
    def describe(config):
        fields = ("resolution", "channels", "latent_dim", "width", "num_classes", "num_categories", "num_continuous")
        settings = ", ".join(f"{f}={getattr(config, f)}" for f in fields if hasattr(config, f))
        return f"{model_name}({settings})"

    return describe


FAMILIES = {
    "fastgan": ModelFamily(
        name="fastgan",
        config_class=MODEL_CONFIGS["fastgan"],
        build_generator=_fastgan_generator,
        build_discriminator=_fastgan_discriminator,
        describe_generator=_fastgan_describe,
        trainer_path="tfgen.training.fastgan:FastGANTrainer",
    ),
    "figr": ModelFamily(
        name="figr",
        config_class=MODEL_CONFIGS["figr"],
        build_generator=_figr_generator,
        build_discriminator=_figr_critic,
        describe_generator=_describe_few_shot("FIGRGenerator"),
        trainer_path="tfgen.training.reptile:ReptileTrainer",
    ),
    "dcgan": ModelFamily(
        name="dcgan",
        config_class=MODEL_CONFIGS["dcgan"],
        build_generator=_dcgan_generator,
        build_discriminator=_dcgan_discriminator,
        describe_generator=_describe_few_shot("DCGANGenerator"),
        trainer_path="tfgen.training.transfer:DCGANTrainer",
    ),
    "cdcgan": ModelFamily(
        name="cdcgan",
        config_class=MODEL_CONFIGS["cdcgan"],
        build_generator=_dcgan_generator,
        build_discriminator=_dcgan_discriminator,
        describe_generator=_describe_few_shot("DCGANGenerator"),
        trainer_path="tfgen.training.transfer:CDCGANTrainer",
    ),
    "infogan": ModelFamily(
        name="infogan",
        config_class=MODEL_CONFIGS["infogan"],
        build_generator=_infogan_generator,
        build_discriminator=_infogan_discriminator,
        describe_generator=_describe_few_shot("InfoGANGenerator"),
        trainer_path="tfgen.training.transfer:InfoGANTrainer",
    ),
    "stylegan": ModelFamily(
        name="stylegan",
        config_class=MODEL_CONFIGS["stylegan"],
        build_generator=_stylegan_generator,
        build_discriminator=_stylegan_discriminator,
        describe_generator=_stylegan_describe,
        trainer_path="tfgen.training.stylegan:StyleGANTrainer",
    ),
    "l2l": ModelFamily(
        name="l2l",
        config_class=MODEL_CONFIGS["l2l"],
        build_generator=_l2l_generator,
        build_discriminator=_l2l_critic,
        describe_generator=_l2l_describe,
        trainer_path="tfgen.training.l2l:L2LTrainer",
    ),
    "shotmorph": ModelFamily(
        name="shotmorph",
        config_class=MODEL_CONFIGS["shotmorph"],
        build_generator=_shot_morph_generator,
        build_discriminator=_no_discriminator,
        describe_generator=_describe_few_shot("ShotMorphGenerator"),
        trainer_path="tfgen.training.shot_morph:ShotPolicyTrainer",
        finished_file="shot_policy.json",
    ),
}


def get_family(name):
    """The :class:`ModelFamily` called ``name``; a clear error for unknown names."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"Unknown model family {name!r}. Known families: {sorted(FAMILIES)}.") from None
