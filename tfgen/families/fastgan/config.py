"""The fastgan family's settings."""

from __future__ import annotations

import dataclasses
from tfgen.checks import parse_diff_augment_policy
from tfgen.config import check_settings, ranged, setting
from tfgen.errors import InputError

SUPPORTED_FASTGAN_RESOLUTIONS = (64, 128, 256, 512, 1024)


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
    # Adam's bias correction 1 - beta**t is 0 for a beta of 1.
    adam_beta1: float = ranged(0.5, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float = ranged(0.999, minimum=0.0, exclusive_maximum=1.0)
    # A decay of 1 would keep the EMA generator at its initial weights.
    ema_decay: float = setting(
        0.999,
        "Decay of the generator's EMA (official: 0.999; the DCGANs: none unless given).",
        minimum=0.0,
        exclusive_maximum=1.0,
    )
    diff_augment: str = setting(
        "color,translation",
        "DiffAugment policy instead of --diff-augment's default: color, translation, cutout, comma-joined; '' for none.",
    )
    # "l1" (default, offline) or "lpips_vgg" (needs user-supplied VGG16 weights).
    reconstruction_loss: str = setting(
        "l1",
        "FastGAN: loss of the discriminator's self-supervised decoders.",
        choices=('l1', 'lpips_vgg'),
    )
    vgg_weights: str | None = setting(None, 'FastGAN: VGG16 weights for --reconstruction-loss lpips_vgg.')

    family = "fastgan"

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_fastgan_resolution(self.resolution)
        check_settings(self)
        parse_diff_augment_policy(self.diff_augment)
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
