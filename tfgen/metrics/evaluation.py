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
from tfgen.features.extractor import FeatureExtractor, default_features, extract_features, get_extractor
from tfgen.errors import InputError

# Generated images drawn when a generator is evaluated and no count is given;
# the FastGAN paper compares 5000 generated images with the real set.
DEFAULT_NUM_GENERATED = 5000


def evaluate(
    *,
    real: str,
    generator=None,
    generated=None,
    metrics="fid",
    features: str | FeatureExtractor | None = None,
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
        features: an extractor name (``fid_inception``, ``inception``,
            ``efficientnet_lite0``, ``classifier``) or a built :class:`FeatureExtractor`;
            None: ``fid_inception`` where its weights are at hand, else ``inception``
            (:func:`tfgen.features.extractor.default_features`). The
            path-length metrics (``ppl_w``, ``ppl_z``: a style-based
            ``generator`` only) measure with the classifier's
            :class:`~tfgen.perceptual.FeatureDistance` for ``classifier``
            and with EfficientNet-Lite0's otherwise.
        extractor_options: passed to the extractor, e.g.
            ``{"weights_path": ...}`` or ``{"path": "runs/classifier"}``.
        num_images: generated images to use (generator default: 5000; folder
            or array default: all); also the path-length samples (default 5000).
        num_real: real images to use (default: all), a seeded subset otherwise.
        target_class: class index or name, for the ``accuracy`` metric.

    Returns:
        ``{"metrics": {name: value}, "features": ..., "feature_network": ..., "num_generated": ...,
        "num_real": ..., "resolution": ..., "seconds": ...}``, plus
        ``"ppl_distance"`` and ``"ppl_samples"`` with path-length metrics.
        Asked for path lengths only, no images are compared: no features
        (``"features"`` None) and 0 generated and real images.
    """
    started = time.perf_counter()
    if features is None:
        features = default_features((extractor_options or {}).get("weights_path"))
    chosen = registry.parse_metric_names(metrics)
    needs = set().union(*(metric.needs for metric in chosen))
    if (generator is None) == (generated is None):
        raise InputError("Give exactly one of generator= (a model or run folder) or generated= (images).")
    model, generator_name = _load_generator(generator)
    path_length, distance, separability = None, None, None
    latent_metrics = [metric for metric in chosen if registry.GENERATOR in metric.needs]
    path_names = [m.name for m in latent_metrics if registry.LATENT_CLASSES not in m.needs]
    separability_names = [m.name for m in latent_metrics if registry.LATENT_CLASSES in m.needs]
    if path_names:
        path_length, distance = _path_length(
            model, path_names, features, extractor_options, num_images, batch_size, seed, progress,
        )  # fmt: skip
    if separability_names:
        from tfgen.metrics.separability import separability_measure

        separability = separability_measure(
            model, features, extractor_options, num_samples=_num_path_samples(num_images),
            batch_size=batch_size, seed=seed, progress=progress, names=separability_names,
        )  # fmt: skip
    # Metrics of generated images against real ones (all but the latent-space ones).
    image_metrics = [metric for metric in chosen if registry.GENERATOR not in metric.needs]
    extractor, fake_outputs, real_outputs, real_images, fake_images = None, {}, {}, None, None
    target_index = None
    if image_metrics:
        # Imported here: reading real images needs TensorFlow, the rest of the
        # metrics do not (they also run under JAX on machines without TF).
        from tfgen.metrics.cache import load_real_images, real_features

        extractor = features if isinstance(features, FeatureExtractor) else get_extractor(
            features, **(extractor_options or {})
        )
        if registry.LOGITS in needs and extractor.num_classes is None:
            names = [m.name for m in chosen if registry.LOGITS in m.needs]
            raise InputError(
                f"Metrics {names} need class logits, but the {extractor.name!r} extractor has no "
                "classifier head (e.g. InceptionV3 'notop' weights). Use full weights or drop them."
            )
        if registry.TARGET_CLASS in needs:
            target_index = _target_class_index(target_class, extractor)

        fake_images, source_name, resolution, num_generated = _generated_images(
            model, generator_name, generated, num_images, batch_size, seed, keep=registry.PIXELS in needs
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
        if registry.PIXELS in needs:
            real_images = load_real_images(real, resolution=resolution, num_images=num_real, seed=seed)
    else:  # only latent-space metrics: no images are compared
        source_name, num_generated = generator_name, 0
        resolution = getattr(model, "resolution", None)

    inputs = registry.MetricInputs(
        real_features=real_outputs.get("features"),
        fake_features=fake_outputs.get("features"),
        fake_logits=fake_outputs.get("logits"),
        real_images=real_images,
        fake_images=fake_images if registry.PIXELS in needs else None,
        target_class=target_index,
        seed=seed,
        path_length=path_length,
        separability=separability,
    )
    values = {}
    for metric in chosen:
        values.update({key: float(value) for key, value in metric.compute(inputs).items()})
    result = {
        "metrics": values,
        "features": extractor.name if extractor is not None else None,
        # Which network made the numbers, in words ("pytorch-fid Inception").
        "feature_network": getattr(extractor, "label", extractor.name) if extractor is not None else None,
        "generated": source_name,
        "real": os.fspath(real),
        "num_generated": num_generated,
        "num_real": int(len(real_outputs["features"])) if real_outputs else 0,
        "resolution": resolution,
        "target_class": target_index,
        "seed": seed,
    }
    if distance is not None:
        result["ppl_distance"] = distance.name
        result["ppl_samples"] = _num_path_samples(num_images)
    if separability is not None:
        result["separability_samples"] = _num_path_samples(num_images)
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def _load_generator(generator):
    """(model, name) of ``generator`` (a model or a path); (None, None) for None."""
    if generator is None:
        return None, None
    if isinstance(generator, (str, os.PathLike)):
        from tfgen.runs import load_generator

        return load_generator(generator), os.fspath(generator)
    return generator, generator.name


def _num_path_samples(num_images):
    return DEFAULT_NUM_GENERATED if num_images is None else int(num_images)


def _path_length(model, names, features, extractor_options, num_images, batch_size, seed, progress):
    """(space -> PPL result, the distance) for the GENERATOR metrics ``names``.

    The perceptual distance follows the evaluation's features: a domain
    classifier's conv maps for ``classifier``, EfficientNet-Lite0's otherwise
    (InceptionV3 has no offline weights to build a distance from). Each space
    is measured once, however many of its values are reported.
    """
    from tfgen.metrics.ppl import check_style_generator, perceptual_path_length
    from tfgen.perceptual import FeatureDistance

    if model is None:
        raise InputError(
            f"Metrics {names} walk a generator's latent space: pass generator= (--generator), "
            "not generated images."
        )
    check_style_generator(model)  # fails before any feature network is built
    name = features if isinstance(features, str) else getattr(features, "name", "")
    options = extractor_options or {}
    if name == "classifier":
        folder = options.get("path") or getattr(getattr(features, "info", None), "folder", None)
        distance = FeatureDistance(features="classifier", weights=folder)
    else:
        weights = None
        if name == "efficientnet_lite0":
            weights = options.get("weights_path") or getattr(features, "weights_path", None)
        distance = FeatureDistance(features="efficientnet_lite0", weights=weights)
    num_samples = _num_path_samples(num_images)
    results = {}

    def path_length(space):
        if space not in results:
            results[space] = perceptual_path_length(
                model, space=space, num_samples=num_samples, distance=distance,
                batch_size=batch_size, seed=seed, progress=progress,
            )  # fmt: skip
        return results[space]

    return path_length, distance


def _generated_images(model, name, generated, num_images, batch_size, seed, *, keep):
    """(images, where from, resolution, count) of the generated set: from the
    generator ``model`` (called ``name``) or from ``generated``.

    Images are a uint8 array ``[N, R, R, 3]``, except for a generator when
    ``keep`` is False: then a stream of batches, so that thousands of large
    images never sit in memory at once (features are all that is kept).
    """
    if model is not None:
        from tfgen.sampling import iter_generate

        count = DEFAULT_NUM_GENERATED if num_images is None else int(num_images)
        if count < 2:
            raise InputError(f"Need at least 2 generated images. Received: num_images={count}")
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
        raise InputError(
            "Generated images must be a uint8 array [N, H, W, C]. "
            f"Received: shape={images.shape}, dtype={images.dtype}"
        )
    if num_images is not None:
        if num_images > len(images):
            raise InputError(
                f"Asked for {num_images} generated images but {name!r} has {len(images)}. "
                "Lower --num-images or generate more."
            )
        images = images[: int(num_images)]
    if len(images) < 2:
        raise InputError(f"Need at least 2 generated images. Received: {len(images)} from {name!r}")
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
        raise InputError(
            f"The images in {folder!r} have different sizes ({', '.join(f'{h}x{w}' for h, w in sizes[:5])}"
            f"{', ...' if len(sizes) > 5 else ''}). Generated images must share one size: "
            "regenerate them at one resolution."
        )
    return np.stack(images)


def _square_resolution(images: np.ndarray) -> int:
    height, width = images.shape[1:3]
    if height != width:
        raise InputError(
            f"Generated images must be square to compare with real ones at one resolution. "
            f"Received: {height}x{width}"
        )
    return int(height)


def _target_class_index(target_class, extractor) -> int:
    if target_class is None:
        raise InputError("The accuracy metric needs a target class (--target-class NAME_OR_INDEX).")
    class_names = list(getattr(extractor, "class_names", None) or [])
    if isinstance(target_class, str) and not target_class.lstrip("-").isdigit():
        if target_class not in class_names:
            raise InputError(
                f"Unknown target class {target_class!r}. The {extractor.name} extractor's classes: "
                f"{', '.join(class_names) or '(unnamed; give an index)'}"
            )
        return class_names.index(target_class)
    index = int(target_class)
    if not 0 <= index < (extractor.num_classes or 0):
        raise InputError(
            f"target class {index} is out of range for the {extractor.name} extractor "
            f"({extractor.num_classes} classes)."
        )
    return index
