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

from tfgen.models.fastgan import FastGANDiscriminator as Discriminator
from tfgen.models.fastgan import FastGANGenerator as Generator
from tfgen.metrics.evaluation import evaluate
from tfgen.sampling import create_input_noise, generate, load_generator, postprocess_images

__version__ = "0.1.0"


def adapt(meta_run, shots, *, steps=None, num_shots=None, seed=0, quiet=True, method=None, adain=None):
    """A generator of the class shown by ``shots``, adapted from a FIGR (Algorithm 2),
    DCGAN / cDCGAN / InfoGAN (fine-tuning) or StyleGAN (AdaIN adaptation, settings in
    ``adain``: a :class:`tfgen.config.AdaINAdaptConfig`) run; the run is only read.
    See :func:`tfgen.training.adapt.adapt` for the arguments."""
    from tfgen.training.adapt import adapt as adapt_run  # imports TensorFlow: only when used

    return adapt_run(
        meta_run, shots, steps=steps, num_shots=num_shots, seed=seed, quiet=quiet, method=method, adain=adain
    )


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
