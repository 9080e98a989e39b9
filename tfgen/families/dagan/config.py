"""The dagan family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import FewShotConfig, check_few_shot_resolution, check_settings, ranged, setting
from tfgen.errors import InputError

# A trained run's own generator holds this many training images (one per
# class in turn), the conditions of its sample grids: load_generator(RUN)
# then shows what the run does. Adaptation sets ``held_shots`` instead.
TRAINING_HELD = 8


@dataclasses.dataclass
class DAGANConfig(FewShotConfig):
    """DAGAN (Antoniou, Storkey, Edwards, "Data Augmentation Generative
    Adversarial Networks", 2017): a UNet-like generator G(x, z) that turns an
    image x of a class and noise z into another image of that class, and a
    critic that scores pairs: (x, x') of one class is real, (x, G(x, z)) is
    fake, so G must make a *different* member of x's class. WGAN-GP, as in
    the paper. Trained on pairs of the training classes only; it adapts to a
    new class by holding its shots (G(shot_i, z), no training).

    Defaults follow the official code (AntreasAntoniou/DAGAN: z = 100, 8
    noise channels at the bottleneck halved at each decoder level, 5 critic
    updates per generator update, gradient penalty 10, Adam 1e-4 with betas
    0, 0.9, batch 32, pairs rotated alike by multiples of 90 degrees); widths
    are scaled for 32 px images on a CPU.
    """

    # Channels of the generator's and critic's finest layer, doubled at each halving (up to 4 x width).
    width: int = ranged(32, minimum=1)
    latent_dim: int = ranged(100, minimum=1)  # z's size (official 100)
    # Channels of z's projection at the bottleneck; halved at each of the next decoder levels (official 8, 4, 2).
    noise_channels: int = ranged(8, minimum=1)
    pairs_per_step: int = setting(
        32,
        "DAGAN: pairs (x, x') of one training class per critic update (official batch 32).",
        minimum=1,
    )
    critic_steps: int = ranged(5, minimum=1)  # critic updates per generator update, each on fresh pairs
    gp_weight: float = ranged(10.0, minimum=0.0)  # WGAN-GP's lambda
    g_learning_rate: float = ranged(1e-4, minimum=0.0)
    d_learning_rate: float = ranged(1e-4, minimum=0.0)
    # WGAN-GP's Adam betas (official 0, 0.9); Adam's bias correction 1 - beta**t is 0 for a beta of 1.
    adam_beta1: float = ranged(0.0, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float = ranged(0.9, minimum=0.0, exclusive_maximum=1.0)
    mode_seeking_weight: float = setting(
        0.0,
        "DAGAN: weight of the mode-seeking term (Mao et al. 2019): 1 / (|G(x,z1)-G(x,z2)| / |z1-z2|) "
        "added to G's loss, so that G does not ignore z (0: off, the paper).",
        minimum=0.0,
    )
    output_mode: str = setting(
        "image",
        "DAGAN: what G(x, z) outputs. image: a new image (the paper); warp: a smooth displacement field "
        "that resamples x itself, so every image is a learned deformation of its shot and keeps its class.",
        choices=("image", "warp"),
    )
    max_shift: float = setting(
        0.25,
        "DAGAN, --output-mode warp: the largest displacement, as a fraction of the image side.",
        exclusive_minimum=0.0,
        maximum=1.0,
    )
    flow_grid: int = setting(
        8,
        "DAGAN, --output-mode warp: side of the coarse grid the displacement is averaged on before bilinear "
        "upsampling (smaller: smoother, more global deformations); it must divide the resolution.",
        minimum=1,
    )
    rotate_pairs: bool = setting(
        True,
        "DAGAN: turn both images of a random half of the pairs by the same multiple of 90 degrees "
        "(the official code's training augmentation: more, rotated, classes; --norotate-pairs: off).",
    )
    # The shots generate.py --adapt-from draws from a class or folder without --num-shots (training uses none).
    shots: int = ranged(4, minimum=1)
    # Set by adaptation: the images the generator holds (0: TRAINING_HELD training images).
    held_shots: int = ranged(0, minimum=0)

    family = "dagan"

    @property
    def batch_size(self) -> int:
        """Images per (global) step: ``critic_steps`` batches of ``pairs_per_step`` pairs."""
        return 2 * self.pairs_per_step * self.critic_steps

    @property
    def levels(self) -> int:
        """Stride-2 halvings from the image down to the 4x4 bottleneck."""
        return {32: 3, 64: 4}[self.resolution]

    @property
    def generator_held(self) -> int:
        """The images the generator holds."""
        return self.held_shots or TRAINING_HELD

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_few_shot_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)
        if self.resolution % self.flow_grid:
            raise InputError(
                f"flow_grid must divide the resolution ({self.resolution}): try 4 or 8. Received: flow_grid={self.flow_grid}"
            )
        if not isinstance(self.rotate_pairs, bool):
            raise InputError(f"rotate_pairs must be True or False. Received: rotate_pairs={self.rotate_pairs!r}")


# train.py's defaults for DAGAN: the few-shot GANs' 32x32 grey digits and a
# base of about 10-15 minutes on 2 shared CPU cores (docs/dagan.md): half
# the official width, batch and critic updates, twice its learning rate.
DAGAN_PRESETS = dict(dataset="digits", resolution=32, width=16, pairs_per_step=16, critic_steps=2, steps=2500,
                     g_learning_rate=2e-4, d_learning_rate=2e-4)  # fmt: skip
