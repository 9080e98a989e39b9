"""The shotmorph family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import FewShotConfig, check_few_shot_resolution, check_settings, ranged, setting
from tfgen.errors import InputError

# The fitted policy's record in the run folder: written last, so its presence
# says the fit finished (ModelFamily.finished_file; here so the light family
# registration and the trainer name it once).
POLICY_FILE = "shot_policy.json"


# Entries of the generator's latent code (tfgen.families.shotmorph.networks: Z_*).
LATENT_DIM = 11

# Upper bounds of the shot-morphing policy's settings (all >= 0).
SHOT_POLICY_LIMITS = {"morph_share": 1.0, "strength": 10.0, "reach": 2.0, "bank_scale": 2.0, "pose_spread": 2.0,
                      "ink_spread": 2.0}  # fmt: skip


def policy_field(default, name):
    """A field of the fitted policy, in [0, its SHOT_POLICY_LIMITS entry]."""
    return ranged(default, minimum=0.0, maximum=SHOT_POLICY_LIMITS[name])


def check_shot_policy(**values) -> None:
    """A ValueError unless every given policy setting is within SHOT_POLICY_LIMITS."""
    for name, value in values.items():
        top = SHOT_POLICY_LIMITS[name]
        if not 0.0 <= float(value) <= top:
            raise InputError(f"{name} must be in [0, {top}]. Received: {name}={value!r}")


@dataclasses.dataclass
class ShotMorphConfig(FewShotConfig):
    """Shot morphing (:mod:`tfgen.families.shotmorph.policy`): images of a new class made
    from its ``shots`` by morphing between them, deforming them with flows
    learnt between images of the training classes and augmenting them, with
    the policy (``morph_share``, ``strength``, ``reach``, ``bank_scale``,
    ``pose_spread``, ``ink_spread``) fitted on the training classes.
    ``num_shots``, ``bank_size`` and ``style_size`` are what the adapted
    generator holds."""

    shots: int = ranged(4, minimum=1)
    # The fitted policy (written by training; these are the untrained defaults).
    morph_share: float = policy_field(0.5, "morph_share")
    strength: float = policy_field(1.0, "strength")
    reach: float = policy_field(0.0, "reach")
    bank_scale: float = policy_field(0.0, "bank_scale")
    pose_spread: float = policy_field(0.0, "pose_spread")
    ink_spread: float = policy_field(0.0, "ink_spread")
    # Fitting: episodes per class and the classifier of the training classes it scores with.
    fit_seeds: int = setting(
        4,
        'shotmorph: few-shot episodes drawn per training class to score each candidate policy on (fewer: a faster, noisier fit).',
        minimum=1,
    )  # 2 picked a near-tie that 4 resolves (docs/few_shot_benchmark.md)
    classifier_epochs: int = setting(
        0,
        'shotmorph: epochs of the classifier of the training classes that scores the candidate policies (0: about 60000 images seen, at most 30 epochs).',
        minimum=0,
    )  # 0: about as many images seen as the benchmark's judge
    # Set by adaptation: the shots, bank flows and style deviations the adapted generator holds.
    num_shots: int = ranged(4, minimum=1)
    bank_size: int = ranged(0, minimum=0)
    style_size: int = ranged(0, minimum=0)

    family = "shotmorph"

    @property
    def latent_dim(self) -> int:
        return LATENT_DIM

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)


# train.py's defaults for shot morphing: the few-shot GANs' 32x32 grey digits.
SHOT_MORPH_PRESETS = dict(dataset="digits", resolution=32)
