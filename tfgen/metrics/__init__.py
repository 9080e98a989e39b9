"""Evaluation: feature extractors and metrics over their features.

    from tfgen.metrics import evaluate
    result = evaluate(real="digits:3", generator="runs/fastgan_digits_3",
                      metrics="fid,kid,pr", features="efficientnet_lite0")

or, one level down, extract features and call a metric on arrays::

    from tfgen.metrics import extract_features, fid_from_features, get_extractor
    extractor = get_extractor("efficientnet_lite0")
    real = extract_features(extractor, real_uint8)["features"]
    fake = extract_features(extractor, fake_uint8)["features"]
    fid_from_features(real, fake)

Extractors: ``inception`` (weights from the Keras cache or a path),
``efficientnet_lite0`` (offline), ``classifier`` (trained on a labelled set
by :func:`train_domain_classifier`). Metrics by name: ``registry.METRICS``.

The perceptual path length of a style-based generator walks its latent
space instead of comparing images::

    from tfgen.metrics import perceptual_path_length
    perceptual_path_length(G, space="w", num_samples=1000)["ppl"]
"""

from tfgen.metrics.classification import class_share, classifier_accuracy
from tfgen.metrics.diversity import memorisation, nearest_neighbour_distances, pairwise_diversity
from tfgen.metrics.evaluation import evaluate
from tfgen.features.extractor import (
    FeatureExtractor,
    extract_features,
    get_extractor,
    list_extractors,
    register_extractor,
)
from tfgen.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from tfgen.metrics.image_quality import brisque_scores, mse, nearest_real_mse_ssim, ssim
from tfgen.metrics.inception_score import inception_score
from tfgen.metrics.kid import kernel_inception_distance
from tfgen.metrics.precision_recall import density_coverage, precision_recall
from tfgen.metrics.registry import METRICS


def __getattr__(name):
    # Lazily: the cache reads real images through tfgen.data, which needs
    # TensorFlow; everything else here also runs with JAX alone.
    if name == "real_features":
        from tfgen.metrics.cache import real_features

        return real_features
    if name == "perceptual_path_length":  # lazily too: it reaches tfgen.sampling and Keras
        from tfgen.metrics.ppl import perceptual_path_length

        return perceptual_path_length
    raise AttributeError(f"module 'tfgen.metrics' has no attribute {name!r}")

__all__ = [
    "METRICS",
    "FeatureExtractor",
    "brisque_scores",
    "class_share",
    "classifier_accuracy",
    "density_coverage",
    "evaluate",
    "extract_features",
    "feature_statistics",
    "fid_from_features",
    "frechet_distance",
    "get_extractor",
    "inception_score",
    "kernel_inception_distance",
    "list_extractors",
    "memorisation",
    "mse",
    "nearest_neighbour_distances",
    "nearest_real_mse_ssim",
    "pairwise_diversity",
    "perceptual_path_length",
    "precision_recall",
    "real_features",
    "register_extractor",
    "ssim",
]
