"""The run settings shared by every family, and the checks the families'
configs share. Each family's own config dataclass lives in
``tfgen/families/<name>/config.py``.

Config flows one way: flags -> dataclass -> builder -> model. Every run saves
its resolved config as ``runs/<name>/config.json`` (:func:`tfgen.runs.save_run_config`)
so that the run (and its generator) can be rebuilt from the folder alone.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import os

from tfgen.checks import check_run_name, parse_duration
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


# Range keywords of setting() and ranged(), named as in JSON Schema.
RANGE_KEYS = ("minimum", "exclusive_minimum", "maximum", "exclusive_maximum")


def _range_metadata(minimum, exclusive_minimum, maximum, exclusive_maximum) -> dict:
    """The given range bounds as field metadata (one lower and one upper bound at most)."""
    for inclusive, exclusive in ((minimum, exclusive_minimum), (maximum, exclusive_maximum)):
        if inclusive is not None and exclusive is not None:
            raise TypeError("Give minimum or exclusive_minimum, and maximum or exclusive_maximum, not both.")
    bounds = dict(zip(RANGE_KEYS, (minimum, exclusive_minimum, maximum, exclusive_maximum)))
    return {key: bound for key, bound in bounds.items() if bound is not None}


def setting(default, help, *, choices=None, minimum=None, exclusive_minimum=None, maximum=None,
            exclusive_maximum=None):  # fmt: skip
    """A config field that ``train.py`` offers as a flag, defined here once: its
    type is the field's, its help this text (the defaults of every family are
    added to it: ``tfgen.cli.define_config_flags``), its name the field's with
    dashes (``tfgen.cli.FLAG_NAMES`` renames a few, as the SLE-GAN reference
    calls them). ``choices`` makes it an enum. A number declares its range
    (``minimum`` <= value, ``exclusive_minimum`` < value, ...), which
    :func:`check_settings` enforces."""
    metadata = {"help": help, **_range_metadata(minimum, exclusive_minimum, maximum, exclusive_maximum)}
    if choices:
        metadata["choices"] = tuple(choices)
    return dataclasses.field(default=default, metadata=metadata)


def ranged(default, *, minimum=None, exclusive_minimum=None, maximum=None, exclusive_maximum=None):
    """A numeric config field that is not a flag of its own, with its range as in
    :func:`setting` (a flag of another config's field of the same name still fills it)."""
    metadata = _range_metadata(minimum, exclusive_minimum, maximum, exclusive_maximum)
    return dataclasses.field(default=default, metadata=metadata)


def _type_name(field) -> str:
    """``"int"``, ``"float | None"``, ...: the field's annotation as written."""
    return field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))


def number_kind(field) -> str | None:
    """``"int"`` or ``"float"`` for a numeric dataclass field (optional or
    not: ``int | None``), else None."""
    base = _type_name(field).replace(" | None", "").replace("None | ", "").replace("Optional[", "").rstrip("]")
    return base if base in ("int", "float") else None


def is_optional(field) -> bool:
    """Whether the field's annotation allows None (``int | None``)."""
    name = _type_name(field)
    return "None" in name.split(" | ") or name.startswith("Optional[")


def field_range(field) -> dict:
    """The range bounds ``field`` declares (keys of :data:`RANGE_KEYS`)."""
    return {key: field.metadata[key] for key in RANGE_KEYS if key in field.metadata}


# Range keyword -> (its interval bracket, its comparison, the test it makes).
_BOUNDS = {
    "minimum": ("[{}", ">= {}", operator.ge),
    "exclusive_minimum": ("({}", "> {}", operator.gt),
    "maximum": ("{}]", "<= {}", operator.le),
    "exclusive_maximum": ("{})", "< {}", operator.lt),
}


def describe_range(field) -> str:
    """What ``field`` accepts, e.g. ``"an integer >= 1"``, ``"a finite number in [0, 1)"``."""
    bounds = {key: f"{bound:g}" if isinstance(bound, float) else bound for key, bound in field_range(field).items()}
    kind = "an integer" if number_kind(field) == "int" else "a finite number"
    if len(bounds) == 2:  # a lower and an upper bound: an interval
        low, high = (_BOUNDS[key][0].format(bound) for key, bound in bounds.items())
        text = f"{kind} in {low}, {high}"
    else:
        text = " ".join([kind] + [_BOUNDS[key][1].format(bound) for key, bound in bounds.items()])
    return text + (" or None" if is_optional(field) else "")


def _in_range(value, bounds) -> bool:
    return all(_BOUNDS[key][2](value, bound) for key, bound in bounds.items())


def check_setting(config, field) -> None:
    """An InputError unless ``config``'s ``field`` is a number of its type (an
    int for ints, not a bool; a finite float) within the range it declares;
    None passes where the annotation allows it."""
    value = getattr(config, field.name)
    if value is None and is_optional(field):
        return
    if number_kind(field) == "int":
        valid = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:  # an int is a fine float, NaN and inf are not
        valid = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not (valid and _in_range(value, field_range(field))):
        shown = repr(value) if isinstance(value, str) else value
        raise InputError(f"{field.name} must be {describe_range(field)}. Received: {field.name}={shown}")


def check_settings(config) -> None:
    """Check every numeric field of the config dataclass ``config`` against its
    type and declared range (:func:`setting`, :func:`ranged`). Every config's
    ``validate()`` calls it, so that train.py and ``Trainer`` refuse a bad
    number before anything is built or written."""
    for field in dataclasses.fields(config):
        if number_kind(field) is not None:
            check_setting(config, field)


def ema_decay_of(model_config):
    """The decay of the EMA copy of the generator a model config trains, or
    None: the families without one (FIGR, the DCGANs, ...) have no
    ``ema_decay`` field, and FastGAN's may be None (no EMA)."""
    return getattr(model_config, "ema_decay", None)


@dataclasses.dataclass
class FewShotConfig:
    """The fields every few-shot family's config shares (its base): the
    images' size and colour and the class split its base trains on. A family
    whose default or range differs redeclares the field (dataclasses keep
    the base's place for it)."""

    resolution: int = ranged(
        32, minimum=SUPPORTED_FEW_SHOT_RESOLUTIONS[0], maximum=SUPPORTED_FEW_SHOT_RESOLUTIONS[-1]
    )
    channels: int = setting(1, "1: grey, 3: RGB.", minimum=1, maximum=3)
    # Class split of the base's training data: names or indices, comma-joined;
    # "" takes the dataset's default (tfgen.data.episodes.DEFAULT_SPLITS).
    train_classes: str = setting(
        "",
        'Training classes, names or indices comma-joined (default: all but --test-classes).',
    )
    test_classes: str = setting(
        "",
        'Held-out classes, never seen in training (default per dataset: digits 9, fashion_mnist ankle_boot, glyphs a fixed set of characters; a folder of class folders needs it).',
    )


@dataclasses.dataclass
class RunConfig:
    """Settings of one training run that are not part of the model."""

    name: str = "fastgan_default"
    runs_dir: str = setting("runs", 'Folder holding the runs.')
    data: str = "digits"  # a folder of images or a bundled dataset name
    steps: int = setting(
        0, 'Training steps, meta-iterations for FIGR (0: --epochs passes).', minimum=0
    )  # 0: derive from epochs
    epochs: int = setting(0, 'Passes over the data, if --steps is not given.', minimum=0)
    # A total over every invocation of the run (tfgen.training.time_budget).
    time_budget: str | None = setting(
        None,
        'Train for this much wall-clock training time in all (e.g. 90s, 30m, 1h, 1h30m), then save a checkpoint '
        'and the weights as a finished run does and say how many steps that was; with --steps or --epochs given '
        'too, whichever comes first. The time adds up over reruns (recorded in <run>/training_time.json): '
        'rerunning a finished run with the same budget does nothing, a larger one trains on.',
    )
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
    # NumPy's global seed (keras.utils.set_random_seed) takes 0 .. 2**32 - 1.
    seed: int = setting(0, 'Seed of weights, data order and randomness.', minimum=0, maximum=2**32 - 1)
    flip: bool = setting(True, 'Mirror training images at random (official: on; keep off for text and digits).')
    sample_every: int = setting(500, 'Write a sample grid every this many steps.', minimum=1)
    checkpoint_every: int = setting(1000, 'Write a checkpoint every this many steps.', minimum=1)
    keep_checkpoints: int = ranged(3, minimum=1)
    # Off by default: an unfinished run's newest checkpoints already load in
    # generate.py; snapshots add a longer, lighter history (the sampling
    # generator alone), at the cost of disk and a weights write each.
    snapshot_every: int = setting(
        0,
        'Write the sampling generator\'s weights (the EMA one where there is one) to '
        '<run>/snapshots/ every this many steps, loadable while the run trains (generate.py --generator '
        'RUN --step N). 0: off, the default: the newest checkpoints (--checkpoint-every) load without '
        'snapshots; a snapshot is a fraction of a checkpoint\'s size, so they keep a longer history.',
        minimum=0,
    )
    keep_snapshots: int = setting(5, 'Keep this many snapshots, the newest (older ones are deleted).', minimum=1)
    log_every: int = ranged(10, minimum=1)
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
    fid_frequency: int = setting(1000, 'Measure it every this many steps (without --fid-frequency).', minimum=1)
    # When > 0, every this many epochs instead (the SLE-GAN reference's --fid-frequency).
    fid_frequency_epochs: int = setting(
        0,
        'Measure it every this many epochs, as the SLE-GAN reference (0: every --fid-frequency-steps steps).',
        minimum=0,
    )
    # Statistics (a covariance, pairs) need two images.
    fid_number_of_images: int = setting(1000, 'Generated images per measurement.', minimum=2)
    fid_metric: str = setting(
        "fid",
        'The metric: fid, kid, pr, dc, diversity or memorisation.',
    )  # any tfgen.metrics registry name without pixels or a target class
    fid_features: str | None = setting(
        None,
        'Feature extractor: fid_inception (pytorch-fid\'s network: FIDs comparable with papers), inception '
        '(Keras\' InceptionV3), efficientnet_lite0 (works offline) or classifier. Default: fid_inception when '
        'its weights are in the Keras or torch hub cache or --fid-weights names a .pth, else inception.',
        choices=('fid_inception', 'inception', 'efficientnet_lite0', 'classifier'),
    )  # None: resolved by make_configs (tfgen.features.extractor.default_features), saved resolved
    fid_feature_weights: str | None = setting(
        None,
        'Weights of --fid-features fid_inception (pytorch-fid\'s .pth) or inception (Keras\' .h5); default: the '
        'Keras cache. For --fid-features classifier, the folder of a classifier trained by evaluate.py '
        '--train-classifier.',
    )  # extractor weights file or classifier folder

    def validate(self) -> None:
        check_settings(self)
        check_run_name(self.name)
        if self.time_budget is not None:
            parse_duration(self.time_budget)
            if self.strategy == "multiworker":
                raise InputError(
                    "time_budget cannot stop the workers of a multi-worker run at the same step; give "
                    "steps (--steps) instead. Received: time_budget="
                    f"{self.time_budget!r}, strategy='multiworker'"
                )
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

    @property
    def run_dir(self) -> str:
        return os.path.join(self.runs_dir, self.name)


# train.py's run settings where they differ from RunConfig's (a family's
# presets may change them again): mirrored digits and glyphs are not digits
# and glyphs, and short CPU runs want samples and checkpoints often.
RUN_PRESETS = dict(flip=False, sample_every=200, checkpoint_every=200)
