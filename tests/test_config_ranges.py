"""Every numeric config field declares its range, and ``validate()`` refuses a
value outside it before anything is built or written (issue 26)."""

import dataclasses
import importlib
import math
import pkgutil
import types
import typing

import numpy as np
import pytest

import tfgen.families
from tfgen.config import RunConfig, check_settings
from tfgen.errors import InputError
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.transfer.config import DCGANConfig
from tfgen.registry import family_names, get_family

RANGE_KEYS = ("minimum", "exclusive_minimum", "maximum", "exclusive_maximum")


def config_classes():
    """RunConfig, every registered family's config and every other config
    dataclass of a family's config module (e.g. StyleGAN's AdaIN adaptation)."""
    classes = {RunConfig} | {get_family(name).config_class for name in family_names()}
    for package in pkgutil.iter_modules(tfgen.families.__path__):
        if package.ispkg:
            module = importlib.import_module(f"tfgen.families.{package.name}.config")
            classes |= {value for value in vars(module).values()
                        if isinstance(value, type) and dataclasses.is_dataclass(value)
                        and value.__module__ == module.__name__}  # fmt: skip
    return sorted(classes, key=lambda cls: cls.__name__)


def numeric_type(cls, field):
    """(int or float, whether None is allowed) of a numeric field, from its
    evaluated annotation (``int``, ``float | None``, ...); None for others."""
    hint = typing.get_type_hints(cls)[field.name]
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    args = typing.get_args(hint) if union else (hint,)
    kinds = [arg for arg in args if arg in (int, float)]
    return (kinds[0], type(None) in args) if kinds else None


def numeric_fields():
    return [
        pytest.param(cls, field, *numeric_type(cls, field), id=f"{cls.__name__}.{field.name}")
        for cls in config_classes()
        for field in dataclasses.fields(cls)
        if numeric_type(cls, field)
    ]


NUMERIC_FIELDS = numeric_fields()


def declared(field):
    return {key: field.metadata[key] for key in RANGE_KEYS if key in field.metadata}


def just_outside(kind, bounds):
    """Values just outside ``bounds`` (one step past each bound), and values
    of the wrong sort: a non-integer or a bool for ints, NaN and inf for floats."""
    below = (lambda x: x - 1) if kind is int else (lambda x: math.nextafter(x, -math.inf))
    above = (lambda x: x + 1) if kind is int else (lambda x: math.nextafter(x, math.inf))
    values = []
    if "minimum" in bounds:
        values.append(below(bounds["minimum"]))
    if "exclusive_minimum" in bounds:
        values.append(bounds["exclusive_minimum"])
    if "maximum" in bounds:
        values.append(above(bounds["maximum"]))
    if "exclusive_maximum" in bounds:
        values.append(bounds["exclusive_maximum"])
    return values + ([1.5, True] if kind is int else [math.nan, math.inf, -math.inf])


def test_the_configs_are_found():
    names = {cls.__name__ for cls in config_classes()}
    assert {"RunConfig", "FastGANConfig", "DCGANConfig", "StyleGANConfig", "AdaINAdaptConfig"} <= names
    assert len(NUMERIC_FIELDS) > 100


@pytest.mark.parametrize("cls, field, kind, optional", NUMERIC_FIELDS)
def test_every_numeric_field_declares_a_range(cls, field, kind, optional):
    bounds = declared(field)
    assert bounds, f"{cls.__name__}.{field.name} declares no range: give its setting() or ranged() minimum=, ..."
    assert not ("minimum" in bounds and "exclusive_minimum" in bounds)
    assert not ("maximum" in bounds and "exclusive_maximum" in bounds)


@pytest.mark.parametrize("cls, field, kind, optional", NUMERIC_FIELDS)
def test_a_value_outside_the_range_is_refused_by_validate(cls, field, kind, optional):
    cls().validate()  # the defaults are fine
    bad_values = just_outside(kind, declared(field)) + ([] if optional else [None])
    for value in bad_values:
        config = dataclasses.replace(cls(), **{field.name: value})
        # check_settings' message or a family's own (resolution, channels): both name the field.
        with pytest.raises(InputError, match=rf"Received: {field.name}=") as info:
            config.validate()
        assert str(info.value).count("\n") == 0, value  # one line for the CLI's `error:`


@pytest.mark.parametrize("cls, field, kind, optional", NUMERIC_FIELDS)
def test_the_bounds_themselves_pass_where_inclusive(cls, field, kind, optional):
    bounds = declared(field)
    for key in ("minimum", "maximum"):
        if key in bounds:
            check_settings(dataclasses.replace(cls(), **{field.name: kind(bounds[key])}))
    if optional:
        check_settings(dataclasses.replace(cls(), **{field.name: None}))


@pytest.mark.parametrize(
    "config, message",
    [
        (FastGANConfig(ngf=0), "ngf must be an integer >= 1. Received: ngf=0"),
        (FastGANConfig(g_learning_rate=math.nan), "g_learning_rate must be a finite number >= 0. Received: "
                                                  "g_learning_rate=nan"),
        (FastGANConfig(d_learning_rate=math.inf), "d_learning_rate must be a finite number >= 0. Received: "
                                                  "d_learning_rate=inf"),
        (FastGANConfig(ema_decay=1.0), "ema_decay must be a finite number in [0, 1). Received: ema_decay=1.0"),
        (DCGANConfig(ema_decay=-0.5), "ema_decay must be a finite number in [0, 1) or None. Received: ema_decay=-0.5"),
        (RunConfig(seed=-1), "seed must be an integer in [0, 4294967295]. Received: seed=-1"),
        (RunConfig(seed=2**32), "seed must be an integer in [0, 4294967295]. Received: seed=4294967296"),
        (RunConfig(steps="10"), "steps must be an integer >= 0. Received: steps='10'"),
    ],
)
def test_the_message_says_what_is_allowed_and_what_was_received(config, message):
    with pytest.raises(InputError) as info:
        config.validate()
    assert str(info.value) == message


def test_the_seed_range_is_numpys():
    """keras.utils.set_random_seed seeds NumPy's global RandomState, which
    takes exactly the declared range."""
    seed = {field.name: field for field in dataclasses.fields(RunConfig)}["seed"]
    bounds = declared(seed)
    np.random.RandomState(bounds["minimum"])
    np.random.RandomState(bounds["maximum"])
    for value in (bounds["minimum"] - 1, bounds["maximum"] + 1):
        with pytest.raises(ValueError):
            np.random.RandomState(value)
