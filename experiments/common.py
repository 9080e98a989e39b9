"""Helpers the few-shot experiments share: cached training of runs and the
domain classifier, and the metrics of a set of generated images against the
held-out class (``few_shot_table.py``, ``stylegan_few_shot.py``)."""

from __future__ import annotations

import os
import time

import numpy as np

from tfgen.config import RunConfig

# 32x32 grey, as FIGR.
RESOLUTION, CHANNELS = 32, 1
# Classifier data and epochs: Fashion-MNIST's first 10000 images (942..1027
# per class) keep its training to a minute or two.
CLASSIFIER_DATA = {"digits": ("digits", 30), "fashion_mnist": ("fashion_mnist:all:10000", 4)}
METRIC_COLUMNS = [  # (key, column title, decimals)
    ("class_share", "class share ↑", 3),
    ("frechet", "Fréchet (clf) ↓", 2),
    ("diversity", "diversity", 3),
    ("nearest_shot", "nearest shot (median)", 2),
    ("copy_share", "copy share ↓", 3),
    ("mse", "MSE", 0),
    ("ssim", "SSIM", 3),
]


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# The shared JSON helpers (absent file -> default; atomic writes).
from tfgen.files import read_json, write_json_atomic as write_json  # noqa: E402


def reference_halves(class_images, shots, seed):
    """The real images of the held-out class without the shots, shuffled with
    ``seed`` and halved: ``(half A, half B)``. B is the reference every row is
    measured against, A the "real" row (the ceiling)."""
    is_shot = np.all(class_images[:, None] == shots[None], axis=(2, 3, 4)).any(axis=1)
    pool = class_images[~is_shot]
    pool = pool[np.random.default_rng(seed).permutation(len(pool))]
    return pool[: len(pool) // 2], pool[len(pool) // 2 :]


# --- training (cached) ----------------------------------------------------------


def classifier(dataset, runs_dir):
    """The domain classifier's extractor and the seconds its training took."""
    from tfgen.metrics import get_extractor
    from tfgen.features.classifier import CLASSIFIER_WEIGHTS_FILE, train_domain_classifier

    folder = os.path.join(runs_dir, f"classifier_{dataset}")
    timing = os.path.join(folder, "seconds.json")
    if not os.path.isfile(os.path.join(folder, CLASSIFIER_WEIGHTS_FILE)):
        source, epochs = CLASSIFIER_DATA[dataset]
        say(f"training the {dataset} classifier on {source} for {epochs} epochs")
        started = time.perf_counter()
        train_domain_classifier(source, out_dir=folder, resolution=RESOLUTION, epochs=epochs, progress=False)
        write_json(timing, {"seconds": time.perf_counter() - started})
    return get_extractor("classifier", path=folder), read_json(timing, {}).get("seconds")


def train_run(trainer_class, model_config, name, dataset, steps, runs_dir):
    """Train (or resume, or reuse) one run; returns (run folder, seconds)."""
    run_dir = os.path.join(runs_dir, name)
    timing = os.path.join(run_dir, "seconds.json")
    if not os.path.isfile(os.path.join(run_dir, "generator.weights.h5")):
        say(f"training {name}")
        run_config = RunConfig(
            name=name, runs_dir=runs_dir, data=dataset, steps=steps, seed=0, flip=False,
            sample_every=steps, checkpoint_every=max(1, min(steps, 100)), log_every=5,
        )  # fmt: skip
        started = time.perf_counter()
        trainer_class(model_config, run_config).fit()
        spent = time.perf_counter() - started + read_json(timing, {}).get("seconds", 0.0)
        write_json(timing, {"seconds": spent})  # a resumed run adds up
    return run_dir, read_json(timing, {}).get("seconds")


def measure(images, *, extractor, target, reference, shot_features):
    """The table's metrics of uint8 images [N, 32, 32, 1] against the real reference set."""
    from tfgen.metrics import (
        class_share, extract_features, fid_from_features, memorisation, nearest_real_mse_ssim,
        pairwise_diversity,
    )  # fmt: skip

    outputs = extract_features(extractor, images, batch_size=250)
    near = memorisation(outputs["features"], shot_features)  # nearest = nearest shot
    pixels = nearest_real_mse_ssim(images, reference["images"])
    return {
        "class_share": class_share(outputs["logits"], target),
        "frechet": fid_from_features(reference["features"], outputs["features"]),
        "diversity": pairwise_diversity(outputs["features"]),
        "nearest_shot": near["median_distance"],
        "copy_share": near["copy_share"],
        "mse": pixels["mse"],
        "ssim": pixels["ssim"],
    }


def summarise(per_seed):
    """{method: {metric: (mean, std)}} over seeds (std with ddof=0; 0 for one seed)."""
    seeds = list(per_seed)
    summary = {}
    for method, metrics in per_seed[seeds[0]].items():
        if method.startswith("_"):  # the reference's own numbers
            continue
        values = {key: [per_seed[s][method][key] for s in seeds] for key in metrics}
        summary[method] = {key: (float(np.mean(v)), float(np.std(v))) for key, v in values.items()}
    return summary


def metric_table(summary, num_seeds):
    """Markdown lines of a {method: {metric: (mean, std)}} summary: one row per
    method, METRIC_COLUMNS and seconds (mean ± std with more than one seed)."""
    lines = [
        "| method | " + " | ".join(title for _, title, _ in METRIC_COLUMNS) + " | seconds |",
        "|---|" + "---:|" * (len(METRIC_COLUMNS) + 1),
    ]
    for method, values in summary.items():
        cells = [f"{values[k][0]:.{d}f} ± {values[k][1]:.{d}f}" if num_seeds > 1 else f"{values[k][0]:.{d}f}"
                 for k, _, d in METRIC_COLUMNS]  # fmt: skip
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {values['seconds'][0]:.0f} |")
    return lines


# --- probes scored as the few-shot benchmark scores (tfgen.few_shot_benchmark) ----------


def benchmark_context(data, out_dir, folds=0):
    """``(settings, labelled images, judge, held-out groups)`` of the benchmark
    on ``data`` whose judge lives in ``out_dir`` (trained there when missing);
    the first ``folds`` groups (0: all)."""
    from tfgen.few_shot_benchmark import protocol
    from tfgen.few_shot_benchmark.runner import BenchmarkSettings, held_out_classes, load_data, train_judge

    settings = BenchmarkSettings(data=data, out_dir=out_dir, quiet=True)
    labelled = load_data(settings)
    groups = protocol.group_classes(held_out_classes(settings, labelled.class_names), settings.per_base)
    judge, _ = train_judge(settings, len(labelled.labels))
    return settings, labelled, judge, groups[: folds or None]


def benchmark_episodes(settings, labelled, judge, group, seeds):
    """``(episode, baseline)`` for each class of ``group`` and shot seed, drawn
    and measured as ``benchmark.py`` does."""
    from tfgen.few_shot_benchmark import protocol
    from tfgen.few_shot_benchmark.scores import episode_baseline

    for class_name in group:
        class_images = labelled.images[labelled.labels == labelled.class_names.index(class_name)]
        for seed in map(int, seeds):
            episode = protocol.draw_episode(class_images, class_name, shots=settings.shots, seed=seed,
                                            num_images=settings.num_images)  # fmt: skip
            yield episode, episode_baseline(judge, episode, list(judge.class_names).index(class_name))


def print_benchmark_means(rows):
    """``rows``: {row: {class: [benchmark scores]}} -> a line per row: the means
    over classes and seeds, with FD ×real per class."""
    for row, per_class in rows.items():
        every = [s for scores in per_class.values() for s in scores]
        mean = {k: np.mean([s[k] for s in every]) for k in ("fd_ratio", "judge_accuracy", "novelty", "diversity_ratio")}
        classes = ", ".join(f"{c} {np.mean([s['fd_ratio'] for s in v]):.1f}" for c, v in per_class.items())
        print(f"{row}: FD x real {mean['fd_ratio']:.1f} ({classes}), judge acc {mean['judge_accuracy']:.2f}, "
              f"novelty {mean['novelty']:.2f}, diversity x real {mean['diversity_ratio']:.2f}")  # fmt: skip
