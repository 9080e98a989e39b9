"""Probe of issue 14: how much of a row's Fréchet distance (FD) is its mean
term, and the floor any method centred on its shots cannot get under.

    python experiments/fd_floor.py --data digits --out-dir /work/bench_runs/digits_v3

FD = |mu_made - mu_ref|^2 + (a covariance term), in the benchmark's judge
features. Besides the references and a method's images, two oracle rows are
measured for every episode:

* "real spread at the shot mean": the real row's features moved so that
  their mean is the shots' mean. This is a generator that gets the spread of
  the class exactly right but knows its mean only from the k shots: what
  every method that is centred on its shots can at best reach;
* "real spread at the shrunk shot mean": the same, with the shots' mean
  shrunk toward the mean of the training classes' means by the
  empirical-Bayes weight tr(B) / (tr(B) + tr(W) / k) (B: covariance of the
  class means, W: within-class covariance), all in the judge's features:
  the best a class-centre estimate of that kind could do, even in the
  judge's own space;
* "<row> spread at the reference mean": a row's features moved onto the
  reference's mean, i.e. what that row would score with a perfect mean.

Columns: FD ×real and the mean term ×real (both divided by the real row's
FD), means over classes and seeds, then FD ×real per class. Then the floor
alone for other numbers of shots (--floor-shots; episodes drawn as the
benchmark draws them with that many shots): how many shots the issue's
FD ≤ 3× real allows on each class. --out-dir is a
benchmark folder whose bases of --method are already trained
(``benchmark.py --methods METHOD``); the judge there is reused.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "digits", "The benchmark's labelled data.")
flags.DEFINE_string("out-dir", "/work/bench_runs/digits_v3", "A benchmark folder with the method's bases.")
flags.DEFINE_string("method", "shotmorph", "The benchmark method whose images are decomposed.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
flags.DEFINE_list("floor-shots", ["1", "2", "4", "8", "16"], "Shots per episode for the floor-only table.")


def main(argv):
    del argv
    import numpy as np

    from experiments.common import benchmark_context, benchmark_episodes
    from tfgen.few_shot_benchmark.methods import METHODS, adapted_images, base_name, reference_images
    from tfgen.few_shot_benchmark.scores import judge_outputs
    from tfgen.metrics.fid import fid_from_features

    out_dir = FLAGS["out-dir"].value
    settings, data, judge, groups = benchmark_context(FLAGS.data, out_dir)
    method = METHODS[FLAGS.method]
    rows = {}  # row -> class -> [(FD / real FD, mean term / real FD)]
    def features(images):
        return judge_outputs(judge, images)["features"]

    all_features = features(data.images)
    for index, group in enumerate(groups):
        training = ~np.isin(data.labels, [data.class_names.index(c) for c in group])
        domain_mean, shot_weight = shrinkage(all_features[training], data.labels[training], settings.shots)
        base = os.path.join(out_dir, "bases", base_name(method, settings.data_tag(), index, group))
        if not os.path.isdir(base):
            raise FileNotFoundError(f"No {method.name} base at {base}: run benchmark.py --methods {method.name} first.")
        for episode, baseline in benchmark_episodes(settings, data, judge, group, FLAGS.seeds):
            reference = baseline.reference_features
            made = {"real": features(episode.real)}
            for name in ("augmented_shots", "copies"):
                made[name] = features(reference_images(name, episode))
            made[method.name] = features(adapted_images(method, base, episode))
            shot_mean = baseline.shot_features.mean(0)
            spread = made["real"] - made["real"].mean(0)
            oracles = {"oracle: real spread at the shot mean": spread + shot_mean,
                       "oracle: real spread at the shrunk shot mean": spread + shot_weight * shot_mean
                       + (1 - shot_weight) * domain_mean}  # fmt: skip
            for name in ("augmented_shots", method.name):
                oracles[f"oracle: {name} spread at the reference mean"] = (
                    made[name] - made[name].mean(0) + reference.mean(0)
                )
            for row, row_features in {**made, **oracles}.items():
                fd = fid_from_features(reference, row_features)
                mean_term = float(np.sum((row_features.mean(0) - reference.mean(0)) ** 2))
                rows.setdefault(row, {}).setdefault(episode.class_name, []).append(
                    (fd / baseline.real_fd, mean_term / baseline.real_fd)
                )
    print(f"| row ({FLAGS.data}) | FD ×real | mean term ×real | FD ×real per class |")
    print("|---|---:|---:|---|")
    for row, per_class in rows.items():
        every = np.array([value for values in per_class.values() for value in values])
        classes = ", ".join(f"{c} {np.mean([v[0] for v in values]):.1f}" for c, values in per_class.items())
        print(f"| {row} | {every[:, 0].mean():.2f} | {every[:, 1].mean():.2f} | {classes} |")
    print_floor_by_shots(settings, data, judge, groups)


def shrinkage(features, labels, shots):
    """``(mean of the class means, empirical-Bayes weight of k shots' mean)``."""
    import numpy as np

    classes = np.unique(labels)
    means = np.stack([features[labels == c].mean(0) for c in classes])
    within = sum(((features[labels == c] - means[i]) ** 2).sum() for i, c in enumerate(classes)) / len(labels)
    between = ((means - means.mean(0)) ** 2).sum() / len(classes)
    return means.mean(0), between / (between + within / shots)


def print_floor_by_shots(settings, data, judge, groups):
    import dataclasses

    import numpy as np

    from experiments.common import benchmark_episodes

    print("\n| shots | floor FD ×real, mean | worst class | classes at ≤ 3× |")
    print("|---:|---:|---:|---:|")
    for shots in map(int, FLAGS["floor-shots"].value):
        per_class = {}
        episodes = dataclasses.replace(settings, shots=shots)
        for group in groups:
            for episode, baseline in benchmark_episodes(episodes, data, judge, group, FLAGS.seeds):
                per_class.setdefault(episode.class_name, []).append(baseline.floor_fd / baseline.real_fd)
        means = [float(np.mean(values)) for values in per_class.values()]
        print(f"| {shots} | {np.mean(means):.2f} | {max(means):.2f} | {sum(m <= 3.0 for m in means)}/{len(means)} |")


if __name__ == "__main__":
    app.run(main)
