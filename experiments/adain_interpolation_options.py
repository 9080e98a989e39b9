"""The AdaIN adaptation's interpolation-loss options on held-out classes
(docs/stylegan_few_shot.md, "The interpolation loss: the write-up's three
options"): one StyleGAN base per held-out group, adapted to the benchmark's
episodes with

* ``adain_l1``: option 3, distance-weighted L1 to both shots (the default);
* ``adain_discriminator``: option 1, a k-shot discriminator on the
  interpolation points;
* ``adain_content_style``: option 2, the content of x_i and the style of x_j
  in the perceptual features;
* ``adain_no_interpolation``: ``interpolation_weight=0`` (no interpolation loss);

beside the benchmark's references, every other setting at tfgen's defaults
and scored by the benchmark (``tfgen.few_shot_benchmark``: judge, FD ×real, judge
accuracy, novelty, diversity).

    python benchmark.py --data digits --methods stylegan --classes 3,9 --per-base 2 \\
        --seeds 0,1,2 --out-dir /work/bench_runs/stylegan_opts          # judge + base, once (optional)
    python experiments/adain_interpolation_options.py                   # the four rows

The base is trained by the benchmark when missing (``train.py --model
stylegan`` defaults: 2500 steps, ~20-30 min on 2 CPU cores) and reused from
--out-dir, as are the judge and every scored episode. The CPU time of each
adaptation (process time, adaptation plus sampling of the episode's images)
is written to ``adain_options_cpu.json`` there and printed per row.
"""

from __future__ import annotations

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "digits", "The benchmark's labelled data.")
flags.DEFINE_list("classes", ["3", "9"], "Held-out classes.")
flags.DEFINE_integer("per-base", 2, "Classes held out together from one base.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
flags.DEFINE_string("out-dir", "/work/bench_runs/stylegan_opts", "Benchmark folder: judge, bases, scores, report.")
flags.DEFINE_list("only", [], "Only these rows (names as in the table).")

CPU_FILE = "adain_options_cpu.json"

# Row -> the AdaINAdaptConfig fields that differ from the defaults.
OPTIONS = {
    "adain_l1": {"interpolation_loss": "l1"},
    "adain_discriminator": {"interpolation_loss": "discriminator"},
    "adain_content_style": {"interpolation_loss": "content_style"},
    "adain_no_interpolation": {"interpolation_weight": 0.0},
}


def rows():
    from tfgen.few_shot_benchmark import Method

    methods = [Method(name, "stylegan", (), (("options", {"adain": dict(fields)}),)) for name, fields in OPTIONS.items()]
    every = ["real", "augmented_shots", "copies", *methods]
    only = set(FLAGS.only)
    return [row for row in every if not only or getattr(row, "name", row) in only]


def time_adaptations(path):
    """Wrap the benchmark's adapted_images (as its runner calls it) to record
    the process (CPU) and wall time of every adaptation it runs, by row,
    class and seed, in ``path``. Rows read from the benchmark's cache are
    not run again, so they keep the times recorded when they ran."""
    from tfgen.few_shot_benchmark import runner
    from tfgen.files import read_json, write_json_atomic

    adapted_images = getattr(runner, "adapted_images", None)
    if adapted_images is None:
        print("tfgen.few_shot_benchmark.runner no longer calls adapted_images by that name: CPU times are not recorded.")
        return

    def timed(method, base_dir, episode):
        cpu, wall = time.process_time(), time.perf_counter()
        images = adapted_images(method, base_dir, episode)
        times = read_json(path, {})
        times[f"{method.name}|{episode.class_name}|seed{episode.seed}"] = {
            "cpu_seconds": time.process_time() - cpu,
            "wall_seconds": time.perf_counter() - wall,
        }
        write_json_atomic(path, times)
        return images

    runner.adapted_images = timed


def main(argv):
    del argv
    from tfgen.few_shot_benchmark import BenchmarkSettings, run_benchmark
    from tfgen.few_shot_benchmark.report import markdown
    from tfgen.files import read_json

    settings = BenchmarkSettings(
        data=FLAGS.data, out_dir=FLAGS["out-dir"].value, classes=tuple(FLAGS.classes),
        per_base=FLAGS["per-base"].value, seeds=tuple(int(s) for s in FLAGS.seeds),
    )  # fmt: skip
    cpu_path = os.path.join(settings.out_dir, CPU_FILE)
    time_adaptations(cpu_path)
    started = time.process_time()
    result = run_benchmark(settings, rows())
    print(markdown(result))
    print(f"CPU seconds of this invocation: {time.process_time() - started:.0f}")
    times = read_json(cpu_path, {})
    for name in OPTIONS:
        cpu = [v["cpu_seconds"] for k, v in times.items() if k.startswith(name + "|")]
        wall = [v["wall_seconds"] for k, v in times.items() if k.startswith(name + "|")]
        if cpu:
            print(f"{name}: CPU {np.mean(cpu):.0f} s per episode (wall {np.mean(wall):.0f} s; {len(cpu)} episodes)")


if __name__ == "__main__":
    app.run(main)
