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

SUPPORTED_FASTGAN_RESOLUTIONS = (64, 128, 256, 512, 1024)


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


MODEL_CONFIGS = {"fastgan": FastGANConfig}


def save_run_config(path: str, family: str, model: Any, run: RunConfig) -> None:
    """Write ``{"family", "model", "run"}`` as JSON, atomically."""
    payload = {
        "family": family,
        "model": dataclasses.asdict(model),
        "run": dataclasses.asdict(run),
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


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
