"""L2L-GAN's adaptation to a new class: the run's phi_t (its GEMs included)
conditioned on the shots, and fine-tuned on them when asked, as Algorithm 1
fine-tunes phi_t on X_n. ``tfgen.adapt`` / :func:`tfgen.adaptation.adapt_run`
read the run and check the shots, then call :func:`adapt`.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile

import numpy as np

from tfgen.adaptation import Adaptation
from tfgen.config import RunConfig
from tfgen.data.builtin import LabelledImages
from tfgen.errors import InputError
from tfgen.families.l2l.trainer import PairTrainer, build_l2l_generator, copy_generator_weights, load_l2l_generator
from tfgen.weights import load_weights_checked


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    """An L2L generator of the class shown by ``shots`` (uint8 [n, R, R, C],
    checked): the phi_t of ``run`` (a :class:`tfgen.adaptation.MetaRun`)
    storing the shots, so that ``G(z)`` draws from them; with ``steps`` > 0
    also fine-tuned on them for that many WGAN-GP steps, as Algorithm 1
    fine-tunes phi_t on X_n (needs at least two shots, the critic's real
    pairs). ``steps`` None: 0. The run folder is only read.

    Returns a :class:`tfgen.adaptation.Adaptation` whose config is the one
    its generator was built from (``conditioning_images`` = the number of shots).
    """
    config = run.model_config
    steps = int(steps or 0)
    if steps < 0 or (steps and len(shots) < 2):
        raise InputError(
            "Fine-tuning an L2L generator needs steps >= 0 and, for steps > 0, at least two shots "
            f"(the critic's real pairs are two images of the class). Received: steps={steps}, shots={len(shots)}"
        )
    adapted = dataclasses.replace(config, conditioning_images=len(shots))
    generator_path, critic_path = run.weight_paths()
    source = load_l2l_generator(config, generator_path)
    if not steps:
        generator = build_l2l_generator(adapted)
        copy_generator_weights(generator, source)
        generator.set_conditioning(shots)
        return Adaptation(generator, run, adapted)

    stage = RunConfig(name="adapt", runs_dir=tempfile.mkdtemp(prefix="tfgen_l2l_"), data="shots", steps=steps, seed=seed)
    labels = np.zeros(len(shots), np.int64)
    trainer = PairTrainer(adapted, stage, images=LabelledImages(shots, labels, ["new"]), gems="all", quiet=True)
    copy_generator_weights(trainer.generator, source)
    load_weights_checked(trainer.discriminator, critic_path, expected="the run's L2L critic")
    trainer.generator.set_conditioning(shots)
    batches = iter(trainer.distribute(trainer.data.dataset))
    for step in range(steps):
        losses = trainer.train_function(next(batches))
        if not quiet and ((step + 1) % 10 == 0 or step + 1 == steps):
            print(f"fine-tuning l2l: step {step + 1}/{steps} " + " ".join(f"{k}={float(v):.3f}" for k, v in losses.items()))
    shutil.rmtree(stage.runs_dir, ignore_errors=True)
    return Adaptation(trainer.generator, run, adapted)


__all__ = ["adapt"]
