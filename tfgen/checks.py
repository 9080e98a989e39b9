"""Argument checks shared by configs, data and models (no Keras import, so
``tfgen.config`` stays light)."""

from __future__ import annotations

import os
import re

from tfgen.errors import InputError


def check_channels(channels) -> int:
    """``channels`` as an int, or a ValueError unless it is 1 (grey) or 3 (RGB)."""
    if channels not in (1, 3):
        raise InputError(f"channels must be 1 (grey) or 3 (RGB). Received: channels={channels!r}")
    return int(channels)


def check_int(name, value, minimum) -> int:
    """``value`` as an int, or a ValueError unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}. Received: {name}={value}")
    return int(value)


def check_run_name(name):
    """Return ``name`` if it is a plain folder name that starts with a letter or
    digit, else raise ValueError."""
    separators = [sep for sep in ("/", os.sep, os.altsep) if sep]
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(sep in name for sep in separators)
        and "\0" not in name
        and not os.path.isabs(name)
        and not os.path.splitdrive(name)[0]  # Windows "C:run" is drive-relative
    )
    if not plain:
        raise InputError(
            "Run name must be a plain folder name inside the runs folder "
            f"(no '/', '.', '..' or absolute path). Received: name={name!r}. "
            "To keep runs in another folder, choose it with --runs-dir and pass "
            "only the run's own folder name as --name."
        )
    # ".x" is hidden, "-x" reads as an option, " x" and "_x" are easily mistyped.
    if not name[0].isalnum():
        raise InputError(
            "Run name must start with a letter or digit (a leading '.' hides the folder, "
            f"a '-' reads as an option, a space is easily missed). Received: name={name!r}. "
            "Choose a name such as 'my_run' or 'run2'."
        )
    return name


# DiffAugment's transformations (tfgen.augment.POLICIES implements them).
DIFF_AUGMENT_POLICIES = ("color", "translation", "cutout")


def parse_diff_augment_policy(policy):
    """``"color,translation"`` (or a list of names, "" or None) as a list of
    names, or an InputError naming the unknown ones."""
    if policy is None:
        return []
    names = policy.split(",") if isinstance(policy, str) else list(policy)
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name not in DIFF_AUGMENT_POLICIES]
    if unknown:
        raise InputError(
            f"Unknown DiffAugment policy {', '.join(map(repr, unknown))}. Valid names are "
            f"{', '.join(DIFF_AUGMENT_POLICIES)} (comma-separated, e.g. 'color,translation,cutout'), "
            f"or '' for none. Received: policy={policy!r}"
        )
    return names


# parse_duration's units: seconds, minutes, hours, days.
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhd])")


def parse_duration(text) -> float:
    """Seconds of a duration: ``"90s"``, ``"30m"``, ``"1h"``, ``"1h30m"``,
    ``"1.5h"``, or a bare number of seconds (``"45"``). InputError otherwise,
    or for a duration that is not positive."""
    value = str(text).strip().lower()
    seconds = None
    if re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", value):
        seconds = float(value)
    elif value and re.fullmatch(rf"(?:\s*{_DURATION_PART.pattern})+\s*", value):
        seconds = sum(float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(value))
    if seconds is None or not seconds > 0 or seconds == float("inf"):
        raise InputError(
            "time_budget must be a positive duration such as 90s, 30m, 1h or 1h30m (a bare number is "
            f"seconds). Received: time_budget={text!r}"
        )
    return seconds
