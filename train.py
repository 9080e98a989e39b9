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
import os
import re
import sys

# TensorFlow's start-up lines would bury the progress bar and error messages:
# hidden unless --verbose (tfgen.startup).
if "--verbose" not in sys.argv:
    os.environ["TFGEN_QUIET_STARTUP"] = "1"

from absl import app, flags, logging  # noqa: E402

from tfgen.cli import (  # noqa: E402
    DEFAULT_DIFF_AUGMENT,
    clean_errors,
    define_config_flags,
    flag_name,
    parse_flags,
    settings_from_flags,
)
from tfgen.config import RUN_PRESETS, RunConfig  # noqa: E402
from tfgen.errors import InputError  # noqa: E402
from tfgen.registry import family_names, get_family  # noqa: E402

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
flags.DEFINE_string("data-folder", None, "Folder of training images (searched recursively).")
flags.DEFINE_string(
    "dataset", None,
    "Bundled dataset instead of --data-folder, e.g. digits, digits:3, animals:cat, faces, glyphs:greek (default when "
    "neither is given: " + "; ".join(f"{f.name} {f.presets['dataset']}" for f in FAMILIES) + ").",
)  # fmt: skip
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


def default_run_name(data, model="fastgan"):
    """``<model>_<data>`` with the data's last path part, e.g. fastgan_cats, figr_digits."""
    last = re.split(r"[\\/]", data.rstrip("/\\"))[-1] or "data"
    return f"{model}_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_")


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
    data_folder, dataset = FLAGS["data-folder"].value, FLAGS.dataset
    if data_folder and dataset:
        raise InputError(
            "Give either --data-folder or --dataset, not both. "
            f"Received: --data-folder={data_folder!r}, --dataset={dataset!r}"
        )
    if FLAGS["fid-frequency"].present and FLAGS["fid-frequency-steps"].present:
        raise InputError(
            "Give --fid-frequency (epochs) or --fid-frequency-steps (steps), not both. Received: "
            f"--fid-frequency={FLAGS['fid-frequency'].value}, --fid-frequency-steps={FLAGS['fid-frequency-steps'].value}"
        )
    data = data_folder or dataset or family.presets["dataset"]
    model_config = family.config_class(**settings_from_flags(family.config_class, family.presets, FLAGS))
    run = settings_from_flags(RunConfig, {**RUN_PRESETS, **family.presets}, FLAGS, skip=("name", "data"))
    if not family.trains_in_steps:
        if FLAGS["time-budget"].value is not None:
            raise InputError(
                f"--model {family.name} trains in stages of its own, which --time-budget cannot stop: "
                f"remove it. Received: --time-budget={FLAGS['time-budget'].value!r}"
            )
        run["steps"] = 0  # its length is in its config (stages, a fit)
    elif FLAGS.steps is None and FLAGS.epochs:
        run["steps"] = 0  # --epochs passes instead of the family's steps
    elif FLAGS.steps is None and FLAGS["time-budget"].value is not None:
        run["steps"] = 0  # the budget alone says how long, not the family's steps
    run_config = RunConfig(name=FLAGS.name or default_run_name(data, FLAGS.model), data=data, **run)
    model_config.validate()
    run_config.validate()
    return model_config, run_config


def main(argv):
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


if __name__ == "__main__":
    app.run(clean_errors(main), flags_parser=parse_flags)
