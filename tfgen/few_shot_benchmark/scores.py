"""The benchmark's scores of a set of images of a held-out class, measured by
an independent judge (a classifier trained on all classes of the data, never
used by any method) in its feature space.

* ``fd_floor`` -- Fréchet distance to the reference images of the class, as
  a multiple of the episode's *floor*: the distance of the real row moved so
  that its mean is the shots' mean, the best that any generator centred on
  the k shots can be expected to reach (the mean term alone costs about
  tr(Sigma) / k);
* ``fd_ratio`` -- the same distance as a multiple of the Fréchet distance of
  the real row (same sizes);
* ``judge_accuracy`` -- share of the images the judge assigns to the class,
  and ``judge_accuracy_ratio``, that share over the real row's (the judge
  misses some real images of hard classes: 1 means as recognisable as real);
* ``pixel_copies`` -- share of the images whose nearest shot is closer in
  pixels (mean squared error) than any real image of the class is to its
  nearest shot: near-copies that a feature-space novelty can hide;
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

# The bars of issue 27 that a method must clear on every held-out class
# (the mean FD ×floor over a dataset's classes has the tighter bar below).
TARGETS = {"fd_floor": 2.0, "judge_accuracy_ratio": 0.95, "novelty": 0.8, "pixel_copies": 0.05,
           "diversity_ratio": 0.8}  # fmt: skip
MEAN_FD_FLOOR_TARGET = 1.3


@dataclasses.dataclass(frozen=True)
class EpisodeBaseline:
    """What every row of one episode is measured against, computed once."""

    target: int  # the judge's index of the held-out class
    reference_features: np.ndarray
    shot_features: np.ndarray
    real_fd: float
    floor_fd: float  # the real row moved onto the shots' mean
    real_nearest_shot: float
    real_diversity: float
    real_judge_accuracy: float
    shots: np.ndarray  # uint8, for the pixel copy check
    copy_distance: float  # the smallest pixel MSE from a real image of the class to its nearest shot (duplicates aside)


def judge_outputs(judge, images) -> dict:
    """``{"features", "logits"}`` of uint8 images from a judge extractor."""
    from tfgen.metrics import extract_features

    return extract_features(judge, images, batch_size=250)


def nearest_shot_pixel_mse(images, shots) -> np.ndarray:
    """[N] mean squared pixel error (0..255 scale) from each image to its nearest shot."""
    flat = np.asarray(images, np.float64).reshape(len(images), -1)
    shot_flat = np.asarray(shots, np.float64).reshape(len(shots), -1)
    squared = (flat**2).sum(1, keepdims=True) - 2.0 * flat @ shot_flat.T + (shot_flat**2).sum(1)
    return np.maximum(squared.min(axis=1), 0.0) / flat.shape[1]


def copy_distance(real_images, shots) -> float:
    """The smallest pixel MSE from a real image to its nearest shot, leaving
    out exact duplicates of a shot (some sets hold an image twice: a duplicate
    would make every copy look as far from the shots as a real image)."""
    distances = nearest_shot_pixel_mse(real_images, shots)
    distances = distances[distances > 0]
    return float(distances.min()) if len(distances) else float("inf")


def episode_baseline(judge, episode, target: int) -> EpisodeBaseline:
    reference = judge_outputs(judge, episode.reference)["features"]
    real_outputs = judge_outputs(judge, episode.real)
    real = real_outputs["features"]
    shots = judge_outputs(judge, episode.shots)["features"]
    at_shot_mean = real - real.mean(0) + shots.mean(0)
    every_real = np.concatenate([episode.real, episode.reference])
    return EpisodeBaseline(
        target=int(target),
        reference_features=reference,
        shot_features=shots,
        real_fd=fid_from_features(reference, real),
        floor_fd=fid_from_features(reference, at_shot_mean),
        real_nearest_shot=float(nearest_neighbour_distances(real, shots)[0].mean()),
        real_diversity=pairwise_diversity(real),
        real_judge_accuracy=class_share(real_outputs["logits"], target),
        shots=np.asarray(episode.shots),
        copy_distance=copy_distance(every_real, episode.shots),
    )


def score_images(judge, images, baseline: EpisodeBaseline) -> dict:
    """The scores (and the raw values behind them) of uint8 ``images``."""
    outputs = judge_outputs(judge, images)
    features = outputs["features"]
    fd = fid_from_features(baseline.reference_features, features)
    nearest = float(nearest_neighbour_distances(features, baseline.shot_features)[0].mean())
    diversity = pairwise_diversity(features)
    accuracy = class_share(outputs["logits"], baseline.target)
    return {
        "fd_floor": fd / max(baseline.floor_fd, 1e-12),
        "fd_ratio": fd / max(baseline.real_fd, 1e-12),
        "judge_accuracy": accuracy,
        "judge_accuracy_ratio": accuracy / max(baseline.real_judge_accuracy, 1e-12),
        "novelty": nearest / max(baseline.real_nearest_shot, 1e-12),
        "pixel_copies": float(np.mean(nearest_shot_pixel_mse(images, baseline.shots) < baseline.copy_distance)),
        "diversity_ratio": diversity / max(baseline.real_diversity, 1e-12),
        "fd": fd,
        "real_fd": baseline.real_fd,
        "floor_fd": baseline.floor_fd,
        "real_judge_accuracy": baseline.real_judge_accuracy,
        "diversity": diversity,
    }


def meets_targets(scores: dict) -> bool:
    """Whether one class's scores clear every per-class bar (inclusive bounds,
    but fewer than 5% pixel copies)."""
    return (
        scores["fd_floor"] <= TARGETS["fd_floor"]
        and scores["judge_accuracy_ratio"] >= TARGETS["judge_accuracy_ratio"]
        and scores["novelty"] >= TARGETS["novelty"]
        and scores["pixel_copies"] < TARGETS["pixel_copies"]
        and scores["diversity_ratio"] >= TARGETS["diversity_ratio"]
    )
