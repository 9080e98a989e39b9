"""Helpers shared by the command-line front doors (train.py, generate.py, ...)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import warnings

from absl import flags as absl_flags

from tfgen.errors import InputError

# Every CLI takes it (they check sys.argv for it before importing tfgen: tfgen.startup).
absl_flags.DEFINE_boolean("verbose", False, "Show TensorFlow's start-up lines, which are hidden by default.")


def clean_errors(main):
    """Wrap an absl ``main`` so that tfgen's own input errors print one line and
    exit 2, and warnings print one line each (:func:`one_line_warnings`).

    :class:`tfgen.errors.InputError` (bad settings, files, folders) and
    FileNotFoundError (a path that is not there) carry messages that say what
    to do, so a traceback would only hide them; every other exception, Keras'
    and TensorFlow's ValueErrors included, keeps its traceback.
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            with one_line_warnings():
                return main(argv)
        except (InputError, FileNotFoundError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapped


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Python's display adds the file, the category and the source line that
    # warned, which mean nothing to a CLI user; its messages say what to do.
    text = " ".join(str(message).split())
    print(f"warning: {text}", file=file or sys.stderr, flush=True)


@contextlib.contextmanager
def one_line_warnings():
    """Meanwhile, show each Python warning as one ``warning: <message>`` line
    (the CLIs' display; library users keep Python's)."""
    previous = warnings.showwarning
    warnings.showwarning = _show_warning
    try:
        yield
    finally:
        warnings.showwarning = previous


HELP_FLAGS = ("--help", "-h", "-help", "--helpshort", "--helpfull", "-?")


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


def command_runner(verb, main, docstring, module_name, help_groups, *, usage=None):
    """``run(argv=None)`` of a command whose flags are defined in its own
    module (all but train, whose help follows --model): :func:`run_command`
    with :func:`tfgen.command_help.module_flags_help` as its help."""

    def help_text(argv):
        from absl import flags

        from tfgen.command_help import module_flags_help

        # A module run as a script registers its flags under its file's name.
        module = module_name if module_name != "__main__" else sys.argv[0]
        return module_flags_help(usage or f"usage: tfgen {verb} [flags]      (or: python {verb}.py [flags])",
                                 docstring, flags.FLAGS, module, groups=help_groups)  # fmt: skip

    def run(argv=None):
        """Parse ``argv`` (default: sys.argv), then run the command's ``main``."""
        run_command(main, argv, help_text=help_text)

    return run


def define_offline_flag():
    """``--offline`` (the commands that may download weights: train, evaluate)."""
    from absl import flags

    flags.DEFINE_boolean(
        "offline", False,
        "Never download weights (also TFGEN_OFFLINE=1): a feature network's missing weights are then an error "
        "that says where to put them.",
    )  # fmt: skip


def run_command(main, argv=None, *, help_text):
    """Run a command's absl ``main`` on ``argv`` (default ``sys.argv``).

    ``--help`` (``-h``, ``--helpfull``) prints ``help_text(argv)`` and exits 0
    before anything imports TensorFlow; otherwise TensorFlow is imported once
    the flags are parsed, quietly unless ``--verbose`` (:mod:`tfgen.startup`),
    and errors print as one line (:func:`clean_errors`)."""
    import os

    from absl import app

    argv = list(sys.argv if argv is None else argv)
    if any(arg in HELP_FLAGS for arg in argv[1:]):
        try:
            print(help_text(argv), flush=True)
        except BrokenPipeError:  # `tfgen train --help | head`
            sys.stderr.close()
        sys.exit(0)
    if "--verbose" not in argv:
        # TensorFlow's start-up lines would bury the progress bar and error messages.
        os.environ["TFGEN_QUIET_STARTUP"] = "1"

    def parse_then_import_tensorflow(args):
        parsed = parse_flags(args)
        from tfgen.startup import import_tensorflow

        import_tensorflow()
        return parsed

    app.run(clean_errors(main), argv=argv, flags_parser=parse_then_import_tensorflow)


def flag_or(name, default):
    """The value of absl flag ``name``, or ``default`` when it was left unset (None):
    for flags whose default depends on other flags (e.g. the model)."""
    from absl import flags

    value = flags.FLAGS[name].value
    return default if value is None else value


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


# ----------------------------------------------------- flags from the configs

# Flag names that are not the field's name with dashes: the SLE-GAN
# reference's, and DiffAugment's policy beside its --diff-augment switch.
FLAG_NAMES = {
    "g_learning_rate": "G-learning-rate",
    "d_learning_rate": "D-learning-rate",
    "diff_augment": "diff-augment-policy",
    "fid_frequency": "fid-frequency-steps",
    "fid_frequency_epochs": "fid-frequency",
    "fid_feature_weights": "fid-weights",
}
# Fields that more than their own flag decide: field -> f(flag values, default).
FLAG_READERS = {"diff_augment": diff_augment_from_flags}
_DEFINERS = {"int": "DEFINE_integer", "float": "DEFINE_float", "bool": "DEFINE_boolean", "str": "DEFINE_string"}


def flag_name(field_name):
    """The command-line name of a config field."""
    return FLAG_NAMES.get(field_name, field_name.replace("_", "-"))


def _base_type(annotation):
    """``"int"`` of ``"int"``, ``"int | None"`` or ``int``."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return name.replace(" | None", "").replace("Optional[", "").rstrip("]")


def _defaults_note(name, families, run_config_class, run_presets):
    """``"default: 64 for fastgan; 32 for figr, ..."``: what each family takes
    when the flag is left out (its presets, else the config's default)."""
    by_value = {}
    for family in families:
        for config_class, base in ((family.config_class, {}), (run_config_class, run_presets)):
            for field in dataclasses.fields(config_class):
                if flag_name(field.name) == name:
                    value = family.presets.get(field.name, base.get(field.name, field.default))
                    by_value.setdefault(repr(value), []).append(family.name)
    if len(by_value) == 1:
        return f"default: {next(iter(by_value))}"
    return "default: " + "; ".join(f"{value} for {', '.join(names)}" for value, names in by_value.items())


def define_config_flags(families, run_config_class, run_presets, flag_values=None):
    """Define one absl flag per config field made with :func:`tfgen.config.setting`,
    in the families' configs and the run config: its type from the field, its
    help from the setting plus every family's default. Each flag defaults to
    None, meaning "the family's own" (:func:`settings_from_flags`)."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    for config_class in [family.config_class for family in families] + [run_config_class]:
        for field in setting_fields(config_class):
            name = flag_name(field.name)
            if name not in flag_values:
                note = _defaults_note(name, families, run_config_class, run_presets)
                _define_flag(name, field, f"{field.metadata['help']} ({note})", flag_values)


def setting_fields(config_class):
    """The fields of ``config_class`` made with :func:`tfgen.config.setting`."""
    return [field for field in dataclasses.fields(config_class) if "help" in field.metadata]


def define_setting_flags(config_class, flag_values=None):
    """One absl flag per :func:`tfgen.config.setting` field of one config
    (e.g. generate.py's AdaIN adaptation settings), defaulting to None."""
    from absl import flags

    flag_values = flag_values or flags.FLAGS
    for field in setting_fields(config_class):
        _define_flag(flag_name(field.name), field, f"{field.metadata['help']} (default: {field.default!r})", flag_values)


def _define_flag(name, field, help_text, flag_values):
    from absl import flags

    choices = field.metadata.get("choices")
    if choices:
        flags.DEFINE_enum(name, None, list(choices), help_text, flag_values=flag_values)
    else:
        getattr(flags, _DEFINERS[_base_type(field.type)])(name, None, help_text, flag_values=flag_values)


def settings_from_flags(config_class, presets, flag_values, *, skip=()):
    """Keyword arguments of ``config_class`` from the parsed flags: every field
    that has a flag, from the flag when it was given, else from ``presets``;
    fields in neither keep the dataclass default. A field in
    :data:`FLAG_READERS` is read by its function instead."""
    values = {}
    for field in dataclasses.fields(config_class):
        name = flag_name(field.name)
        if field.name in skip or name not in flag_values:
            continue
        if field.name in FLAG_READERS:
            values[field.name] = FLAG_READERS[field.name](flag_values, presets.get(field.name, field.default))
            continue
        value = flag_values[name].value
        if value is None and field.name in presets:
            value = presets[field.name]
        if value is not None:
            values[field.name] = value
    return values
