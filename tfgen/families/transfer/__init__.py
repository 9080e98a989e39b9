"""The transfer-learning baselines: DCGAN, conditional DCGAN (a free class
slot for the new class) and InfoGAN, pre-trained on the training classes and
adapted to the shots of a new one by one of three methods: ``finetune`` (the
augmented shots, G and D fine-tuned), ``bsa`` (batch statistics adaptation:
G frozen, new scales and shifts after its norms and per-shot latents fitted)
or ``cdc`` (fine-tuning plus the cross-domain distance consistency loss);
see ``tfgen/families/transfer/adapt.py`` and docs/adaptation_methods.md."""

from __future__ import annotations

import dataclasses

from tfgen.errors import InputError
from tfgen.families.transfer.config import (
    TRANSFER_PRESETS,
    BSAConfig,  # noqa: F401  (re-exported: the bsa option's type)
    CDCConfig,
    CDCGANConfig,
    DCGANConfig,
    InfoGANConfig,
)
from tfgen.registry import ModelFamily, describe_model

# Keyword options of the fine-tuning (finetune_on_shots) that adapt() passes on.
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


def _method_config(name, value, config_class):
    """``value`` as a ``config_class``: None (its defaults), one already, or a
    dict of its fields (what a JSON-written benchmark method can hold)."""
    if value is None:
        return config_class()
    if isinstance(value, dict):
        unknown = sorted(set(value) - {f.name for f in dataclasses.fields(config_class)})
        if unknown:
            raise InputError(f"{name} takes the fields of {config_class.__name__}. Received: {unknown}")
        return config_class(**value)
    if not isinstance(value, config_class):
        raise InputError(f"{name} takes a {config_class.__name__} or a dict of its fields. "
                         f"Received: {type(value).__name__}")  # fmt: skip
    return value


def adapt(run, shots, *, steps=None, seed=0, quiet=True, method="finetune", **options):
    """Adapt a transfer run to ``shots`` with ``method`` (``ADAPT_METHODS``);
    ``options`` are that method's (``METHOD_OPTIONS``): fine-tuning's keyword
    options, ``bsa=BSAConfig(...)``, ``cdc=CDCConfig(...)`` (or a dict of
    their fields, e.g. ``bsa={"temperature": 0.5}``)."""
    if method not in METHOD_OPTIONS:
        raise InputError(f"A {run.family} run adapts with one of {ADAPT_METHODS}. Received: method={method!r}")
    unknown = sorted(set(options) - set(METHOD_OPTIONS[method]))
    if unknown:
        raise InputError(
            f"Adapt method {method!r} takes the options {list(METHOD_OPTIONS[method])}. Received: {unknown}"
        )
    if method == "bsa":
        from tfgen.families.transfer.adapt import adapt_bsa

        config = _method_config("bsa", options.get("bsa"), BSAConfig)
        return adapt_bsa(run, shots, steps=steps, seed=seed, quiet=quiet, config=config)
    from tfgen.families.transfer.trainer import finetune_on_shots

    if method == "cdc":
        options["consistency"] = _method_config("cdc", options.pop("cdc", None), CDCConfig)
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
        adapt_method=ADAPT_METHODS[0],
        adapt_methods=ADAPT_METHODS,
        adapter=adapt,
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
