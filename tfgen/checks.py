"""Argument checks shared by configs, data and models (no Keras import, so
``tfgen.config`` stays light)."""

from __future__ import annotations


def check_channels(channels) -> int:
    """``channels`` as an int, or a ValueError unless it is 1 (grey) or 3 (RGB)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB). Received: channels={channels!r}")
    return int(channels)


def check_int(name, value, minimum) -> int:
    """``value`` as an int, or a ValueError unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name}={value}")
    return int(value)
