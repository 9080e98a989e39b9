"""The tables of docs/few_shot_benchmark.md: the cDCGAN with the old and the
new defaults against the references, on three datasets (issue 14).

    python experiments/few_shot_benchmark.py                      # all three, 3 seeds (~2.5 h on 2 CPU cores)
    python experiments/few_shot_benchmark.py --datasets digits --seeds 0 --out-dir /tmp/fsb

Rows: real, augmented_shots, copies; ``cdcgan`` (train.py's defaults: 10000
steps; adapted generator samples with truncation 0.8); ``cdcgan_before``
(2000 steps, no truncation: the defaults before issue 14); ``cdcgan_psi1``
(the new base without truncation). Everything is cached under --out-dir.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["digits", "fashion_mnist:all:5000", "glyphs:greek::100"], "Labelled data sets.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
flags.DEFINE_string("out-dir", "/work/bench_runs/experiment", "Where judges, bases and reports go.")


def rows():
    from tfgen.few_shot_benchmark import Method

    no_truncation = (("options", {"truncation_psi": 1.0}),)
    return [
        "real", "augmented_shots", "copies",
        Method("cdcgan_before", "cdcgan", ("--steps", "2000"), no_truncation),
        Method("cdcgan", "cdcgan"),
        Method("cdcgan_psi1", "cdcgan", (), no_truncation),
    ]  # fmt: skip


def main(argv):
    del argv
    from tfgen.few_shot_benchmark import BenchmarkSettings, run_benchmark
    from tfgen.few_shot_benchmark.report import markdown

    for data in FLAGS.datasets:
        tag = data.replace(":", "_").replace("/", "_")
        settings = BenchmarkSettings(data=data, out_dir=os.path.join(FLAGS["out-dir"].value, tag),
                                     seeds=tuple(int(s) for s in FLAGS.seeds))  # fmt: skip
        print(markdown(run_benchmark(settings, rows())))


if __name__ == "__main__":
    app.run(main)
