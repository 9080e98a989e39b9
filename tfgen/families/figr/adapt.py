"""FIGR's adaptation to an unseen class (Algorithm 2 of Clouâtre & Demers,
2019): the meta-trained networks copied and trained for K inner steps on the
n shots, by the same compiled inner loop as meta-training
(:mod:`tfgen.families.figr.batched`). ``tfgen.adapt`` /
:func:`tfgen.adaptation.adapt_run` read the run and check the shots, then
call :func:`adapt`.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfgen.adaptation import Adaptation
from tfgen.errors import InputError
from tfgen.families.figr.batched import compiled_inner_loop, draw_noise, stack_for_tasks
from tfgen.registry import get_family


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    """Algorithm 2: the meta-trained FIGR generator adapted to ``shots``.

    Copies the meta-weights of ``run`` (a :class:`tfgen.adaptation.MetaRun`
    of a :class:`~tfgen.families.figr.trainer.ReptileTrainer` run) into new
    networks, trains them for ``steps`` inner steps (default: the run's
    ``adapt_steps``) on the shots (uint8 [n, R, R, C], checked), and returns
    the adapted generator. Nothing is written: the meta-weights on disk stay
    as they are.

    Args:
        steps: K; None takes the config's ``adapt_steps``.
        seed: seed of z and the interpolation weights.
    """
    config = run.model_config
    steps = int(steps if steps is not None else config.adapt_steps)
    if steps < 1:
        raise InputError(f"steps must be >= 1. Received: steps={steps}")
    generator_path, critic_path = run.weight_paths()
    family = get_family(run.family)
    generator = family.build_generator(config)
    critic = family.build_discriminator(config)
    generator.load_weights(generator_path)
    critic.load_weights(critic_path)
    inner_loop = compiled_inner_loop(config, family.build_generator, family.build_discriminator)
    real = tf.constant(shots.astype("float32") / 127.5 - 1.0)[None]  # one task
    noise = draw_noise(
        tf.constant([seed, 0], tf.int64), steps=steps, tasks=1, shots=len(shots), latent_dim=config.latent_dim
    )
    adapted, _, _, _ = inner_loop(
        real, noise, stack_for_tasks(generator.trainable_variables, 1), stack_for_tasks(critic.trainable_variables, 1)
    )
    for variable, value in zip(generator.trainable_variables, adapted):
        variable.assign(value[0])
    return Adaptation(generator, run, dataclasses.replace(config))


__all__ = ["adapt"]
