"""What makes a generator style-based: a mapping network z -> w and a
synthesis network ws -> images. The metrics that walk W (perceptual path
length, linear separability in W) and the style pictures
(:mod:`tfgen.style_sampling`) need only this interface, not a family: any
generator that has these attributes works with them.
"""

from __future__ import annotations

from tfgen.errors import InputError

STYLE_GENERATOR_INTERFACE = ("mapping", "map", "broadcast_w", "synthesize", "latent_dim", "num_ws")


def is_style_generator(generator):
    """Whether ``generator`` has every attribute of :data:`STYLE_GENERATOR_INTERFACE`."""
    return all(getattr(generator, name, None) is not None for name in STYLE_GENERATOR_INTERFACE)


def require_style_generator(generator, what):
    """An InputError, naming ``what`` needs it, unless ``generator`` has the
    style-based interface (:data:`STYLE_GENERATOR_INTERFACE`)."""
    missing = [name for name in STYLE_GENERATOR_INTERFACE if getattr(generator, name, None) is None]
    if missing:
        raise InputError(
            f"{what} needs a style-based generator (a mapping network z -> w and a synthesis "
            "network ws -> images, such as tfgen.families.stylegan.networks.StyleGenerator, `train.py --model "
            f"stylegan`); {getattr(generator, 'name', type(generator).__name__)!r} has no "
            f"{', '.join(missing)}. Received: generator={type(generator).__name__}"
        )
