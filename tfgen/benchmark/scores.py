"""The benchmark's scores of a set of images of a held-out class, measured by
an independent judge (a classifier trained on all classes of the data, never
used by any method) in its feature space.

* ``fd_ratio`` -- Fréchet distance to the reference images of the class,
  as a multiple of the Fréchet distance of the real row (same sizes);
* ``judge_accuracy`` -- share of the images the judge assigns to the class;
* ``novelty`` -- mean feature distance from an image to its nearest shot,
  divided by the same for the real row (about 0: copies of the shots, about
  1: as far from the shots as other real images of the class are);
* ``diversity_ratio`` -- mean pairwise distance of L2-normalised features,
  divided by the real row's.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfgen.metrics.classification import class_share
from tfgen.metrics.diversity import nearest_neighbour_distances, pairwise_diversity
from tfgen.metrics.fid import fid_from_features

# The bars of issue 14 that a method must clear on every held-out class.
TARGETS = {"fd_ratio": 3.0, "judge_accuracy": 0.95, "novelty": 0.8, "diversity_ratio": 0.8}


@dataclasses.dataclass(frozen=True)
class EpisodeBaseline:
    """What every row of one episode is measured against, computed once."""

    target: int  # the judge's index of the held-out class
    reference_features: np.ndarray
    shot_features: np.ndarray
    real_fd: float
    real_nearest_shot: float
    real_diversity: float


def judge_outputs(judge, images) -> dict:
    """``{"features", "logits"}`` of uint8 images from a judge extractor."""
    from tfgen.metrics import extract_features

    return extract_features(judge, images, batch_size=250)


def episode_baseline(judge, episode, target: int) -> EpisodeBaseline:
    reference = judge_outputs(judge, episode.reference)["features"]
    real = judge_outputs(judge, episode.real)["features"]
    shots = judge_outputs(judge, episode.shots)["features"]
    return EpisodeBaseline(
        target=int(target),
        reference_features=reference,
        shot_features=shots,
        real_fd=fid_from_features(reference, real),
        real_nearest_shot=float(nearest_neighbour_distances(real, shots)[0].mean()),
        real_diversity=pairwise_diversity(real),
    )


def score_images(judge, images, baseline: EpisodeBaseline) -> dict:
    """The four scores (and the raw values behind them) of uint8 ``images``."""
    outputs = judge_outputs(judge, images)
    features = outputs["features"]
    fd = fid_from_features(baseline.reference_features, features)
    nearest = float(nearest_neighbour_distances(features, baseline.shot_features)[0].mean())
    diversity = pairwise_diversity(features)
    return {
        "fd_ratio": fd / max(baseline.real_fd, 1e-12),
        "judge_accuracy": class_share(outputs["logits"], baseline.target),
        "novelty": nearest / max(baseline.real_nearest_shot, 1e-12),
        "diversity_ratio": diversity / max(baseline.real_diversity, 1e-12),
        "fd": fd,
        "real_fd": baseline.real_fd,
        "diversity": diversity,
    }


def meets_targets(scores: dict) -> bool:
    return (
        scores["fd_ratio"] <= TARGETS["fd_ratio"]
        and scores["judge_accuracy"] >= TARGETS["judge_accuracy"]
        and scores["novelty"] >= TARGETS["novelty"]
        and scores["diversity_ratio"] >= TARGETS["diversity_ratio"]
    )
