"""Evaluation speed on this machine: feature extraction and metric maths.

* Feature extraction, images/s, for each extractor: batches of uint8 images
  at an input size (resized inside each network: 299 for InceptionV3, 224
  for EfficientNet-Lite0, the classifier's own size). Weights do not change
  the speed, so InceptionV3 runs with random weights when its ImageNet file
  is absent, and the classifier is untrained.
* Metric maths on random features: FID, KID, precision/recall and
  density/coverage on N x D (default 10000 x 2048, the FID standard).

Medians of --repeats runs after one warm-up (which includes compilation).

    python bench/metrics.py
    python bench/metrics.py --extractors efficientnet_lite0 --input-sizes 64,256 --images 200
    python bench/metrics.py --skip-extractors --num-features 10000 --dim 2048
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def median_seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build_extractor(name, scratch):
    from tfgen.features.extractor import get_extractor

    if name == "inception":
        from tfgen.features.inception import find_inception_weights

        try:
            return get_extractor("inception", weights_path=find_inception_weights()), "imagenet"
        except FileNotFoundError:
            import keras

            path = os.path.join(scratch, "inception_random.weights.h5")
            keras.applications.InceptionV3(weights=None, classifier_activation=None).save_weights(path)
            return get_extractor("inception", weights_path=path), "random"
    if name == "classifier":
        from tfgen.features.classifier import train_domain_classifier

        folder = os.path.join(scratch, "classifier")
        train_domain_classifier("digits", out_dir=folder, resolution=32, epochs=1, progress=False)
        return get_extractor("classifier", path=folder), "digits, 1 epoch"
    return get_extractor(name), "imagenet"


def bench_extractor(name, input_sizes, num_images, batch_size, repeats):
    from tfgen.features.extractor import extract_features

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        extractor, weights = build_extractor(name, scratch)
        build_seconds = time.perf_counter() - start
        for size in input_sizes:
            images = np.random.default_rng(0).integers(0, 256, (num_images, size, size, 3), dtype=np.uint8)
            run = lambda: extract_features(extractor, images, batch_size=batch_size)  # noqa: E731
            run()  # warm-up: compiles for this shape
            seconds = median_seconds(run, repeats)
            rows.append(
                dict(
                    extractor=name,
                    weights=weights,
                    input_size=size,
                    images=num_images,
                    batch_size=batch_size,
                    images_per_second=round(num_images / seconds, 1),
                    build_seconds=round(build_seconds, 1),
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_metric_maths(num_features, dim, repeats):
    from tfgen.metrics.fid import feature_statistics, fid_from_features, frechet_distance
    from tfgen.metrics.kid import kernel_inception_distance
    from tfgen.metrics.precision_recall import density_coverage, precision_recall

    rng = np.random.default_rng(0)
    real = rng.standard_normal((num_features, dim), dtype=np.float32)
    fake = (rng.standard_normal((num_features, dim), dtype=np.float32) * 1.1 + 0.05).astype(np.float32)
    stats = feature_statistics(real), feature_statistics(fake)
    cases = {
        "fid (statistics + distance)": lambda: fid_from_features(real, fake),
        "fid statistics of one set": lambda: feature_statistics(real),
        "frechet distance from statistics": lambda: frechet_distance(*stats[0], *stats[1]),
        "kid (100 subsets of 1000)": lambda: kernel_inception_distance(real, fake),
        "precision/recall k=3": lambda: precision_recall(real, fake),
        "density/coverage k=5": lambda: density_coverage(real, fake),
    }
    rows = []
    for label, function in cases.items():
        function()  # warm-up
        seconds = median_seconds(function, repeats)
        rows.append(dict(metric=label, features=f"{num_features}x{dim}", seconds=round(seconds, 2)))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extractors", default="inception,efficientnet_lite0,classifier")
    parser.add_argument("--input-sizes", default="64,256", help="Comma-joined image sizes fed to the extractors.")
    parser.add_argument("--images", type=int, default=200, help="Images per timed extraction.")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--num-features", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-extractors", action="store_true")
    parser.add_argument("--skip-maths", action="store_true")
    args = parser.parse_args()

    if not args.skip_extractors:
        sizes = [int(s) for s in args.input_sizes.split(",")]
        for name in args.extractors.split(","):
            bench_extractor(name.strip(), sizes, args.images, args.batch_size, args.repeats)
    if not args.skip_maths:
        bench_metric_maths(args.num_features, args.dim, args.repeats)


if __name__ == "__main__":
    main()
