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
"""

from tfgen.startup import import_tensorflow

import_tensorflow()  # quietly when a CLI asks (tfgen.startup)

from tfgen.families.fastgan.networks import FastGANDiscriminator as Discriminator, FastGANGenerator as Generator
from tfgen.metrics.evaluation import evaluate
from tfgen.registry import import_networks
from tfgen.runs import load_generator
from tfgen.sampling import create_input_noise, generate, postprocess_images

from tfgen._version import __version__  # noqa: E402  (written once: tfgen/_version.py)

# Every family's networks registered with Keras: .keras archives of any family load.
import_networks()


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
    "adapt",
    "create_input_noise",
    "evaluate",
    "generate",
    "load_generator",
    "postprocess_images",
]
