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
"""

from tfgen.models.fastgan import FastGANDiscriminator as Discriminator
from tfgen.models.fastgan import FastGANGenerator as Generator
from tfgen.metrics.evaluation import evaluate
from tfgen.sampling import create_input_noise, generate, load_generator, postprocess_images

__version__ = "0.1.0"

__all__ = [
    "Discriminator",
    "Generator",
    "create_input_noise",
    "evaluate",
    "generate",
    "load_generator",
    "postprocess_images",
]
