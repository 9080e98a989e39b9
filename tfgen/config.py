"""The run settings shared by every family, and the checks the families'
configs share. Each family's own config dataclass lives in
``tfgen/families/<name>/config.py``.

Config flows one way: flags -> dataclass -> builder -> model. Every run saves
its resolved config as ``runs/<name>/config.json`` (:func:`tfgen.runs.save_run_config`)
so that the run (and its generator) can be rebuilt from the folder alone.
"""

from __future__ import annotations

import dataclasses
import os

from tfgen.checks import check_run_name
from tfgen.errors import InputError

SUPPORTED_FEW_SHOT_RESOLUTIONS = (32, 64)


def check_few_shot_resolution(resolution) -> int:
    """``resolution`` as an int, or a ValueError saying which ones the few-shot
    GANs (FIGR, DCGAN, cDCGAN, InfoGAN) support."""
    if resolution not in SUPPORTED_FEW_SHOT_RESOLUTIONS:
        raise InputError(
            f"The few-shot GANs (FIGR, DCGAN, cDCGAN, InfoGAN) support resolutions "
            f"{SUPPORTED_FEW_SHOT_RESOLUTIONS}. Received: resolution={resolution}."
        )
    return int(resolution)


def check_positive(config, *fields) -> None:
    """A ValueError unless every one of ``config``'s ``fields`` is >= 1."""
    for field in fields:
        value = getattr(config, field)
        if value < 1:
            raise InputError(f"{field} must be >= 1. Received: {field}={value}")


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
    # When > 0, every this many epochs instead (the SLE-GAN reference's --fid-frequency).
    fid_frequency_epochs: int = 0
    fid_number_of_images: int = 1000
    fid_metric: str = "fid"  # any tfgen.metrics registry name without pixels or a target class
    fid_features: str = "inception"  # inception | efficientnet_lite0 | classifier
    fid_feature_weights: str | None = None  # inception weights file or classifier folder

    def validate(self) -> None:
        check_run_name(self.name)
        if self.mixed_precision not in ("off", "float16", "bfloat16"):
            raise InputError(
                "mixed_precision must be one of off, float16, bfloat16. "
                f"Received: mixed_precision={self.mixed_precision!r}"
            )
        if self.strategy not in ("default", "mirrored", "multiworker"):
            raise InputError(
                "strategy must be one of default, mirrored, multiworker. "
                f"Received: strategy={self.strategy!r}"
            )
        if self.fid_frequency_epochs < 0:
            raise InputError(
                f"fid_frequency_epochs must be >= 0. Received: fid_frequency_epochs={self.fid_frequency_epochs}"
            )
        if self.steps < 0 or self.epochs < 0:
            raise InputError(
                f"steps and epochs must be >= 0. Received: steps={self.steps}, epochs={self.epochs}"
            )
        for field in ("sample_every", "checkpoint_every", "log_every", "keep_checkpoints", "fid_frequency"):
            value = getattr(self, field)
            if value < 1:
                raise InputError(f"{field} must be >= 1. Received: {field}={value}")
        if self.fid and self.fid_number_of_images < 2:
            raise InputError(
                "fid_number_of_images must be >= 2 (statistics need two images). "
                f"Received: fid_number_of_images={self.fid_number_of_images}"
            )

    @property
    def run_dir(self) -> str:
        return os.path.join(self.runs_dir, self.name)
