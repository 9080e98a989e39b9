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


def setting(default, help, *, choices=None):
    """A config field that ``train.py`` offers as a flag, defined here once: its
    type is the field's, its help this text (the defaults of every family are
    added to it: ``tfgen.cli.define_config_flags``), its name the field's with
    dashes (``tfgen.cli.FLAG_NAMES`` renames a few, as the SLE-GAN reference
    calls them). ``choices`` makes it an enum."""
    metadata = {"help": help}
    if choices:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


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
    runs_dir: str = setting("runs", 'Folder holding the runs.')
    data: str = "digits"  # a folder of images or a bundled dataset name
    steps: int = setting(0, 'Training steps, meta-iterations for FIGR (0: --epochs passes).')  # 0: derive from epochs
    epochs: int = setting(0, 'Passes over the data, if --steps is not given.')
    mixed_precision: str = setting(
        "off",
        'Mixed precision: bfloat16 for CPUs with AVX512-BF16/AMX, TPUs and recent GPUs; float16 for '
        'GPUs; auto picks for this machine at the start (float16 on a GPU, bfloat16 where the CPU '
        'has it and it measures faster, float32 otherwise) and says what it chose.',
        choices=('off', 'float16', 'bfloat16', 'auto'),
    )  # off | float16 | bfloat16 | auto
    xla: bool = setting(
        False,
        'Compile the train step with XLA: for GPUs. On CPUs it is slower than TensorFlow\'s own kernels '
        '(1.8-3.7x in docs/performance.md) and compiling a 256 px step takes over 10 minutes.',
    )
    strategy: str = setting(
        "default",
        'tf.distribute strategy: one device, all local GPUs, or a TF_CONFIG cluster.',
        choices=('default', 'mirrored', 'multiworker'),
    )  # default | mirrored | multiworker
    seed: int = setting(0, 'Seed of weights, data order and randomness.')
    flip: bool = setting(True, 'Mirror training images at random (official: on; keep off for text and digits).')
    sample_every: int = setting(500, 'Write a sample grid every this many steps.')
    checkpoint_every: int = setting(1000, 'Write a checkpoint every this many steps.')
    keep_checkpoints: int = 3
    log_every: int = 10
    generator_weights: str | None = setting(
        None,
        'Initial generator weights (.weights.h5) to fine-tune from.',
    )  # initial weights (fine-tuning)
    discriminator_weights: str | None = setting(None, 'Initial discriminator weights (.weights.h5).')
    # A metric of the EMA generator every fid_frequency steps (TensorBoard,
    # metrics.jsonl) and the weights of the best step in <run>/best/.
    fid: bool = setting(
        False,
        'Measure --fid-metric of the EMA generator during training; keep the best weights in <run>/best/.',
    )
    fid_frequency: int = setting(1000, 'Measure it every this many steps (without --fid-frequency).')
    # When > 0, every this many epochs instead (the SLE-GAN reference's --fid-frequency).
    fid_frequency_epochs: int = setting(
        0,
        'Measure it every this many epochs, as the SLE-GAN reference (0: every --fid-frequency-steps steps).',
    )
    fid_number_of_images: int = setting(1000, 'Generated images per measurement.')
    fid_metric: str = setting(
        "fid",
        'The metric: fid, kid, pr, dc, diversity or memorisation.',
    )  # any tfgen.metrics registry name without pixels or a target class
    fid_features: str = setting(
        "inception",
        'Feature extractor (efficientnet_lite0 works offline; inception needs its ImageNet weights).',
        choices=('inception', 'efficientnet_lite0', 'classifier'),
    )  # inception | efficientnet_lite0 | classifier
    fid_feature_weights: str | None = setting(
        None,
        'InceptionV3 weights file (default: the Keras cache) or, for --fid-features classifier, the folder of a classifier trained by evaluate.py --train-classifier.',
    )  # inception weights file or classifier folder

    def validate(self) -> None:
        check_run_name(self.name)
        if self.mixed_precision not in ("off", "float16", "bfloat16", "auto"):
            raise InputError(
                "mixed_precision must be one of off, float16, bfloat16, auto. "
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


# train.py's run settings where they differ from RunConfig's (a family's
# presets may change them again): mirrored digits and glyphs are not digits
# and glyphs, and short CPU runs want samples and checkpoints often.
RUN_PRESETS = dict(flip=False, sample_every=200, checkpoint_every=200)
