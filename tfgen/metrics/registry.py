"""Metrics by name: what each needs and how it turns inputs into numbers.

``evaluate`` (and the FID monitor during training) look metrics up here, work
out what to compute for them (features, logits, pixels), and call them with a
:class:`MetricInputs`. Each metric returns a dict of named floats, e.g.
``kid -> {"kid": ..., "kid_std": ...}``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from tfgen.errors import InputError

# What a metric can need besides the real and generated features.
LOGITS = "logits"  # the extractor's class logits of the generated images
PIXELS = "pixels"  # the uint8 images themselves (real and generated)
TARGET_CLASS = "target_class"
# The generator model itself, not its images (latent-space metrics: PPL,
# linear separability). Such a metric reads MetricInputs.path_length (or
# .separability), needs no features of real images, and cannot run on a
# folder or array of generated images.
GENERATOR = "generator"
# With GENERATOR: the domain classifier's labels of images generated from
# known latents (linear separability; features="classifier"). Such a metric
# reads MetricInputs.separability, not path_length.
LATENT_CLASSES = "latent_classes"


@dataclasses.dataclass
class MetricInputs:
    """Everything a metric may read; fields a metric does not need may be None."""

    real_features: np.ndarray | None  # [N_real, D]; None when only GENERATOR metrics run
    fake_features: np.ndarray | None  # [N_fake, D]; idem
    fake_logits: np.ndarray | None = None  # [N_fake, K]
    real_images: np.ndarray | None = None  # uint8 [N_real, R, R, 3]
    fake_images: np.ndarray | None = None  # uint8 [N_fake, R, R, 3]
    target_class: int | None = None
    seed: int = 0
    # space ("w" or "z") -> tfgen.metrics.ppl.perceptual_path_length's result
    # for the evaluated generator (GENERATOR metrics).
    path_length: Callable[[str], dict] | None = None
    # space ("w" or "z") -> tfgen.metrics.separability.linear_separability's
    # result for the evaluated generator and the domain classifier
    # (tfgen.metrics.separability.separability_measure builds it).
    separability: Callable[[str], dict] | None = None


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[MetricInputs], dict[str, float]]
    description: str
    needs: frozenset = frozenset()
    # For "best checkpoint" selection: the key of compute()'s result to
    # compare, and its direction.
    headline: str = ""
    lower_is_better: bool = True


METRICS: dict[str, Metric] = {}
ALIASES = {"memorization": "memorisation", "ssim": "mse_ssim", "mse": "mse_ssim", "inception_score": "is"}


def register(name, *, description, needs=(), headline=None, lower_is_better=True):
    def decorate(compute):
        METRICS[name] = Metric(
            name=name,
            compute=compute,
            description=description,
            needs=frozenset(needs),
            headline=headline or name,
            lower_is_better=lower_is_better,
        )
        return compute

    return decorate


def get_metric(name: str) -> Metric:
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in METRICS:
        raise InputError(f"Unknown metric {name!r}. Available: {', '.join(sorted(METRICS))}.")
    return METRICS[key]


def parse_metric_names(names) -> list[Metric]:
    """``"fid,kid"`` or ``["fid", "kid"]`` -> the metrics, in order, without repeats."""
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    if not names:
        raise InputError("No metrics given. Choose from: " + ", ".join(sorted(METRICS)))
    metrics = []
    for name in names:
        metric = get_metric(name)
        if metric not in metrics:
            metrics.append(metric)
    return metrics


def describe_metrics() -> str:
    width = max(13, *(len(m.name) for m in METRICS.values()))
    return "\n".join(f"  {m.name:{width}s} {m.description}" for m in METRICS.values())


# --------------------------------------------------------------- the metrics


@register("fid", description="Frechet distance of feature Gaussians (Heusel et al. 2017)")
def _fid(inputs):
    from tfgen.metrics.fid import fid_from_features

    return {"fid": fid_from_features(inputs.real_features, inputs.fake_features)}


@register("kid", description="kernel inception distance, unbiased MMD^2 with its std (Binkowski et al. 2018)")
def _kid(inputs):
    from tfgen.metrics.kid import kernel_inception_distance

    mean, std = kernel_inception_distance(inputs.real_features, inputs.fake_features, seed=inputs.seed)
    return {"kid": mean, "kid_std": std}


@register(
    "is",
    description="inception score from the extractor's logits (Salimans et al. 2016)",
    needs=(LOGITS,),
    lower_is_better=False,
)
def _inception_score(inputs):
    from tfgen.metrics.inception_score import inception_score

    mean, std = inception_score(inputs.fake_logits)
    return {"is": mean, "is_std": std}


@register(
    "pr",
    description="precision and recall of k-NN manifolds (Kynkaanniemi et al. 2019)",
    headline="precision",
    lower_is_better=False,
)
def _precision_recall(inputs):
    from tfgen.metrics.precision_recall import precision_recall

    return dict(precision_recall(inputs.real_features, inputs.fake_features))


@register(
    "dc",
    description="density and coverage (Naeem et al. 2020)",
    headline="coverage",
    lower_is_better=False,
)
def _density_coverage(inputs):
    from tfgen.metrics.precision_recall import density_coverage

    return dict(density_coverage(inputs.real_features, inputs.fake_features))


@register(
    "diversity",
    description="mean pairwise feature distance of generated images (and of real ones)",
    lower_is_better=False,
)
def _diversity(inputs):
    from tfgen.metrics.diversity import pairwise_diversity

    return {
        "diversity": pairwise_diversity(inputs.fake_features, seed=inputs.seed),
        "diversity_real": pairwise_diversity(inputs.real_features, seed=inputs.seed),
    }


@register(
    "memorisation",
    description="distance of each generated image to its nearest real one; share of near-copies",
    headline="copy_share",
)
def _memorisation(inputs):
    from tfgen.metrics.diversity import memorisation

    result = memorisation(inputs.fake_features, inputs.real_features)
    # Named so that they read unambiguously beside other metrics in one table.
    return {
        "nn_distance_mean": float(result["mean_distance"]),
        "nn_distance_median": float(result["median_distance"]),
        "real_nn_distance_median": float(result["train_median_distance"]),
        "copy_threshold": float(result["threshold"]),
        "copy_share": float(result["copy_share"]),
    }


@register(
    "mse_ssim",
    description="MSE and SSIM to the nearest real image in pixels (as in the FIGR paper)",
    needs=(PIXELS,),
    headline="ssim",
    lower_is_better=False,
)
def _mse_ssim(inputs):
    from tfgen.metrics.image_quality import nearest_real_mse_ssim

    result = nearest_real_mse_ssim(inputs.fake_images, inputs.real_images)
    return {"mse": float(result["mse"]), "ssim": float(result["ssim"])}


@register(
    "brisque",
    description="no-reference BRISQUE quality of generated images (lower is better; needs tfgen[brisque])",
    needs=(PIXELS,),
)
def _brisque(inputs):
    from tfgen.metrics.image_quality import brisque_scores

    # A flat image has no defined score (NaN); it should not void the mean.
    return {"brisque": float(np.nanmean(brisque_scores(inputs.fake_images)))}


@register(
    "accuracy",
    description="share of generated images a classifier assigns to --target-class",
    needs=(LOGITS, TARGET_CLASS),
    headline="class_share",
    lower_is_better=False,
)
def _class_share(inputs):
    from tfgen.metrics.classification import class_share

    return {"class_share": class_share(inputs.fake_logits, inputs.target_class)}


def _register_path_length(space):
    @register(
        f"ppl_{space}",
        description=f"perceptual path length in {space.upper()} space (Karras et al. 2019); "
        "style-based generators only",
        needs=(GENERATOR,),
    )
    def _path_length(inputs):
        result = inputs.path_length(space)
        return {
            f"ppl_{space}": result["ppl"],  # mean between the 1st and 99th percentile
            f"ppl_{space}_mean": result["ppl_mean"],
            f"ppl_{space}_median": result["ppl_median"],
        }


for _space in ("w", "z"):
    _register_path_length(_space)


def _register_separability(space):
    name = f"separability_{space}"

    @register(
        name,
        description=f"linear separability of the classes in {space.upper()} space (Karras et al. 2019); "
        f"--features classifier{', style-based generators only' if space == 'w' else ''}",
        needs=(GENERATOR, LATENT_CLASSES),
    )
    def _separability(inputs):
        if inputs.separability is None:
            raise InputError(
                f"{name} needs the generator and the domain classifier (MetricInputs.separability, built by "
                "tfgen.metrics.separability.separability_measure(generator, 'classifier', {'path': FOLDER})), "
                "which this evaluation did not supply. Compute it directly with tfgen.metrics.separability."
                f"linear_separability(G, get_extractor('classifier', path=FOLDER), space={space!r})."
            )
        result = inputs.separability(space)
        return {
            name: result[name],  # exp of the summed conditional entropies (nats)
            f"{name}_classes": len(result["per_class_entropy"]),  # classes scored (the others skipped)
        }


for _space in ("w", "z"):
    _register_separability(_space)
