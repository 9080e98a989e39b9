"""Few-shot adaptation: from a finished run of an adaptable family and n
images of an unseen class to a generator of that class.

:func:`adapt_run` is the one way in: it reads the run folder once (a
:class:`MetaRun`), checks the method, the options and the shots
(:func:`check_shots`), and hands the run and the checked shots to the adapter
its family registers (``ModelFamily.adapter``; :class:`tfgen.registry.ModelFamily`
states the contract: the adapter reads nothing again and re-checks nothing);
every adapter returns an :class:`Adaptation`. The adapters, each the
``adapt`` of its ``tfgen/families/<package>/adapt.py``:

* ``figr`` -- FIGR's Algorithm 2: K inner WGAN-GP steps on the n shots from
  the meta-weights (``reptile``);
* ``dcgan``, ``cdcgan``, ``infogan`` -- the transfer-learning baselines: the
  shots augmented, then K steps of fine-tuning (``finetune``, the default);
  batch statistics adaptation (``bsa``); fine-tuning with the cross-domain
  distance consistency loss (``cdc``);
* ``stylegan`` -- per-shot latents and the AdaIN affine maps fitted to the
  shots (``adain``);
* ``l2l`` -- the run's phi_t conditioned on the shots, fine-tuned on them for
  K steps when K > 0 (``condition``);
* ``shotmorph`` -- the shots registered pair by pair; the generator morphs
  between them and varies them under the policy the run fitted (``morph``);
* ``lofgan`` -- the generator holding the shots, fusing their local
  features, no training (``fuse``);
* ``dagan`` -- the generator holding the shots, each image G(shot_i, z), no
  training (``condition``).

The run folder is only read. :func:`save_adapted` writes an adaptation as a
run folder of its own, which ``tfgen.load_generator`` and ``generate.py``
load like any other.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from tfgen.config import RunConfig, ema_decay_of
from tfgen.registry import adaptable_families, get_family
from tfgen.errors import InputError
from tfgen.run_folder import CONFIG_FILE, RunFolder
from tfgen.runs import load_run_config, save_run_config


@dataclasses.dataclass(frozen=True)
class MetaRun:
    """A finished run folder, read once: what adapters start from."""

    folder: str
    family: str
    model_config: Any
    run_config: RunConfig

    def weight_paths(self):
        """Paths of the run's generator and discriminator weights, which must exist."""
        folder = RunFolder(self.folder)
        paths = (folder.raw_weights, folder.discriminator_weights)
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"Run folder {self.folder!r} lacks {', '.join(map(repr, missing))}. "
                "train.py writes them when training finishes; if the run was interrupted, run the "
                "same command again to resume it to completion."
            )
        return paths


@dataclasses.dataclass
class Adaptation:
    """An adapted generator and what it was made from.

    ``config`` is the model config the adapted generator is built from (for
    the cDCGAN, ``sample_class`` is the new class's slot; for L2L-GAN,
    ``conditioning_images`` the number of shots); :func:`save_adapted` writes
    it as the adapted run's ``config.json``. ``losses``: per-step losses where
    the adaptation trains (name -> list of floats), else None.
    """

    generator: Any  # keras.Model
    run: MetaRun
    config: Any
    losses: dict | None = None


def adapt_methods(family):
    """The adaptation methods of ``family`` (a ModelFamily), its default
    (``adapt_method``) first. A family whose adapter offers several lists
    them as ``adapt_methods`` and is passed the one chosen as ``method=``;
    () for families that do not adapt."""
    return family.adapt_methods or ((family.adapt_method,) if family.adapt_method else ())


def read_meta_run(meta_run, *, families=None, reader="tfgen.adapt adapts"):
    """``meta_run`` (a run folder, or a :class:`MetaRun` already read) as a
    :class:`MetaRun` of one of ``families`` (default: every adaptable
    family), or a clear error naming ``reader``."""
    families = tuple(families or adaptable_families())
    if not isinstance(meta_run, MetaRun):
        folder = os.fspath(meta_run)
        if not os.path.isfile(RunFolder(folder).config):
            raise FileNotFoundError(
                f"{folder!r} is not a run folder (no {CONFIG_FILE}). Pass the folder a few-shot run "
                f"({', '.join(families)}) was trained into, e.g. runs/shotmorph_digits."
            )
        meta_run = MetaRun(folder, *load_run_config(folder))
    if meta_run.family not in families:
        raise InputError(
            f"{reader} {', '.join(families)} runs, but {meta_run.folder!r} is a {meta_run.family} run. "
            f"Train one with `python train.py --model {families[0]}`. Received: family={meta_run.family!r}"
        )
    return meta_run


def check_shots(shots, model_config):
    """``shots`` as uint8 [n, R, R, C] matching the run, or a ValueError."""
    images = np.asarray(shots)
    expected = (model_config.resolution, model_config.resolution, model_config.channels)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != expected or len(images) < 1:
        raise InputError(
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


def adapt_run(meta_run, shots, *, steps=None, num_shots=None, seed=0, quiet=True, method=None, **options):
    """Adapt ``meta_run`` to the class shown by ``shots``; an :class:`Adaptation`.

    Args:
        meta_run: a finished run folder of an adaptable family (read only),
            or a :class:`MetaRun`.
        shots: uint8 images [n, R, R, C] at the run's resolution and channels,
            or a folder of images / a class of a labelled dataset (``digits:9``),
            from which ``num_shots`` (default: the run's ``shots``) are drawn
            with ``seed``.
        steps: adaptation steps K (None: the family's default).
        seed: seed of the shot choice, augmentation and training noise.
        method: one of the family's methods (:func:`adapt_methods`: its
            ``adapt_method``, and for the DCGANs also ``bsa`` and ``cdc``), or
            None for its default; any other is refused.
        options: the family adapter's own options (``adapter_options``), e.g.
            ``adain`` (StyleGAN) or ``base_mix``, ``freeze_d``, ``bsa``, ``cdc`` (the DCGANs).
    """
    run = read_meta_run(meta_run)
    family = get_family(run.family)
    methods = adapt_methods(family)
    if method is not None and method not in methods:
        names = " or ".join(repr(m) for m in methods)
        raise InputError(f"{run.folder!r} is a {run.family} run, which adapts with method {names}. "
                         f"Received: method={method!r}")  # fmt: skip
    unknown = sorted(set(options) - set(family.adapter_options))
    if unknown:
        raise InputError(
            f"A {run.family} run's adaptation takes the options {list(family.adapter_options)}. "
            f"Received: {unknown}"
        )
    if isinstance(shots, (str, os.PathLike)):
        shots = load_shots_for_run(os.fspath(shots), run.model_config, num_shots=num_shots, seed=seed)
    shots = check_shots(shots, run.model_config)
    if len(methods) > 1:  # the adapter chooses between its methods
        options["method"] = method or methods[0]
    return family.adapter_function()(run, shots, steps=steps, seed=seed, quiet=quiet, **options)


def save_adapted(adaptation, out_dir):
    """Write ``adaptation`` as a run folder: ``config.json`` (the meta run's,
    with the adapted model config) and ``generator.weights.h5`` (and, for
    families with an EMA generator, the same weights as
    ``generator_ema.weights.h5``). Returns ``out_dir``."""
    from tfgen.weights import save_weights_atomic

    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    run_config = dataclasses.replace(
        adaptation.run.run_config, name=os.path.basename(os.path.normpath(out_dir)), runs_dir=os.path.dirname(out_dir)
    )
    model_config = adaptation.config
    folder = RunFolder(out_dir)
    save_run_config(folder.config, adaptation.run.family, model_config, run_config)
    save_weights_atomic(adaptation.generator, folder.raw_weights)
    if ema_decay_of(model_config) is not None:
        # Loaders look for the EMA file first.
        save_weights_atomic(adaptation.generator, folder.ema_weights)
    return out_dir


__all__ = ["Adaptation", "MetaRun", "adapt_methods", "adapt_run", "check_shots", "load_shots_for_run", "read_meta_run", "save_adapted"]
