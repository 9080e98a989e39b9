"""Few-shot adaptation: from a meta-trained (or pre-trained) run and n images of
an unseen class to a generator of that class.

``adapt(meta_run, shots, steps=K)`` dispatches on the run's family:

* ``figr`` -- FIGR's Algorithm 2: K inner WGAN-GP steps on the n shots from
  the meta-weights (:func:`tfgen.training.reptile.adapt_to_shots`);
* ``dcgan``, ``cdcgan``, ``infogan`` -- the transfer-learning baselines: the
  shots augmented to ``augmented_shots`` images, then K steps of fine-tuning
  from the pre-trained weights (:func:`tfgen.training.transfer.finetune_on_shots`);
* ``stylegan`` -- AdaIN adaptation: per-shot latents and the AdaIN affine
  maps fitted to the shots with a perceptual + L1 + interpolation loss
  (:func:`tfgen.training.style_adapt.adapt_adain`);
* ``l2l`` -- the run's phi_t conditioned on the shots (it is an
  image-to-image generator), fine-tuned on them for K steps when K > 0
  (default 0) (:func:`tfgen.training.l2l.condition_on_shots`);
* ``shotmorph`` -- the shots registered pair by pair; the generator morphs
  between them and augments them under the policy the run fitted on its
  training classes (:func:`tfgen.training.shot_morph.morph_shots`; no steps).

The run folder is only read: its weights files are never modified.
:func:`save_adapted` writes the adapted generator as a run folder of its
own, which ``tfgen.load_generator`` and ``generate.py`` load like any other.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from tfgen.config import load_run_config, save_run_config
from tfgen.sampling import CONFIG_FILE, DISCRIMINATOR_WEIGHTS, EMA_WEIGHTS, RAW_WEIGHTS
from tfgen.weights import save_weights_atomic

META_FAMILIES = ("figr", "dcgan", "cdcgan", "infogan", "stylegan", "l2l", "shotmorph")
# Adaptation method of each family (generate.py --method).
METHODS = {"figr": "reptile", "dcgan": "finetune", "cdcgan": "finetune", "infogan": "finetune", "stylegan": "adain", "l2l": "condition",
           "shotmorph": "morph"}


def read_meta_run(meta_run, *, expected_families=META_FAMILIES, reader="tfgen.adapt adapts"):
    """``(family, model_config, run_config)`` of a run folder of one of
    ``expected_families``, or a clear error; ``reader`` names the caller in it."""
    meta_run = os.fspath(meta_run)
    if not os.path.isfile(os.path.join(meta_run, CONFIG_FILE)):
        raise FileNotFoundError(
            f"{meta_run!r} is not a run folder (no {CONFIG_FILE}). Pass the folder a FIGR, "
            "DCGAN, cDCGAN, InfoGAN, StyleGAN, L2L-GAN or shot-morphing run was trained into, e.g. runs/figr_digits."
        )
    family, model_config, run_config = load_run_config(meta_run)
    if family not in expected_families:
        raise ValueError(
            f"{reader} {', '.join(expected_families)} runs, but {meta_run!r} is a {family} run. "
            "Train one with `python train.py --model figr` (or dcgan, cdcgan, infogan, stylegan, l2l, shotmorph); "
            "tfgen.adapt takes any of them. "
            f"Received: family={family!r}"
        )
    return family, model_config, run_config


def meta_weight_paths(meta_run):
    """Paths of the run's generator and discriminator weights, which must exist."""
    paths = tuple(os.path.join(os.fspath(meta_run), name) for name in (RAW_WEIGHTS, DISCRIMINATOR_WEIGHTS))
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            f"Run folder {os.fspath(meta_run)!r} lacks {', '.join(map(repr, missing))}. "
            "train.py writes them when training finishes; if the run was interrupted, run the "
            "same command again to resume it to completion."
        )
    return paths


def check_shots(shots, model_config):
    """``shots`` as uint8 [n, R, R, C] matching the run, or a ValueError."""
    images = np.asarray(shots)
    expected = (model_config.resolution, model_config.resolution, model_config.channels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected or len(images) < 1:
        raise ValueError(
            f"The shots must be uint8 images [n, {expected[0]}, {expected[1]}, {expected[2]}] "
            "(the run's resolution and channels), n >= 1; tfgen.data.episodes.load_shots makes "
            f"them from a folder or a class. Received: dtype={images.dtype}, shape={images.shape}"
        )
    return images


def load_shots_for_run(spec, model_config, *, num_shots=None, seed=0):
    """The shots named by ``spec`` (a folder of images or a class such as
    ``digits:9``) at the run's resolution and channels."""
    from tfgen.data.episodes import load_shots

    return load_shots(
        spec,
        # L2L's few-shot sets hold samples_per_class images of a class.
        shots=int(num_shots or getattr(model_config, "shots", None) or model_config.samples_per_class),
        resolution=model_config.resolution,
        channels=model_config.channels,
        seed=seed,
    )


def adapt(meta_run, shots, *, steps=None, num_shots=None, seed=0, quiet=True, method=None, adain=None, options=None):
    """A generator of the class shown by ``shots``, adapted from ``meta_run``.

    Args:
        meta_run: a run folder of a ``figr``, ``dcgan``, ``cdcgan``,
            ``infogan``, ``stylegan``, ``l2l`` or ``shotmorph`` run (read only).
        shots: uint8 images [n, R, R, C] at the run's resolution and channels,
            or a folder of images / a class of a labelled dataset (``digits:9``),
            from which ``num_shots`` (default: the run's ``shots``) are drawn
            with ``seed``.
        steps: adaptation steps K (default: the run's ``adapt_steps``; AdaIN:
            ``adain.steps``; L2L-GAN: 0, conditioning alone).
        seed: seed of the shot choice, augmentation and training noise.
        method: ``reptile`` (FIGR), ``finetune`` (the DCGANs), ``adain``
            (StyleGAN), ``condition`` (L2L-GAN) or ``morph`` (shot morphing); None takes the family's (``METHODS``), which is the
            only one each family supports.
        adain: an :class:`tfgen.config.AdaINAdaptConfig` for ``adain``.
        options: keyword arguments of the fine-tuning of the transfer
            baselines (:func:`tfgen.training.transfer.finetune_on_shots`:
            ``base_mix``, ``freeze_d``, ``generator_part``).

    Returns:
        The adapted generator (a Keras model: ``tfgen.generate(G, n)`` works).
        After AdaIN adaptation it has ``adaptation_losses`` (per-step losses).
    """
    family, model_config, _ = read_meta_run(meta_run)
    expected = METHODS[family]
    if method is not None and method != expected:
        raise ValueError(
            f"{meta_run!r} is a {family} run, which adapts with method {expected!r}. "
            f"Received: method={method!r}"
        )
    if options and family not in ("dcgan", "cdcgan", "infogan"):
        raise ValueError(f"options are for the fine-tuning of dcgan, cdcgan and infogan runs; this is a {family} run.")
    if isinstance(shots, (str, os.PathLike)):
        shots = load_shots_for_run(os.fspath(shots), model_config, num_shots=num_shots, seed=seed)
    if family == "shotmorph":
        if steps:
            raise ValueError(f"Shot morphing has no adaptation steps (it registers the shots). Received: steps={steps}")
        from tfgen.training.shot_morph import morph_shots

        return morph_shots(meta_run, model_config, shots)
    if family == "l2l":
        from tfgen.training.l2l import condition_on_shots

        return condition_on_shots(meta_run, shots, steps=steps, seed=seed, quiet=quiet)
    if family == "figr":
        from tfgen.training.reptile import adapt_to_shots

        return adapt_to_shots(meta_run, shots, steps=steps, seed=seed, quiet=quiet)
    if family == "stylegan":
        from tfgen.config import AdaINAdaptConfig
        from tfgen.training.style_adapt import adapt_adain

        config = adain or AdaINAdaptConfig()
        if steps is not None:
            config = dataclasses.replace(config, steps=int(steps))
        result = adapt_adain(meta_run, shots, config=config, seed=seed, quiet=quiet)
        result.generator.adaptation_losses = result.losses
        return result.generator
    from tfgen.training.transfer import finetune_on_shots

    return finetune_on_shots(meta_run, shots, steps=steps, seed=seed, quiet=quiet, **(options or {}))


def save_adapted(generator, meta_run, out_dir):
    """Write an adapted generator as a run folder: ``config.json`` (the meta
    run's, with any adapted settings such as cDCGAN's ``sample_class``) and
    ``generator.weights.h5`` (and, for families with an EMA generator, the
    same weights as ``generator_ema.weights.h5``). Returns ``out_dir``."""
    family, model_config, run_config = read_meta_run(meta_run)
    model_config = getattr(generator, "adapted_config", model_config)
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    run_config = dataclasses.replace(
        run_config, name=os.path.basename(os.path.normpath(out_dir)), runs_dir=os.path.dirname(out_dir)
    )
    save_run_config(os.path.join(out_dir, CONFIG_FILE), family, model_config, run_config)
    save_weights_atomic(generator, os.path.join(out_dir, RAW_WEIGHTS))
    if getattr(model_config, "ema_decay", None) is not None:
        # StyleGAN adapts its EMA generator; loaders look for the EMA file first.
        save_weights_atomic(generator, os.path.join(out_dir, EMA_WEIGHTS))
    return out_dir


__all__ = ["META_FAMILIES", "METHODS", "adapt", "check_shots", "load_shots_for_run", "save_adapted"]
