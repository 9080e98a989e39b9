"""The l2l family's settings."""

from __future__ import annotations

import dataclasses

from tfgen.checks import check_channels
from tfgen.config import FewShotConfig, check_settings, ranged, setting
from tfgen.errors import InputError

L2L_GEM_TYPES = (1, 2, 3)
L2L_STRATEGIES = ("A", "B", "C")
L2L_DECODER_BLOCKS = 5  # GEM slots: decoder blocks 1 (after the bottleneck) .. 5 (full resolution)
L2L_RESOLUTIONS = (32, 512)  # the smallest and largest; multiples of 16 in between


def check_l2l_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError: the UNet halves it four times."""
    low, high = L2L_RESOLUTIONS
    if not isinstance(resolution, int) or resolution % 16 or not low <= resolution <= high:
        raise InputError(
            "The L2L-GAN UNet halves the image four times, so the resolution must be a "
            f"multiple of 16 from {low} to {high} (the paper uses 96). Received: resolution={resolution}"
        )
    return resolution


def parse_gem_layers(gem_layers) -> tuple[int, ...]:
    """``"3,4"`` (or a sequence of ints) -> sorted decoder block indices, checked.
    ``""`` (no GEM slots: the plain DAGAN generator of the GAN stages) -> ``()``."""
    if isinstance(gem_layers, str):
        tokens = [t.strip() for t in gem_layers.split(",") if t.strip()]
        if not all(t.isdigit() for t in tokens):
            raise InputError(
                "gem_layers must be comma-joined decoder block numbers such as '3,4'. "
                f"Received: gem_layers={gem_layers!r}"
            )
        indices = [int(t) for t in tokens]
    else:
        indices = [int(i) for i in gem_layers]
    if not indices:
        return ()
    if len(set(indices)) != len(indices) or not all(1 <= i <= L2L_DECODER_BLOCKS for i in indices):
        raise InputError(
            f"gem_layers must name distinct decoder blocks from 1 to {L2L_DECODER_BLOCKS} "
            "(1: the first block after the bottleneck, 5: the block at full resolution). "
            f"Received: gem_layers={gem_layers!r}"
        )
    return tuple(sorted(indices))


@dataclasses.dataclass
class L2LConfig(FewShotConfig):
    """L2L-GAN (Wang & Lu, "L2L-GAN: Layer to Layer Generative Adversarial
    Network for Few-shot Generation"): a DAGAN-style UNet-ResNet generator
    G(x, z) that turns an image of a class into other images of that class,
    a WGAN-GP pair critic, and Generalization Enhancement Modules (GEMs)
    learnt on the source classes (Algorithm 1, ``tfgen.families.l2l.trainer``).

    The paper's network is 96x96x3 with 64/128 channels; ``width`` scales
    every layer (width 64 = the paper). Stage lengths are in steps:
    ``source_steps`` for phi_s^1 on all source data, ``few_steps`` for each
    phi_s^2 (one per GEM epoch) and for phi_t^plain, ``gem_steps`` per GEM
    per epoch (per stage of strategies A and B), ``finetune_steps`` for phi_t.
    """

    resolution: int = ranged(96, minimum=L2L_RESOLUTIONS[0], maximum=L2L_RESOLUTIONS[1])
    channels: int = ranged(3, minimum=1, maximum=3)
    latent_dim: int = ranged(100, minimum=1)
    width: int = ranged(64, minimum=1)
    noise_channels: int = setting(
        8,
        "L2L: channels of z's projection at each decoder block.",
        minimum=1,
    )  # channels of z's projection concatenated at each decoder block
    batch_size: int = ranged(32, minimum=1)  # image pairs per step
    # A learning rate of 0 holds that network still (a critic trained against a fixed G).
    g_learning_rate: float = ranged(1e-4, minimum=0.0)
    d_learning_rate: float = ranged(1e-4, minimum=0.0)
    # WGAN-GP's Adam betas (Gulrajani et al., 2017); Adam's bias correction 1 - beta**t is 0 for a beta of 1.
    adam_beta1: float = ranged(0.0, minimum=0.0, exclusive_maximum=1.0)
    adam_beta2: float = ranged(0.9, minimum=0.0, exclusive_maximum=1.0)
    critic_steps: int = setting(
        5,
        'L2L: critic steps per generator step (DAGAN 5).',
        minimum=1,
    )  # critic updates per generator update (DAGAN)
    gp_weight: float = ranged(10.0, minimum=0.0)
    # Algorithm 1
    samples_per_class: int = setting(
        2,
        'L2L: p, images per class of X_s^t and X_n.',
        minimum=2,
    )  # p: images per class of the few-shot sets X_s^t and X_n; the pair critic compares two of one class
    source_steps: int = setting(10000, 'L2L: steps of phi_s^1 on all source data.', minimum=1)
    few_steps: int = setting(2000, 'L2L: steps of each phi_s^2 and of phi_t^plain.', minimum=1)
    gem_epochs: int = setting(3, 'L2L: T, epochs of (phi_s^2, GEMs).', minimum=1)  # T
    gem_steps: int = setting(500, 'L2L: steps per GEM stage per epoch.', minimum=1)
    gem_type: int = setting(
        1,
        'L2L: GEM type: 1 conv s2 -> up; 2 conv -> ReLU -> conv s2 -> up; 3 type 2 + deconv.',
        minimum=L2L_GEM_TYPES[0],
        maximum=L2L_GEM_TYPES[-1],
    )
    gem_layers: str = setting(
        "3,4",
        'L2L: decoder blocks that get a GEM, comma-joined (1: after the bottleneck .. 5: full resolution).',
    )  # GEM slots ("": none, the plain generator of the GAN stages)
    strategy_gem: str = setting(
        "A",
        'L2L: A one GEM at a time, alone; B one at a time, earlier ones updated too; C all at once.',
        choices=('A', 'B', 'C'),
    )
    gem_loss: str = setting(
        "l1",
        'L2L: distance between the matched feature maps.',
        choices=('l1', 'l2'),
    )  # l1 | l2: the feature-matching distance
    gem_learning_rate: float = setting(1e-3, 'L2L: Adam learning rate of the GEMs.', exclusive_minimum=0.0)
    finetune_steps: int = setting(500, 'L2L: steps of fine-tuning phi_t.', minimum=0)
    # Where phi_s^2 and phi_t^plain start: "scratch" (the same initial weights
    # as phi_s^1) or "source" (phi_s^1's weights, i.e. fine-tuning).
    few_shot_init: str = setting(
        "scratch",
        "L2L: phi_s^2 and phi_t^plain start from phi_s^1's initial weights (scratch) or from phi_s^1.",
        choices=('scratch', 'source'),
    )
    # Images stored inside the generator that G(z) conditions on (set by
    # training to the novel images X_n; 0: the generator needs images given).
    conditioning_images: int = ranged(0, minimum=0)

    family = "l2l"

    def validate(self) -> None:
        # The sizes it supports first: they say more than the declared range.
        check_l2l_resolution(self.resolution)
        check_channels(self.channels)
        check_settings(self)
        parse_gem_layers(self.gem_layers)
        if self.strategy_gem not in L2L_STRATEGIES:
            raise InputError(f"strategy_gem must be A, B or C. Received: strategy_gem={self.strategy_gem!r}")
        if self.gem_loss not in ("l1", "l2"):
            raise InputError(f"gem_loss must be 'l1' or 'l2'. Received: gem_loss={self.gem_loss!r}")
        if self.few_shot_init not in ("scratch", "source"):
            raise InputError(
                f"few_shot_init must be 'scratch' or 'source'. Received: few_shot_init={self.few_shot_init!r}"
            )

    @property
    def gem_indices(self) -> tuple[int, ...]:
        return parse_gem_layers(self.gem_layers)


# L2L-GAN's CPU-sized defaults: 32x32 grey glyphs (the default split holds out
# a fifth of every script's characters), width 16 (the paper: 96x96x3, 64),
# short stages; every stage length is a flag.
L2L_PRESETS = dict(
    dataset="glyphs", resolution=32, channels=1, width=16, batch_size=16, critic_steps=2, source_steps=1500,
    few_steps=300, gem_epochs=2, gem_steps=100, finetune_steps=100,
)  # fmt: skip
