"""Shot morphing, the recommended few-shot path: images of a new class made
from its shots by morphing between them and varying them as the training
classes vary, under a policy fitted on the training classes."""

from __future__ import annotations

from tfgen.families.shotmorph.config import POLICY_FILE, SHOT_MORPH_PRESETS, ShotMorphConfig
from tfgen.registry import ModelFamily, describe_model
from tfgen.errors import InputError


def build_generator(config):
    from tfgen.families.shotmorph.networks import ShotMorphGenerator
    from tfgen.families.shotmorph.policy import ShotPolicy

    config.validate()
    return ShotMorphGenerator(
        resolution=config.resolution, channels=config.channels, num_shots=config.num_shots,
        bank_size=config.bank_size, style_size=config.style_size, name="generator", **ShotPolicy.of(config).to_json(),
    )  # fmt: skip


def no_discriminator(config):
    raise InputError("Shot morphing has no discriminator: it fits a policy, it does not train a GAN.")


FAMILIES = {
    "shotmorph": ModelFamily(
        name="shotmorph",
        config_class=ShotMorphConfig,
        build_generator=build_generator,
        build_discriminator=no_discriminator,
        describe_generator=lambda config: describe_model("ShotMorphGenerator", config),
        trainer_path="tfgen.families.shotmorph.trainer:ShotPolicyTrainer",
        networks="tfgen.families.shotmorph.networks",
        finished_file=POLICY_FILE,
        adapt_method="morph",
        method_help={"morph": "the shots registered, morphed and varied by the fitted policy"},
        adapter="tfgen.families.shotmorph.adapt:adapt",
        presets=SHOT_MORPH_PRESETS,
        trains_in_steps=False,
    )
}
