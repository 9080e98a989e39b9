"""tfgen: few-shot image generation with TensorFlow 2 / Keras 3.

The public API is small::

    import tfgen
    G = tfgen.Generator(output_resolution=256)
    G.load_weights("generator.weights.h5")
    images = tfgen.postprocess_images(G(tfgen.create_input_noise(batch_size=4)))
    G = tfgen.load_generator("runs/my_run")       # config.json + EMA weights
    images = tfgen.generate(G, num_images=100)    # uint8 NHWC, batched
    tfgen.evaluate(real="my_images/", generator=G, metrics="fid,kid",
                   features="efficientnet_lite0")   # see tfgen.metrics
    G = tfgen.adapt("runs/figr_digits", "digits:9", steps=10)  # few-shot adaptation
    run = tfgen.train("my_images/", steps=2000, callbacks=[...])  # docs/training_api.md
"""

import os as _os
import sys as _sys

from tfgen._version import __version__

# The public names and the modules that define them: imported, with TensorFlow,
# by _load_everything().
_PUBLIC = {
    "Discriminator": ("tfgen.families.fastgan.networks", "FastGANDiscriminator"),
    "Generator": ("tfgen.families.fastgan.networks", "FastGANGenerator"),
    "evaluate": ("tfgen.metrics.evaluation", "evaluate"),
    "load_generator": ("tfgen.runs", "load_generator"),
    "create_input_noise": ("tfgen.sampling", "create_input_noise"),
    "generate": ("tfgen.sampling", "generate"),
    "postprocess_images": ("tfgen.sampling", "postprocess_images"),
    "train": ("tfgen.training.api", "train"),
    "TrainingCallback": ("tfgen.training.api", "TrainingCallback"),
}


def _load_everything():
    """Import TensorFlow (quietly when a command asks: tfgen.startup), the
    public names, and every family's networks, which registers their classes
    with Keras (``keras.saving.load_model`` then needs no custom objects)."""
    import importlib

    from tfgen.registry import import_networks
    from tfgen.startup import import_tensorflow

    if _tensorflow_backend():
        import_tensorflow()
    for name, (module, attribute) in _PUBLIC.items():
        globals()[name] = getattr(importlib.import_module(module), attribute)
    import_networks()


def _started_as_command():
    """Whether tfgen is being imported to run one of its commands (``tfgen
    train ...``, ``python -m tfgen ...``, the repository's train.py & co.):
    they import TensorFlow once their flags are parsed, so that ``--help``
    needs none. (``python -m`` sets ``sys.argv[0]`` to "-m" while it finds
    the module; the console script is named tfgen.)"""
    launcher = _os.path.basename(_sys.argv[0]) if _sys.argv else ""
    return (
        _os.environ.get("TFGEN_DEFER_IMPORTS") == "1"
        or _sys.argv[:1] == ["-m"]
        or launcher in ("tfgen", "tfgen.exe", "tfgen-script.py")
    )


def _tensorflow_backend():
    """Whether Keras runs on TensorFlow (its default). Under another backend
    (KERAS_BACKEND=jax, as on machines without TensorFlow) nothing is loaded
    before it is used: the networks and the offline metrics need no TensorFlow."""
    return _os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"


def __getattr__(name):
    # Reached only while the imports are deferred (a command): load on first use.
    if name in _PUBLIC:
        _load_everything()
        return globals()[name]
    raise AttributeError(f"module 'tfgen' has no attribute {name!r}")


if not _started_as_command() and _tensorflow_backend():
    _load_everything()


def adapt(meta_run, shots, *, steps=None, num_shots=None, seed=0, quiet=True, method=None, **options):
    """A generator of the class shown by ``shots``, adapted from a run of a
    few-shot family (shot morphing, FIGR, DCGAN / cDCGAN / InfoGAN, StyleGAN,
    L2L-GAN); the run is only read. ``options`` are the family's own (e.g.
    ``adain=`` a :class:`tfgen.families.stylegan.config.AdaINAdaptConfig`).
    :func:`tfgen.adaptation.adapt_run` gives the whole
    :class:`tfgen.adaptation.Adaptation` (config, losses) instead."""
    from tfgen.adaptation import adapt_run  # imports the family's trainer: only when used

    return adapt_run(
        meta_run, shots, steps=steps, num_shots=num_shots, seed=seed, quiet=quiet, method=method, **options
    ).generator


__all__ = [
    "Discriminator",
    "Generator",
    "TrainingCallback",
    "adapt",
    "create_input_noise",
    "evaluate",
    "generate",
    "load_generator",
    "postprocess_images",
    "train",
]
