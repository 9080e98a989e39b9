"""Helpers shared by the command-line front doors (train.py, generate.py, ...)."""

from __future__ import annotations

import functools
import sys


class UserError(Exception):
    """Raised for problems the user can fix; printed as one line by the CLIs."""


def clean_errors(main):
    """Wrap an absl ``main`` so user errors print one line and exit non-zero.

    ValueError, FileNotFoundError and UserError are the errors that tfgen raises
    for bad input; their messages already say what to do, so a traceback would
    only hide them.
    """

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (ValueError, FileNotFoundError, UserError) as e:
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
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def flag_or(name, default):
    """The value of absl flag ``name``, or ``default`` when it was left unset (None):
    for flags whose default depends on other flags (e.g. the model)."""
    from absl import flags

    value = flags.FLAGS[name].value
    return default if value is None else value
