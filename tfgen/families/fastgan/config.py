"""The fastgan family's settings."""

from __future__ import annotations

import dataclasses
from tfgen.checks import parse_diff_augment_policy
from tfgen.config import check_settings, ranged, setting
from tfgen.errors import InputError

SUPPORTED_FASTGAN_RESOLUTIONS = (64, 128, 256, 512, 1024)
DISCRIMINATORS = ("fastgan", "projected")
# What each discriminator trains with where the config leaves it to it (None):
# FastGAN's official code, and Projected GAN's (autonomousvision/projected-gan,
# train.py and pg_modules/discriminator.py).
DISCRIMINATOR_DEFAULTS = {
    "fastgan": dict(diff_augment="color,translation", adam_beta1=0.5, adam_beta2=0.999),
    "projected": dict(diff_augment="color,translation,cutout", adam_beta1=0.0, adam_beta2=0.99),
}


def check_fastgan_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones FastGAN supports."""
    if resolution not in SUPPORTED_FASTGAN_RESOLUTIONS:
        raise InputError(
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

    ``discriminator="projected"`` swaps FastGAN's discriminator for Projected
    GAN's (Sauer et al., NeurIPS 2021; :mod:`tfgen.projected`): frozen
    EfficientNet-Lite0 features, fixed random mixing, one small discriminator
    per scale (widths scaled by ``ndf / 64``), hinge loss; Adam betas (0, 0.99)
    and DiffAugment color+translation+cutout unless given (fields given as None
    take the discriminator's defaults, :data:`DISCRIMINATOR_DEFAULTS`, when
    the config is made).
    """

    resolution: int = setting(
        256,
        'Image size. FastGAN: 64, 128, 256, 512 or 1024 (the paper: 256 and 1024); the few-shot models: 32 or 64; StyleGAN: 32 to 1024.',
        minimum=SUPPORTED_FASTGAN_RESOLUTIONS[0],
        maximum=SUPPORTED_FASTGAN_RESOLUTIONS[-1],
    )
    latent_dim: int = setting(256, 'Size of the latent vector z.', minimum=1)  # nz
    ngf: int = setting(64, 'FastGAN: generator width multiplier (official: 64).', minimum=1)  # generator width multiplier
    ndf: int = setting(64, 'FastGAN: discriminator width multiplier (official: 64).', minimum=1)  # discriminator width multiplier
    batch_size: int = setting(
        8, 'Images per step, over all devices (FIGR: --shots x --tasks-per-step).', minimum=1
    )
    # A learning rate of 0 holds that network still (a critic trained against a fixed G).
    g_learning_rate: float = setting(2e-4, 'Generator Adam learning rate.', minimum=0.0)
    d_learning_rate: float = setting(2e-4, 'Discriminator Adam learning rate.', minimum=0.0)
    # Adam's bias correction 1 - beta**t is 0 for a beta of 1. None: the
    # discriminator's (fastgan 0.5, 0.999; projected 0, 0.99).
    adam_beta1: float | None = ranged(None, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float | None = ranged(None, minimum=0.0, exclusive_maximum=1.0)
    # A decay of 1 would keep the EMA generator at its initial weights.
    ema_decay: float = setting(
        0.999,
        "Decay of the generator's EMA (official: 0.999; the DCGANs: none unless given).",
        minimum=0.0,
        exclusive_maximum=1.0,
    )
    diff_augment: str | None = setting(
        None,
        "DiffAugment policy instead of --diff-augment's default: color, translation, cutout, comma-joined; '' for none "
        "(FastGAN: None is the discriminator's own, color,translation for fastgan, color,translation,cutout for projected).",
    )
    # "l1" (default, offline) or "lpips_vgg" (needs user-supplied VGG16 weights).
    reconstruction_loss: str = setting(
        "l1",
        "FastGAN: loss of the discriminator's self-supervised decoders.",
        choices=('l1', 'lpips_vgg'),
    )
    vgg_weights: str | None = setting(None, 'FastGAN: VGG16 weights for --reconstruction-loss lpips_vgg.')
    discriminator: str = setting(
        "fastgan",
        "FastGAN: its discriminator: fastgan (the paper's, with self-supervised decoders) or projected (Projected "
        "GAN's: small discriminators on frozen ImageNet EfficientNet-Lite0 features; docs/projected_gan.md).",
        choices=DISCRIMINATORS,
    )
    projected_resolution: int = setting(
        224,
        "FastGAN --discriminator projected: images smaller than this are resized up to it for the frozen "
        "EfficientNet-Lite0 (official: 224; a multiple of 32, at least 128; lower is faster on a CPU).",
        minimum=128,
    )

    family = "fastgan"

    def __post_init__(self):
        # None: the discriminator's own value, filled in when the config is
        # made (config.json keeps what was used). dataclasses.replace() keeps
        # the filled-in values: pass them as None to take another discriminator's.
        for name, value in DISCRIMINATOR_DEFAULTS.get(self.discriminator, {}).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_fastgan_resolution(self.resolution)
        check_settings(self)
        if self.discriminator not in DISCRIMINATORS:
            raise InputError(
                f"discriminator must be one of {', '.join(DISCRIMINATORS)}. "
                f"Received: discriminator={self.discriminator!r}"
            )
        parse_diff_augment_policy(self.diff_augment)
        if self.projected_resolution % 32:
            raise InputError(
                "projected_resolution must be a multiple of 32 (the feature network's deepest stride). "
                f"Received: projected_resolution={self.projected_resolution}"
            )
        if self.discriminator == "fastgan" and self.projected_resolution != 224:
            raise InputError(
                "projected_resolution only applies to discriminator='projected' (--discriminator projected). "
                f"Received: projected_resolution={self.projected_resolution}, discriminator='fastgan'"
            )
        if self.discriminator == "projected" and self.reconstruction_loss != "l1":
            raise InputError(
                "The projected discriminator has no reconstruction decoders, so reconstruction_loss does not "
                f"apply to it. Received: reconstruction_loss={self.reconstruction_loss!r}, discriminator='projected'"
            )
        if self.reconstruction_loss not in ("l1", "lpips_vgg"):
            raise InputError(
                "reconstruction_loss must be 'l1' or 'lpips_vgg'. "
                f"Received: reconstruction_loss={self.reconstruction_loss!r}"
            )
        if self.reconstruction_loss == "lpips_vgg" and not self.vgg_weights:
            raise InputError(
                "reconstruction_loss='lpips_vgg' needs ImageNet VGG16 weights, which "
                "cannot be downloaded offline: pass their path as vgg_weights "
                "(--vgg-weights), or use reconstruction_loss='l1'."
            )


# The embedded default: what `python train.py` trains with no flags. Small
# widths and a short run: 800 steps of 8 images at 64 px take about 4 minutes
# on 2 CPU cores (~0.3 s per step) and give clearly recognisable 3s. Every
# value is a flag default below, so any of them can be overridden.
DEMO = dict(
    dataset="digits:3",
    resolution=64,
    ngf=16,
    ndf=16,
    batch_size=8,
    steps=800,
    # 0.999 (official) averages over ~1000 steps, as long as the whole demo.
    ema_decay=0.99,
    # Mirrored digits are not digits (the official code flips every image).
    flip=False,
    sample_every=200,
    checkpoint_every=200,
)
