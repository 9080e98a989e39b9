"""The lofgan family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import FewShotConfig, check_few_shot_resolution, check_settings, ranged, setting

@dataclasses.dataclass
class LoFGANConfig(FewShotConfig):
    """LoFGAN (Gu, Li, Huang, Ji, Liu, "LoFGAN: Fusing Local Representations
    for Few-shot Image Generation", ICCV 2021): a conditional generator that
    encodes ``shots`` images of a class, fuses their local features (the local
    fusion module) and decodes a new image of the class; trained on episodes
    of the training classes against a discriminator with a real/fake and a
    class head, with the local reconstruction loss. It adapts to a new class
    without training: the adapted generator holds the shots.

    Defaults follow the official code (edward3862/LoFGAN-pytorch,
    configs/*_lofgan.yaml): k = 3 shots, fusion rate 0.5, loss weights
    adversarial 1, classification 1, reconstruction 0.5, the class head's
    gradient penalty 10, Adam at 1e-4; widths and the number of downsamplings
    are scaled down for 32 px images on a CPU.
    """

    width: int = ranged(16, minimum=1)  # channels of the finest encoder / decoder / discriminator layer
    encoder_downsamples: int = setting(
        2,
        "LoFGAN: stride-2 convolutions of the encoder (32 px / 2**2 = an 8x8 feature map; official 128 px / 2**4).",
        minimum=1,
        maximum=4,
    )
    shots: int = ranged(3, minimum=2)  # k: images per training episode, fused into one (the paper's 3)
    tasks_per_step: int = ranged(8, minimum=1)  # episodes per step (the official batch size 8)
    fusion_rate: float = setting(
        0.5,
        "LoFGAN: share of the base feature map's positions replaced by fused local features (official 0.5).",
        exclusive_minimum=0.0,
        maximum=1.0,
    )
    g_learning_rate: float = ranged(1e-4, minimum=0.0)
    d_learning_rate: float = ranged(1e-4, minimum=0.0)
    adversarial_weight: float = setting(1.0, "LoFGAN: weight of the generator's hinge loss (w_adv_g).", minimum=0.0)
    classification_weight: float = setting(
        1.0, "LoFGAN: weight of the class head's cross-entropy, for D and G (w_cls).", minimum=0.0
    )
    reconstruction_weight: float = setting(
        0.5, "LoFGAN: weight of the local reconstruction loss (w_recon).", minimum=0.0
    )
    class_penalty_weight: float = setting(
        10.0,
        "LoFGAN: weight of the penalty on the gradient of D's real-class logit at real images (w_gp).",
        minimum=0.0,
    )
    # The class head's size: the number of training classes (0: set from the data).
    num_classes: int = ranged(0, minimum=0)
    # Set by adaptation: the images the generator holds (0: ``shots``).
    held_shots: int = ranged(0, minimum=0)

    family = "lofgan"

    @property
    def batch_size(self) -> int:
        """Images per (global) step: ``tasks_per_step`` episodes of ``shots`` images."""
        return self.shots * self.tasks_per_step

    @property
    def feature_side(self) -> int:
        """Side of the encoder's feature map."""
        return self.resolution // 2**self.encoder_downsamples

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)  # encoder_downsamples <= 4 leaves a feature map of 2x2 or more at 32 px


# train.py's defaults for LoFGAN: the few-shot GANs' 32x32 grey digits, a run
# of a few CPU minutes (docs/lofgan.md) and a faster learning rate than the
# official 1e-4, which is tuned for 100k steps.
LOFGAN_PRESETS = dict(dataset="digits", resolution=32, width=16, steps=3000, g_learning_rate=2e-4, d_learning_rate=2e-4)
