"""The transfer family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels, parse_diff_augment_policy
from tfgen.config import FewShotConfig, check_few_shot_resolution, check_settings, ranged, setting
from tfgen.errors import InputError


@dataclasses.dataclass
class DCGANConfig(FewShotConfig):
    """DCGAN (Radford et al., ICLR 2016) as a transfer-learning baseline for
    few-shot generation: pre-trained on the meta-train classes, then
    fine-tuned for ``adapt_steps`` steps on the ``shots`` images of a new
    class, each enlarged by augmentation to ``augmented_shots`` images.
    """

    latent_dim: int = ranged(100, minimum=1)  # z (InfoGAN: the incompressible noise, codes come on top)
    width: int = ranged(64, minimum=1)  # channels of the finest layer
    batch_size: int = ranged(64, minimum=1)
    # A learning rate of 0 holds that network still (a critic trained against a fixed G).
    g_learning_rate: float = ranged(2e-4, minimum=0.0)
    d_learning_rate: float = ranged(2e-4, minimum=0.0)
    # Adam's bias correction 1 - beta**t is 0 for a beta of 1.
    adam_beta1: float = ranged(0.5, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float = ranged(0.999, minimum=0.0, exclusive_maximum=1.0)
    shots: int = ranged(4, minimum=1)
    augmented_shots: int = setting(300, 'DCGANs: shots are augmented to this many images.', minimum=1)
    adapt_steps: int = ranged(300, minimum=1)
    # Decay of the generator's EMA, which samples and adaptation start from (None: no EMA).
    ema_decay: float | None = ranged(None, minimum=0.0, exclusive_maximum=1.0)
    # DiffAugment policy (Zhao et al. 2020) on D's real and fake inputs ("": none).
    diff_augment: str = ""
    # DCGAN / cDCGAN: z is scaled by this when sampling (the truncation trick; 1: none).
    truncation_psi: float = ranged(1.0, exclusive_minimum=0.0, maximum=2.0)
    # ... and the generator adapted to a new class samples with this one: 0.8 was
    # best on the bases' own training classes (docs/few_shot_benchmark.md).
    adapt_truncation_psi: float = ranged(0.8, exclusive_minimum=0.0, maximum=2.0)
    # Set by batch-statistics adaptation (adapt method "bsa"): the number of
    # per-shot latents the adapted generator holds; it then draws z from the
    # Gaussian fitted to them (0: z ~ N(0, I), every generator trained here).
    fitted_latents: int = ranged(0, minimum=0)

    family = "dcgan"

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)
        parse_diff_augment_policy(self.diff_augment)


@dataclasses.dataclass
class CDCGANConfig(DCGANConfig):
    """Conditional DCGAN (Mirza & Osindero, 2014): a one-hot class label into
    G and D. ``num_classes`` counts the meta-train classes plus one free slot
    that fine-tuning gives to the new class (0: set from the data)."""

    num_classes: int = ranged(0, minimum=0)
    # The class G draws when called with z alone (set to the new class's slot
    # after fine-tuning; None: image i of a batch gets class i mod num_classes).
    sample_class: int | None = ranged(None, minimum=0)

    family = "cdcgan"

    def validate(self) -> None:
        super().validate()
        if self.sample_class is not None and self.sample_class >= self.num_classes:
            raise InputError(
                f"sample_class must index one of the {self.num_classes} classes. "
                f"Received: sample_class={self.sample_class}"
            )


@dataclasses.dataclass
class InfoGANConfig(DCGANConfig):
    """InfoGAN (Chen et al., NeurIPS 2016): G's input is the noise plus a
    categorical code and continuous codes, and a Q head on D recovers them
    (mutual-information term of weight ``info_weight``)."""

    num_categories: int = setting(10, 'InfoGAN: size of the categorical code.', minimum=0)
    num_continuous: int = setting(2, 'InfoGAN: number of continuous codes.', minimum=0)
    info_weight: float = setting(1.0, 'InfoGAN: weight of the mutual-information term.', minimum=0.0)

    family = "infogan"

    def validate(self) -> None:
        super().validate()
        if self.num_categories + self.num_continuous < 1:
            raise InputError(
                "InfoGAN needs at least one code: num_categories >= 0, num_continuous >= 0, "
                f"not both 0. Received: num_categories={self.num_categories}, "
                f"num_continuous={self.num_continuous}"
            )


# The families this package defines.
TRANSFER_FAMILIES = ("dcgan", "cdcgan", "infogan")

PERCEPTUAL_FEATURES = ("efficientnet_lite0", "none")


@dataclasses.dataclass
class BSAConfig:
    """Batch statistics adaptation (Noguchi & Harada, "Image Generation From
    Small Datasets via Batch Statistics Adaptation", ICCV 2019) of a DCGAN,
    cDCGAN or InfoGAN generator to k shots (``tfgen.families.transfer.adapt``).

    Every pre-trained weight of G stays as it is (its batch norms in inference
    mode); new per-channel scales a_l and shifts b_l after each norm
    (``a_l * BN_l(h) + b_l``, from 1 and 0) and one latent z_i per shot (from
    0) minimise

        |G(z_i + e) - x_i|_1 + perceptual_weight * perceptual(G(z_i + e), x_i)
        + latent_weight * chamfer({z_i}, {t_j ~ N(0, I)})
        + statistics_weight * sum_l (mean (a_l - 1)^2 + mean b_l^2),

    e ~ N(0, latent_noise^2), with Adam; both learning rates drop 5x at 30%,
    60% and 90% of the steps (the official code's schedule: every 3000 of
    10000 iterations). The adapted generator draws z from the Gaussian
    (diagonal covariance) fitted to the z_i, its spread times ``temperature``.
    """

    steps: int = ranged(500, minimum=1)
    learning_rate: float = ranged(0.03, exclusive_minimum=0.0)  # the scales and shifts (official SNGAN: 0.03)
    latent_learning_rate: float = ranged(0.03, exclusive_minimum=0.0)
    perceptual_weight: float = ranged(1.0, minimum=0.0)
    # Offline LPIPS-style features (tfgen.perceptual.FeatureDistance), or "none" (L1 alone).
    perceptual_features: str = "efficientnet_lite0"
    # The latent-space regulariser ("EMD" in the official code: the symmetric
    # nearest-neighbour distance between the z_i and latent_draws * k draws of N(0, I)).
    latent_weight: float = ranged(0.1, minimum=0.0)
    latent_draws: int = ranged(10, minimum=1)
    # Pulls the scales to 1 and the shifts to 0 (the official SNGAN variant's l_re).
    statistics_weight: float = ranged(0.02, minimum=0.0)
    latent_noise: float = ranged(0.01, minimum=0.0)  # sd of the noise on z_i at each step
    # Spread of the adapted generator's latents around their mean, times the fitted sd.
    temperature: float = ranged(1.0, exclusive_minimum=0.0, maximum=2.0)

    def validate(self) -> None:
        check_settings(self)
        if self.perceptual_features not in PERCEPTUAL_FEATURES:
            raise InputError(
                f"perceptual_features must be one of {PERCEPTUAL_FEATURES}. "
                f"Received: perceptual_features={self.perceptual_features!r}"
            )


@dataclasses.dataclass
class CDCConfig:
    """Cross-domain distance consistency (Ojha et al., "Few-shot Image
    Generation via Cross-domain Correspondence", CVPR 2021) added to the
    fine-tuning's generator loss (``tfgen.families.transfer.adapt``): for
    ``batch_size`` fresh latents, the softmax over each one's cosine
    similarities to the others, in every hidden layer of G, should stay what
    it is in a frozen copy of the base: ``weight`` times the KL divergence
    of the copy's from the adapted G's, averaged as the official code does.
    """

    weight: float = ranged(1000.0, minimum=0.0)  # the official kl_wt
    batch_size: int = ranged(4, minimum=2)  # the official feat_const_batch

    def validate(self) -> None:
        check_settings(self)


# The transfer baselines' bases train longer: at 2000 steps (about 1.5 min on
# 2 CPU cores) their samples of the training classes were 7-10x the real
# Fréchet distance in the few-shot benchmark's judge, at 6000 steps 1.2-3x
# (docs/few_shot_benchmark.md); 10000 steps take about 6 min.
TRANSFER_PRESETS = dict(dataset="digits", resolution=32, width=32, batch_size=64, steps=10000)
