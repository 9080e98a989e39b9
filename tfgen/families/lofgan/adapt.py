"""LoFGAN's adaptation to a new class, which trains nothing (the paper's
point: no fine-tuning at test time): the generator's encoder and decoder are
copied and the new class's shots are put in its hands. ``tfgen.adapt`` /
:func:`tfgen.adaptation.adapt_run` read the run and check the shots, then
call :func:`adapt`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgen.adaptation import Adaptation
from tfgen.errors import InputError
from tfgen.registry import get_family


def held_images(shots, fused_shots, *, seed=0):
    """The images an adapted generator holds, float32 [-1, 1]: the shots; a
    single shot cannot be fused with anything, so it comes with
    ``fused_shots - 1`` classic augmentations of itself
    (:func:`tfgen.data.episodes.augment_shots`), which the LFM fuses with it."""
    from tfgen.data.episodes import augment_shots

    shots = np.asarray(shots)
    if len(shots) == 1 and fused_shots > 1:
        return augment_shots(shots, count=fused_shots, seed=seed)
    return shots.astype(np.float32) / 127.5 - 1.0


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    """The generator of a trained LoFGAN run (a :class:`tfgen.adaptation.MetaRun`)
    holding ``shots`` (uint8 [k, R, R, C] of a new class, checked), as a
    :class:`tfgen.adaptation.Adaptation`. Each image it makes fuses
    ``min(k, shots)`` of them (z picks which); with k = 1, the shot and
    augmentations of it (:func:`held_images`, drawn with ``seed``). The
    adapted config is the run's with ``held_shots`` = the images held.
    ``steps`` is refused: nothing trains."""
    if steps:
        raise InputError(
            f"LoFGAN adapts without training (its generator fuses the shots): drop --adapt-steps. Received: steps={steps}"
        )
    config = run.model_config
    generator_path, _ = run.weight_paths()
    family = get_family(run.family)
    trained = family.build_generator(config)
    trained.load_weights(generator_path)
    held = held_images(shots, config.shots, seed=seed)
    adapted_config = dataclasses.replace(config, held_shots=len(held))
    generator = family.build_generator(adapted_config)
    for part in ("encoder", "decoder"):
        getattr(generator, part).set_weights(getattr(trained, part).get_weights())
    generator.set_shots(held)
    return Adaptation(generator, run, adapted_config)


__all__ = ["adapt", "held_images"]
