"""DAGAN's adaptation to a new class, which trains nothing: the UNet is
copied into a generator that holds the new class's shots, and each image is
G(shot_i, z) with i picked by z. ``tfgen.adapt`` /
:func:`tfgen.adaptation.adapt_run` read the run and check the shots, then
call :func:`adapt`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgen.adaptation import Adaptation
from tfgen.errors import InputError
from tfgen.registry import get_family


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    """The generator of a trained DAGAN run (a :class:`tfgen.adaptation.MetaRun`)
    holding ``shots`` (uint8 [k, R, R, C] of a new class, checked), as a
    :class:`tfgen.adaptation.Adaptation`. Each image it makes is G(shot_i, z)
    with i picked by z's first entry
    (:meth:`~tfgen.families.dagan.networks.DAGANGenerator.shot_index`). The
    adapted config is the run's with ``held_shots = k``. ``steps`` is
    refused (nothing trains); ``seed`` is unused (nothing is drawn)."""
    del seed, quiet
    if steps:
        raise InputError(
            f"DAGAN adapts without training (its generator turns each shot into new images): drop --adapt-steps. "
            f"Received: steps={steps}"
        )
    config = run.model_config
    generator_path, _ = run.weight_paths()
    family = get_family(run.family)
    trained = family.build_generator(config)
    trained.load_weights(generator_path)
    adapted_config = dataclasses.replace(config, held_shots=len(shots))
    generator = family.build_generator(adapted_config)
    generator.unet.set_weights(trained.unet.get_weights())
    generator.set_shots(shots.astype(np.float32) / 127.5 - 1.0)
    return Adaptation(generator, run, adapted_config)


__all__ = ["adapt"]
