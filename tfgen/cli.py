"""Helpers shared by the command-line front doors (train.py, generate.py, ...)."""

from __future__ import annotations

import functools
import sys

from absl import flags as absl_flags

from tfgen.errors import InputError

# Every CLI takes it (they check sys.argv for it before importing tfgen: tfgen.startup).
absl_flags.DEFINE_boolean("verbose", False, "Show TensorFlow's start-up lines, which are hidden by default.")


def clean_errors(main):
    """Wrap an absl ``main`` so that tfgen's own input errors print one line and exit 2.

    :class:`tfgen.errors.InputError` (bad settings, files, folders) and
    FileNotFoundError (a path that is not there) carry messages that say what
    to do, so a traceback would only hide them; every other exception, Keras'
    and TensorFlow's ValueErrors included, keeps its traceback.
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (InputError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapped


def parse_flags(argv):
    """absl's flag parser, with flag errors as one ``error:`` line and exit 2
    (absl would print the usage text); pass as ``app.run(..., flags_parser=parse_flags)``."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        hint = ""
        if "diff-augment" in str(e) and "boolean" in str(e):
            hint = " (--diff-augment is a switch, as in the SLE-GAN reference; choose a policy with --diff-augment-policy)"
        print(f"error: {e}{hint}", file=sys.stderr)
        sys.exit(2)


def flag_or(name, default):
    """The value of absl flag ``name``, or ``default`` when it was left unset (None):
    for flags whose default depends on other flags (e.g. the model)."""
    from absl import flags

    value = flags.FLAGS[name].value
    return default if value is None else value


def few_shot_fields(flags, presets, config_class):
    """The settings every class-split family reads alike from train.py's flags
    (resolution, channels, latent size, width, shots, the class split), with
    ``presets`` and ``config_class``'s defaults for the unset ones."""
    return dict(
        resolution=flag_or("resolution", presets["resolution"]),
        channels=flags.channels,
        latent_dim=flag_or("latent-dim", config_class.latent_dim),
        width=flag_or("width", presets["width"]),
        shots=flag_or("shots", config_class.shots),
        train_classes=flags["train-classes"].value,
        test_classes=flags["test-classes"].value,
    )


# What --diff-augment turns on (the SLE-GAN reference's switch; FastGAN's policy).
DEFAULT_DIFF_AUGMENT = "color,translation"


def diff_augment_from_flags(flags, family_default):
    """The DiffAugment policy of ``--diff-augment`` (a switch: the default
    policy, or none with ``--nodiff-augment``) and ``--diff-augment-policy``;
    ``family_default`` when neither is given."""
    switch, policy = flags["diff-augment"].value, flags["diff-augment-policy"].value
    if policy is not None:
        if switch is False:
            raise InputError(
                "--nodiff-augment turns DiffAugment off, --diff-augment-policy chooses its policy: give one. "
                f"Received: --diff-augment-policy={policy!r}"
            )
        return policy
    if switch is None:
        return family_default
    return DEFAULT_DIFF_AUGMENT if switch else ""
