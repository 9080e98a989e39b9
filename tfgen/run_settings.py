"""How a run's settings are made: the family's presets over the defaults,
the user's settings over both (:func:`make_configs`, what ``tfgen train``
and :func:`tfgen.train` both build), and a run's default name.

Above :mod:`tfgen.config` (which holds the settings themselves) because it
also asks the feature networks which FID extractor a run gets by default.
"""

from __future__ import annotations

import dataclasses
import re

from tfgen.config import RUN_PRESETS, RunConfig
from tfgen.errors import InputError


def default_run_name(data, model="fastgan"):
    """``<model>_<data>`` with the data's last path part, e.g. fastgan_cats, figr_digits."""
    last = re.split(r"[\\/]", data.rstrip("/\\"))[-1] or "data"
    return f"{model}_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_")


def setting_names(family):
    """``(the model config's field names, RunConfig's)``: what a run of
    ``family`` takes as settings (RunConfig's name and data come apart)."""
    model_fields = {field.name for field in dataclasses.fields(family.config_class)}
    run_fields = {field.name for field in dataclasses.fields(RunConfig)} - {"name", "data"}
    return model_fields, run_fields


def make_configs(family, data, model_settings, run_settings, *, steps_given, name=None):
    """``(model config, RunConfig)`` of a run of ``family`` on ``data``, validated:
    ``model_settings`` and ``run_settings`` (field name -> value) over the
    family's presets (:data:`RUN_PRESETS` too), which are over the defaults.

    How long it trains: a family that trains in stages of its own takes no
    steps (and refuses a time budget); without ``steps_given``, epochs or a
    time budget alone say how long instead of the family's steps. What
    ``tfgen train`` and :func:`tfgen.train` both build."""
    model_fields, run_fields = setting_names(family)
    model = {k: v for k, v in family.presets.items() if k in model_fields} | dict(model_settings)
    presets = {**RUN_PRESETS, **family.presets}
    run = {k: v for k, v in presets.items() if k in run_fields} | dict(run_settings)
    if not family.trains_in_steps:
        if run.get("time_budget") is not None:
            raise InputError(
                f"--model {family.name} trains in stages of its own, which --time-budget cannot stop: "
                f"remove it. Received: --time-budget={run['time_budget']!r}"
            )
        run["steps"] = 0  # its length is in its config (stages, a fit)
    elif not steps_given and (run.get("epochs") or run.get("time_budget") is not None):
        run["steps"] = 0  # epochs, or the budget alone, say how long instead of the family's steps
    if run.get("fid_features") is None:  # the default extractor, chosen once and saved with the run
        from tfgen.features.extractor import default_features

        run["fid_features"] = default_features(run.get("fid_feature_weights"))
    model_config = family.config_class(**model)
    run_config = RunConfig(name=name or default_run_name(data, family.name), data=data, **run)
    model_config.validate()
    run_config.validate()
    return model_config, run_config
