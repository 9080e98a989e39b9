"""Shot morphing's adaptation to a new class: its shots registered pair by
pair (:class:`tfgen.morph.ShotMorpher`) and the generator that morphs
between them and varies them under the policy the run fitted, holding, when
the policy uses them, the run's flow bank and style prior.
``tfgen.adapt`` / :func:`tfgen.adaptation.adapt_run` read the run and check
the shots, then call :func:`adapt`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfgen.adaptation import Adaptation
from tfgen.errors import InputError
from tfgen.families.shotmorph.policy import ShotPolicy, policy_generator
from tfgen.families.shotmorph.restyle import StylePrior
from tfgen.families.shotmorph.trainer import BANK_FILE, POLICY_FILE, STYLE_PRIOR_FILE
from tfgen.morph import ShotMorpher
from tfgen.run_folder import RunFolder


def adapt(run, shots, *, steps=None, seed=0, quiet=True):
    """The :class:`tfgen.families.shotmorph.networks.ShotMorphGenerator` of
    ``shots`` (uint8 [k, R, R, C], checked) under the fitted policy of
    ``run`` (a :class:`tfgen.adaptation.MetaRun`), as a
    :class:`tfgen.adaptation.Adaptation` whose config is the run's with
    ``num_shots = k`` and the sizes of the bank and style the generator
    holds. ``steps`` is refused (nothing trains); nothing is drawn."""
    if steps:
        raise InputError(f"Shot morphing has no adaptation steps (it registers the shots). Received: steps={steps}")
    config, folder = run.model_config, RunFolder(run.folder)
    if not os.path.isfile(folder.path(POLICY_FILE)):
        raise FileNotFoundError(
            f"{run.folder!r} has no fitted policy ({POLICY_FILE}): its training did not finish. "
            "Run the same train.py command again to finish it."
        )
    policy = ShotPolicy.of(config)
    bank = style_prior = None
    if policy.bank_scale > 0:
        with np.load(folder.path(BANK_FILE)) as stored:
            bank = stored["flows"]
    if policy.restyles:
        style_prior = StylePrior.load(folder.path(STYLE_PRIOR_FILE))
    generator = policy_generator(ShotMorpher.from_shots(shots), policy, bank, style_prior)
    adapted = dataclasses.replace(config, num_shots=len(shots), bank_size=generator.bank_size,
                                  style_size=generator.style_size)  # fmt: skip
    return Adaptation(generator, run, adapted)


__all__ = ["adapt"]
