"""Evaluate generated images against real ones: the library behind evaluate.py.

    from tfgen.metrics import evaluate
    result = evaluate(real="digits:3", generator="runs/fastgan_digits_3",
                      metrics="fid,kid,pr", features="efficientnet_lite0", num_images=1000)
    result["metrics"]["fid"]

Generated images come from a generator (a model, or a path that
``tfgen.load_generator`` accepts), a folder, or a uint8 array. Real images
are read at the generated images' resolution, and their features come from
the on-disk cache (:mod:`tfgen.metrics.cache`).
"""

from __future__ import annotations

import itertools
import os
import time

import numpy as np

from tfgen.metrics import registry
from tfgen.metrics.features import FeatureExtractor, extract_features, get_extractor

# Generated images drawn when a generator is evaluated and no count is given;
# the FastGAN paper compares 5000 generated images with the real set.
DEFAULT_NUM_GENERATED = 5000


def evaluate(
    *,
    real: str,
    generator=None,
    generated=None,
    metrics="fid",
    features: str | FeatureExtractor = "inception",
    extractor_options: dict | None = None,
    num_images: int | None = None,
    num_real: int | None = None,
    target_class=None,
    batch_size: int = 50,
    seed: int = 0,
    cache_dir: str | None = None,
    use_cache: bool = True,
    progress: bool = False,
) -> dict:
    """Compute ``metrics`` for generated images against the real set ``real``.

    Args:
        real: a folder of images or a bundled dataset name (the training data).
        generator: a Keras generator, or a run folder / weights file / .keras
            archive; exclusive with ``generated``.
        generated: a folder of images or a uint8 array ``[N, R, R, C]``.
        metrics: names, comma-joined or a list (see ``registry.METRICS``).
        features: an extractor name (``inception``, ``efficientnet_lite0``,
            ``classifier``) or a built :class:`FeatureExtractor`.
        extractor_options: passed to the extractor, e.g.
            ``{"weights_path": ...}`` or ``{"path": "runs/classifier"}``.
        num_images: generated images to use (generator default: 5000; folder
            or array default: all).
        num_real: real images to use (default: all), a seeded subset otherwise.
        target_class: class index or name, for the ``accuracy`` metric.

    Returns:
        ``{"metrics": {name: value}, "features": ..., "num_generated": ...,
        "num_real": ..., "resolution": ..., "seconds": ...}``.
    """
    # Imported here: reading real images needs TensorFlow, the rest of the
    # metrics do not (they also run under JAX on machines without TF).
    from tfgen.metrics.cache import load_real_images, real_features

    started = time.perf_counter()
    chosen = registry.parse_metric_names(metrics)
    needs = set().union(*(metric.needs for metric in chosen))
    extractor = features if isinstance(features, FeatureExtractor) else get_extractor(
        features, **(extractor_options or {})
    )
    if registry.LOGITS in needs and extractor.num_classes is None:
        names = [m.name for m in chosen if registry.LOGITS in m.needs]
        raise ValueError(
            f"Metrics {names} need class logits, but the {extractor.name!r} extractor has no "
            "classifier head (e.g. InceptionV3 'notop' weights). Use full weights or drop them."
        )
    target_index = _target_class_index(target_class, extractor) if registry.TARGET_CLASS in needs else None

    fake_images, source_name, resolution, num_generated = _generated_images(
        generator, generated, num_images, batch_size, seed, keep=registry.PIXELS in needs
    )
    fake_outputs = extract_features(
        extractor,
        fake_images,
        batch_size=batch_size,
        progress=progress,
        total=num_generated,
        description="generated features",
    )
    real_outputs = real_features(
        real,
        extractor,
        resolution=resolution,
        num_images=num_real,
        seed=seed,
        batch_size=batch_size,
        cache_dir=cache_dir,
        use_cache=use_cache,
        progress=progress,
    )
    real_images = None
    if registry.PIXELS in needs:
        real_images = load_real_images(real, resolution=resolution, num_images=num_real, seed=seed)

    inputs = registry.MetricInputs(
        real_features=real_outputs["features"],
        fake_features=fake_outputs["features"],
        fake_logits=fake_outputs.get("logits"),
        real_images=real_images,
        fake_images=fake_images if registry.PIXELS in needs else None,
        target_class=target_index,
        seed=seed,
    )
    values = {}
    for metric in chosen:
        values.update({key: float(value) for key, value in metric.compute(inputs).items()})
    return {
        "metrics": values,
        "features": extractor.name,
        "generated": source_name,
        "real": os.fspath(real),
        "num_generated": num_generated,
        "num_real": int(len(real_outputs["features"])),
        "resolution": resolution,
        "target_class": target_index,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _generated_images(generator, generated, num_images, batch_size, seed, *, keep):
    """(images, where from, resolution, count) of the generated set.

    Images are a uint8 array ``[N, R, R, 3]``, except for a generator when
    ``keep`` is False: then a stream of batches, so that thousands of large
    images never sit in memory at once (features are all that is kept).
    """
    if (generator is None) == (generated is None):
        raise ValueError("Give exactly one of generator= (a model or run folder) or generated= (images).")
    if generator is not None:
        from tfgen.sampling import iter_generate, load_generator

        name = os.fspath(generator) if isinstance(generator, (str, os.PathLike)) else generator.name
        model = load_generator(generator) if isinstance(generator, (str, os.PathLike)) else generator
        count = DEFAULT_NUM_GENERATED if num_images is None else int(num_images)
        if count < 2:
            raise ValueError(f"Need at least 2 generated images. Received: num_images={count}")
        batches = iter_generate(model, count, batch_size=batch_size, seed=seed)
        first = next(batches)
        resolution = _square_resolution(first)
        images = itertools.chain([first], batches)
        if keep:
            images = np.concatenate(list(images))
        return images, name, resolution, count
    if isinstance(generated, (str, os.PathLike)):
        images = read_image_folder(os.fspath(generated))
        name = os.fspath(generated)
    else:
        images, name = np.asarray(generated), "array"
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(
            "Generated images must be a uint8 array [N, H, W, C]. "
            f"Received: shape={images.shape}, dtype={images.dtype}"
        )
    if num_images is not None:
        if num_images > len(images):
            raise ValueError(
                f"Asked for {num_images} generated images but {name!r} has {len(images)}. "
                "Lower --num-images or generate more."
            )
        images = images[: int(num_images)]
    if len(images) < 2:
        raise ValueError(f"Need at least 2 generated images. Received: {len(images)} from {name!r}")
    return images, name, _square_resolution(images), int(len(images))


def read_image_folder(folder: str) -> np.ndarray:
    """All images of a folder at their own size, which must be one square size."""
    from tfgen.data.images import _no_images_error, find_image_files, read_images

    paths = find_image_files(folder)
    images, _ = read_images(paths, resolution=None)
    if not images:
        raise _no_images_error(folder, len(paths))
    sizes = sorted({image.shape[:2] for image in images})
    if len(sizes) > 1:
        raise ValueError(
            f"The images in {folder!r} have different sizes ({', '.join(f'{h}x{w}' for h, w in sizes[:5])}"
            f"{', ...' if len(sizes) > 5 else ''}). Generated images must share one size: "
            "regenerate them at one resolution."
        )
    return np.stack(images)


def _square_resolution(images: np.ndarray) -> int:
    height, width = images.shape[1:3]
    if height != width:
        raise ValueError(
            f"Generated images must be square to compare with real ones at one resolution. "
            f"Received: {height}x{width}"
        )
    return int(height)


def _target_class_index(target_class, extractor) -> int:
    if target_class is None:
        raise ValueError("The accuracy metric needs a target class (--target-class NAME_OR_INDEX).")
    class_names = list(getattr(extractor, "class_names", None) or [])
    if isinstance(target_class, str) and not target_class.lstrip("-").isdigit():
        if target_class not in class_names:
            raise ValueError(
                f"Unknown target class {target_class!r}. The {extractor.name} extractor's classes: "
                f"{', '.join(class_names) or '(unnamed; give an index)'}"
            )
        return class_names.index(target_class)
    index = int(target_class)
    if not 0 <= index < (extractor.num_classes or 0):
        raise ValueError(
            f"target class {index} is out of range for the {extractor.name} extractor "
            f"({extractor.num_classes} classes)."
        )
    return index
