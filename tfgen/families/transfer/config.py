"""The transfer family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels, parse_diff_augment_policy
from tfgen.config import check_few_shot_resolution, check_positive, setting
from tfgen.errors import InputError


@dataclasses.dataclass
class DCGANConfig:
    """DCGAN (Radford et al., ICLR 2016) as a transfer-learning baseline for
    few-shot generation: pre-trained on the meta-train classes, then
    fine-tuned for ``adapt_steps`` steps on the ``shots`` images of a new
    class, each enlarged by augmentation to ``augmented_shots`` images.
    """

    resolution: int = 32
    channels: int = 1
    latent_dim: int = 100  # z (InfoGAN: the incompressible noise, codes come on top)
    width: int = 64  # channels of the finest layer
    batch_size: int = 64
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    train_classes: str = ""
    test_classes: str = ""
    shots: int = 4
    augmented_shots: int = setting(300, 'DCGANs: shots are augmented to this many images.')
    adapt_steps: int = 300
    # Decay of the generator's EMA, which samples and adaptation start from (None: no EMA).
    ema_decay: float | None = None
    # DiffAugment policy (Zhao et al. 2020) on D's real and fake inputs ("": none).
    diff_augment: str = ""
    # DCGAN / cDCGAN: z is scaled by this when sampling (the truncation trick; 1: none).
    truncation_psi: float = 1.0
    # ... and the generator adapted to a new class samples with this one: 0.8 was
    # best on the bases' own training classes (docs/few_shot_benchmark.md).
    adapt_truncation_psi: float = 0.8

    family = "dcgan"

    def validate(self) -> None:
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        parse_diff_augment_policy(self.diff_augment)
        check_positive(self, "latent_dim", "width", "batch_size", "shots", "augmented_shots", "adapt_steps")
        for name in ("truncation_psi", "adapt_truncation_psi"):
            if not 0.0 < getattr(self, name) <= 2.0:
                raise InputError(f"{name} must be in (0, 2] (1: none). Received: {getattr(self, name)}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise InputError(f"ema_decay must be in [0, 1) or None (no EMA). Received: ema_decay={self.ema_decay}")


@dataclasses.dataclass
class CDCGANConfig(DCGANConfig):
    """Conditional DCGAN (Mirza & Osindero, 2014): a one-hot class label into
    G and D. ``num_classes`` counts the meta-train classes plus one free slot
    that fine-tuning gives to the new class (0: set from the data)."""

    num_classes: int = 0
    # The class G draws when called with z alone (set to the new class's slot
    # after fine-tuning; None: image i of a batch gets class i mod num_classes).
    sample_class: int | None = None

    family = "cdcgan"

    def validate(self) -> None:
        super().validate()
        if self.num_classes < 0:
            raise InputError(f"num_classes must be >= 0. Received: num_classes={self.num_classes}")
        if self.sample_class is not None and not 0 <= self.sample_class < self.num_classes:
            raise InputError(
                f"sample_class must index one of the {self.num_classes} classes. "
                f"Received: sample_class={self.sample_class}"
            )


@dataclasses.dataclass
class InfoGANConfig(DCGANConfig):
    """InfoGAN (Chen et al., NeurIPS 2016): G's input is the noise plus a
    categorical code and continuous codes, and a Q head on D recovers them
    (mutual-information term of weight ``info_weight``)."""

    num_categories: int = setting(10, 'InfoGAN: size of the categorical code.')
    num_continuous: int = setting(2, 'InfoGAN: number of continuous codes.')
    info_weight: float = setting(1.0, 'InfoGAN: weight of the mutual-information term.')

    family = "infogan"

    def validate(self) -> None:
        super().validate()
        if self.num_categories < 0 or self.num_continuous < 0 or self.num_categories + self.num_continuous < 1:
            raise InputError(
                "InfoGAN needs at least one code: num_categories >= 0, num_continuous >= 0, "
                f"not both 0. Received: num_categories={self.num_categories}, "
                f"num_continuous={self.num_continuous}"
            )


# The transfer baselines' bases train longer: at 2000 steps (about 1.5 min on
# 2 CPU cores) their samples of the training classes were 7-10x the real
# Fréchet distance in the few-shot benchmark's judge, at 6000 steps 1.2-3x
# (docs/few_shot_benchmark.md); 10000 steps take about 6 min.
TRANSFER_PRESETS = dict(dataset="digits", resolution=32, width=32, batch_size=64, steps=10000)
