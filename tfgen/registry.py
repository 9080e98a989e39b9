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


FAMILIES = {
    "fastgan": ModelFamily(
        name="fastgan",
        config_class=MODEL_CONFIGS["fastgan"],
        build_generator=_fastgan_generator,
        build_discriminator=_fastgan_discriminator,
        describe_generator=_fastgan_describe,
        trainer_path="tfgen.training.fastgan:FastGANTrainer",
    ),
}


def get_family(name):
    """The :class:`ModelFamily` called ``name``; a clear error for unknown names."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"Unknown model family {name!r}. Known families: {sorted(FAMILIES)}.") from None
