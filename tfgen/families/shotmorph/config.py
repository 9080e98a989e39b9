"""The shotmorph family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import check_few_shot_resolution, check_positive, setting
from tfgen.errors import InputError


# Entries of the generator's latent code (tfgen.families.shotmorph.networks: Z_*).
LATENT_DIM = 11

# Upper bounds of the shot-morphing policy's settings (all >= 0).
SHOT_POLICY_LIMITS = {"morph_share": 1.0, "strength": 10.0, "reach": 2.0, "bank_scale": 2.0, "pose_spread": 2.0,
                      "ink_spread": 2.0}  # fmt: skip


def check_shot_policy(**values) -> None:
    """A ValueError unless every given policy setting is within SHOT_POLICY_LIMITS."""
    for name, value in values.items():
        top = SHOT_POLICY_LIMITS[name]
        if not 0.0 <= float(value) <= top:
            raise InputError(f"{name} must be in [0, {top}]. Received: {name}={value!r}")


@dataclasses.dataclass
class ShotMorphConfig:
    """Shot morphing (:mod:`tfgen.families.shotmorph.policy`): images of a new class made
    from its ``shots`` by morphing between them, deforming them with flows
    learnt between images of the training classes and augmenting them, with
    the policy (``morph_share``, ``strength``, ``reach``, ``bank_scale``,
    ``pose_spread``, ``ink_spread``) fitted on the training classes.
    ``num_shots``, ``bank_size`` and ``style_size`` are what the adapted
    generator holds."""

    resolution: int = 32
    channels: int = 1
    train_classes: str = ""
    test_classes: str = ""
    shots: int = 4
    # The fitted policy (written by training; these are the untrained defaults).
    morph_share: float = 0.5
    strength: float = 1.0
    reach: float = 0.0
    bank_scale: float = 0.0
    pose_spread: float = 0.0
    ink_spread: float = 0.0
    # Fitting: episodes per class and the classifier of the training classes it scores with.
    fit_seeds: int = setting(
        4,
        'shotmorph: few-shot episodes drawn per training class to score each candidate policy on (fewer: a faster, noisier fit).',
    )  # 2 picked a near-tie that 4 resolves (docs/few_shot_benchmark.md)
    classifier_epochs: int = setting(
        0,
        'shotmorph: epochs of the classifier of the training classes that scores the candidate policies (0: about 60000 images seen, at most 30 epochs).',
    )  # 0: about as many images seen as the benchmark's judge
    # Set by adaptation: the shots, bank flows and style deviations the adapted generator holds.
    num_shots: int = 4
    bank_size: int = 0
    style_size: int = 0

    family = "shotmorph"

    @property
    def latent_dim(self) -> int:
        return LATENT_DIM

    def validate(self) -> None:
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_positive(self, "shots", "fit_seeds", "num_shots")
        if self.classifier_epochs < 0:
            raise InputError(f"classifier_epochs must be >= 0 (0: automatic). Received: {self.classifier_epochs}")
        for name in ("bank_size", "style_size"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0. Received: {getattr(self, name)}")
        check_shot_policy(**{name: getattr(self, name) for name in SHOT_POLICY_LIMITS})



# train.py's defaults for shot morphing: the few-shot GANs' 32x32 grey digits.
SHOT_MORPH_PRESETS = dict(dataset="digits", resolution=32)
