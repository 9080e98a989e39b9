"""Train FastGAN (SLE-GAN, Liu et al., ICLR 2021) on images, or meta-train a
few-shot model of unseen classes (FIGR, or a DCGAN / cDCGAN / InfoGAN to
fine-tune, or a StyleGAN to adapt through its AdaIN maps).

    python train.py                                    # a quick CPU demo (see DEMO in tfgen/families/fastgan/config.py)
    python train.py --data-folder path/to/images --resolution 256 \\
        --ngf 64 --ndf 64 --ema-decay 0.999 --flip --steps 50000   # the paper's settings
    python train.py --model figr --dataset digits      # Reptile on digits 0-8 (9 held out)
    python train.py --model dcgan --dataset fashion_mnist --test-classes ankle_boot
    python train.py --model stylegan --dataset digits   # StyleGAN on digits 0-8 (9 held out)
    python train.py --model l2l --gem-type 2 --gem-layers 3,4 --strategy-gem B  # L2L-GAN on glyphs
    python train.py --model shotmorph --dataset digits  # fit shot morphing on digits 0-8

An L2L-GAN run trains all of its Algorithm 1 (source classes, GEMs, then
the p images per class of the held-out classes) and ends with a generator of
the held-out classes. A few-shot run is then adapted to n images of a new class with
``generate.py --adapt-from runs/<name> --shots digits:9``.

A run lives in ``runs/<name>/`` (``--runs-dir``, ``--name``; the name defaults
to the data's): ``config.json``, ``checkpoints/``, ``samples/`` (grids from
fixed noise), ``logs/`` (TensorBoard), with ``--snapshot-every N``
``snapshots/`` (the EMA generator's weights every N steps, the newest
``--keep-snapshots`` kept) and, at the end, ``generator.weights.h5``,
``generator_ema.weights.h5`` and ``discriminator.weights.h5``. Running the
same command again resumes from the latest checkpoint (Ctrl-C saves one);
``--override`` starts afresh. ``generate.py --generator runs/<name>`` samples
a run before it ends, from its newest snapshot or checkpoint (``--step N``:
that step's).

``--time-budget 30m`` trains for 30 minutes of training time in all (reruns
add up; with ``--steps`` too, whichever ends first), then saves a checkpoint
and the weights as a finished run does:

    python train.py --data-folder path/to/images --time-budget 30m
    python train.py --data-folder path/to/images --discriminator projected --time-budget 30m
"""

from __future__ import annotations

import dataclasses
import sys

from absl import flags, logging

from tfgen.cli import (
    DEFAULT_DIFF_AUGMENT,
    define_config_flags,
    define_offline_flag,
    flag_name,
    run_command,
    setting_fields,
    settings_from_flags,
)
from tfgen.config import RUN_PRESETS, RunConfig
from tfgen.run_settings import default_run_name, make_configs  # noqa: F401 (default_run_name: for tests)
from tfgen.errors import InputError
from tfgen.registry import family_names, get_family

FAMILIES = [get_family(name) for name in family_names()]
FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "model", "fastgan", family_names(),
    "fastgan: train on the images. figr: Reptile meta-training over few-shot tasks of the "
    "--train-classes. dcgan, cdcgan, infogan: pre-training on the --train-classes, the transfer "
    "baselines. stylegan: the style-based generator on the --train-classes (or every image), "
    "adapted through its AdaIN maps (adapt any of these with generate.py --adapt-from). "
    "l2l: L2L-GAN's Algorithm 1 (source classes, GEMs, then the held-out classes). "
    "shotmorph: fit on the --train-classes how much to morph between and augment the shots of a new "
    "class (a few minutes; the recommended few-shot path).",
)  # fmt: skip
flags.DEFINE_string(
    "data", None,
    "The training images: a folder (searched recursively) or a bundled set, e.g. digits, digits:3, animals:cat, "
    "faces, glyphs:greek (the same name as benchmark.py's --data; default when none is given: "
    + "; ".join(f"{f.name} {f.presets['dataset']}" for f in FAMILIES) + ").",
)  # fmt: skip
flags.DEFINE_string("data-folder", None, "Folder of training images (searched recursively): --data, by its older name.")
flags.DEFINE_string("dataset", None, "Bundled dataset, e.g. digits:3: --data, by its older name.")
define_offline_flag()
flags.DEFINE_string("name", None, "Run name: the run folder is <runs-dir>/<name> (default: <model>_<data>).")
flags.DEFINE_boolean("override", False, "Delete the run folder of --name and start afresh.")
flags.DEFINE_boolean("quiet", False, "No progress bar or messages.")
flags.DEFINE_boolean(
    "diff-augment", None,
    f"DiffAugment on the discriminator's inputs with the default policy ({DEFAULT_DIFF_AUGMENT}), as in the "
    "SLE-GAN reference; --nodiff-augment: none. Default: FastGAN and StyleGAN on, the DCGANs off.",
)  # fmt: skip
# Every other flag is a field of a family's config or of RunConfig, defined
# once beside its default (tfgen.config.setting); its help lists each family's default.
define_config_flags(FAMILIES, RunConfig, RUN_PRESETS)


def check_flags_apply(family):
    """Refuse a flag given on the command line that only other families read:
    it would silently do nothing (``--model dcgan --ngf 0`` trained a DCGAN)."""
    used = {flag_name(field.name) for config in (family.config_class, RunConfig) for field in dataclasses.fields(config)}
    owners = {}
    for other in FAMILIES:
        for field in dataclasses.fields(other.config_class):
            owners.setdefault(flag_name(field.name), []).append(other.name)
    ignored = sorted(name for name in owners if name not in used and name in FLAGS and FLAGS[name].present)
    if ignored:
        details = "; ".join(f"--{name} ({', '.join(owners[name])})" for name in ignored)
        raise InputError(
            f"--model {family.name} does not use {details}: remove them, or choose the model they "
            "belong to with --model."
        )


def configs_from_flags():
    """(model config, RunConfig) from the command line, validated."""
    family = get_family(FLAGS.model)
    if family.check_flags is not None:  # a family's own advice first (FIGR's --batch-size)
        family.check_flags(FLAGS)
    check_flags_apply(family)
    given = {name: FLAGS[name].value for name in ("data", "data-folder", "dataset") if FLAGS[name].value}
    if len(given) > 1:
        raise InputError(
            f"Give the training images once, with --data (a folder or a bundled set). Received: "
            + ", ".join(f"--{name}={value!r}" for name, value in given.items())
        )
    if FLAGS["fid-frequency"].present and FLAGS["fid-frequency-steps"].present:
        raise InputError(
            "Give --fid-frequency (epochs) or --fid-frequency-steps (steps), not both. Received: "
            f"--fid-frequency={FLAGS['fid-frequency'].value}, --fid-frequency-steps={FLAGS['fid-frequency-steps'].value}"
        )
    data = next(iter(given.values()), family.presets["dataset"])
    return make_configs(
        family,
        data,
        settings_from_flags(family.config_class, family.presets, FLAGS),
        settings_from_flags(RunConfig, {**RUN_PRESETS, **family.presets}, FLAGS, skip=("name", "data")),
        steps_given=FLAGS.steps is not None,
        name=FLAGS.name,
    )


def main(argv):
    if FLAGS.offline:
        from tfgen.features.downloads import go_offline

        go_offline()
    if len(argv) > 1:
        raise InputError(f"train.py takes no positional arguments. Received: {argv[1:]}")
    model_config, run_config = configs_from_flags()
    from tfgen.training.devices import check_hardware_settings

    check_hardware_settings(run_config)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF logs INFO lines through absl
    trainer_class = get_family(model_config.family).trainer_class()
    try:
        trainer = trainer_class(model_config, run_config, quiet=FLAGS.quiet)
        trainer.fit(override=FLAGS.override)
    except KeyboardInterrupt as interrupt:
        # The trainer saved a checkpoint and said where, or it stopped at once
        # (a second signal) and the interrupt says so; exit as a shell
        # reports the signal (130: SIGINT, 143: SIGTERM).
        if not getattr(interrupt, "saved", True):
            print(interrupt, file=sys.stderr, flush=True)
        sys.exit(getattr(interrupt, "exit_code", 130))


# --help's groups: config fields by name; a family's other fields are "model".
DATA_FIELDS = ("data_folder", "dataset", "resolution", "channels", "flip", "seed")
FEW_SHOT_FIELDS = ("train_classes", "test_classes", "shots", "num_shots", "held_shots", "augmented_shots",
                   "adapt_steps", "adapt_truncation_psi", "fitted_latents", "fitted_space", "samples_per_class",
                   "conditioning_images")  # fmt: skip
TRAINING_FIELDS = ("batch_size", "g_learning_rate", "d_learning_rate", "adam_beta1", "adam_beta2", "ema_decay",
                   "diff_augment")  # fmt: skip
COMMAND_FLAGS = {"data": ("data", "data-folder", "dataset"), "evaluation": ("offline",),
                 "run": ("name", "override", "quiet", "verbose")}  # fmt: skip


def _model_asked(argv):
    """The --model of ``argv`` (the default family when none or an unknown one)."""
    for index, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--model=") else None
        if arg == "--model" and index + 1 < len(argv):
            value = argv[index + 1]
        if value in family_names():
            return value
    return FLAGS["model"].default


def help_text(argv):
    """``--help``: the flags of the chosen --model in groups, with its defaults."""
    from tfgen.command_help import docstring_examples, docstring_summary, flag_entry, render

    family = get_family(_model_asked(argv))
    defaults = {**RUN_PRESETS, **family.presets}
    groups = {title: [] for title in ("data", "model", "few-shot", "training", "evaluation", "run")}
    for name in COMMAND_FLAGS["data"]:
        default = family.presets["dataset"] if name == "data" else None
        groups["data"].append(flag_entry(FLAGS[name], has_default=True, default=default))
    groups["model"].append(flag_entry(FLAGS["model"], has_default=True, default=family.name))
    for config_class in (family.config_class, RunConfig):
        for field in setting_fields(config_class):
            if config_class is RunConfig:
                group = "evaluation" if field.name.startswith("fid") else "data" if field.name in DATA_FIELDS else "run" if field.name == "runs_dir" else "training"
            else:
                group = ("data" if field.name in DATA_FIELDS else "few-shot" if field.name in FEW_SHOT_FIELDS
                         else "training" if field.name in TRAINING_FIELDS else "model")  # fmt: skip
            default = defaults.get(field.name, field.default)
            if field.name == "diff_augment" and "diff-augment" in FLAGS:
                groups[group].append(flag_entry(FLAGS["diff-augment"]))
            groups[group].append(flag_entry(FLAGS[flag_name(field.name)], field.metadata["help"], default,
                                            has_default=True))  # fmt: skip
    for group in ("evaluation", "run"):
        groups[group] += [flag_entry(FLAGS[name]) for name in COMMAND_FLAGS[group]]
    others = [name for name in family_names() if name != family.name]
    return render(
        "usage: tfgen train [--model MODEL] [flags]      (or: python train.py [flags])",
        docstring_summary(__doc__),
        [(f"{title} (--model {family.name})" if title == "model" else title, entries)
         for title, entries in groups.items()],  # fmt: skip
        examples=docstring_examples(__doc__),
        footer=f"Shown: the flags of --model {family.name}, with its defaults. The other models: "
        f"{', '.join(others)}; e.g. tfgen train --model {others[0]} --help. Examples and the run folder: "
        "docs/training.md and the README.",
    )


def run(argv=None):
    """``tfgen train``: parse ``argv`` (default: sys.argv), then :func:`main`."""
    run_command(main, argv, help_text=help_text)


if __name__ == "__main__":
    run()
