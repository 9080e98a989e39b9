"""Is a trained base healthy? A check at the end of training that catches
mode collapse before anyone adapts the base to a new class.

Samples of the generator and real training images are compared in a cheap
feature space that needs no network: the images average-pooled to at most
16x16 pixels (tiny images are what the few-shot families train on). Recall
(Kynkäänniemi et al. 2019, k = 3) is the share of real images inside the
samples' manifold: a collapsed generator covers few of them. Diversity is
the mean pairwise distance of the samples' normalised features relative to
the real images'. Both are written to ``health.json`` in the run folder.
"""

from __future__ import annotations

import warnings

import numpy as np

from tfgen.files import write_json_atomic
from tfgen.run_folder import HEALTH_FILE, RunFolder  # noqa: F401 (HEALTH_FILE re-exported)
from tfgen.metrics.diversity import pairwise_diversity
from tfgen.metrics.precision_recall import precision_recall

# Below either bar a base is reported as collapsed. A healthy 2000-step
# cDCGAN on digits measures recall ~0.7 and diversity ~1.0 here.
MIN_RECALL = 0.2
MIN_DIVERSITY_RATIO = 0.6
POOLED_SIDE = 16


def pooled_pixels(images) -> np.ndarray:
    """uint8 or float images [N, R, R, C] -> float64 features [N, <=16*16*C]
    (average pooling by an integer factor; values in [0, 1])."""
    images = np.asarray(images)
    x = images.astype(np.float64) / 255.0 if images.dtype == np.uint8 else (images.astype(np.float64) + 1.0) / 2.0
    factor = max(1, x.shape[1] // POOLED_SIDE)
    n, h, w, c = x.shape
    h, w = h // factor * factor, w // factor * factor
    x = x[:, :h, :w].reshape(n, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))
    return x.reshape(n, -1)


def base_health(generated, real) -> dict:
    """``{"precision", "recall", "diversity_ratio", "collapsed"}`` of generated
    images against real ones (both [N, R, R, C], uint8 or floats in [-1, 1])."""
    fake_features, real_features = pooled_pixels(generated), pooled_pixels(real)
    scores = precision_recall(real_features, fake_features, k=3)
    ratio = pairwise_diversity(fake_features) / max(pairwise_diversity(real_features), 1e-12)
    collapsed = scores["recall"] < MIN_RECALL or ratio < MIN_DIVERSITY_RATIO
    return {**scores, "diversity_ratio": float(ratio), "collapsed": bool(collapsed),
            "num_generated": len(fake_features), "num_real": len(real_features)}  # fmt: skip


def collapse_message(health: dict, run_dir: str) -> str:
    """The failed check in words, with what each low number points to."""
    return (
        f"The trained generator in {run_dir} failed the health check: its samples cover "
        f"{health['recall']:.0%} of its training images (recall; healthy bases reach well above "
        f"{MIN_RECALL:.0%}), {health['precision']:.0%} of them look like training images (precision), "
        f"and they are {health['diversity_ratio']:.2f}x as diverse as the real images (bar "
        f"{MIN_DIVERSITY_RATIO}). Low recall with high precision or low diversity is mode collapse "
        "(realistic samples of a few shapes); low precision means blurred or malformed samples. "
        "Few-shot adaptation starts from what the base learnt, so check samples/final.png; train "
        "longer, lower the learning rates or use another seed before adapting it."
    )


def write_health(run_dir: str, health: dict) -> None:
    write_json_atomic(RunFolder(run_dir).health, health)


def check_base(generator, real_images, run_dir, *, num_images=500, seed=0) -> dict:
    """Sample ``generator``, measure :func:`base_health` against
    ``real_images``, write it to the run folder and warn when it collapsed."""
    from tfgen.sampling import generate

    count = min(num_images, len(real_images))
    health = base_health(generate(generator, count, batch_size=100, seed=seed), real_images[:count])
    write_health(run_dir, health)
    if health["collapsed"]:
        warnings.warn(collapse_message(health, run_dir), stacklevel=2)
    return health
