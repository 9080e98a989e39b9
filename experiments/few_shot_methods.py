"""Every few-shot family of the toolkit through the benchmark, side by side
with the references (issue 14, "FIGR and L2L stay and are measured in the
same table"):

    python experiments/few_shot_methods.py                         # digits, 3 seeds (~2 h on 2 CPU cores)
    python experiments/few_shot_methods.py --data glyphs:greek::100 --out-dir /work/bench_runs/glyphs_v3

Each family runs with train.py's and tfgen.adapt's defaults, except FIGR:
its default 2000 meta-iterations at width 32 take hours on 2 CPU cores, so
it runs 300 at width 16 (the budget of the issue's own table; issue 16 is
about making Reptile fast enough for more). Bases, judge and scores are
cached in --out-dir and shared with benchmark.py runs there.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "digits", "A bundled labelled set or class folders.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
flags.DEFINE_string("out-dir", "/work/bench_runs/digits_v3", "Where the judge, bases, scores and report go.")


def rows():
    from tfgen.benchmark import METHODS, Method

    # The cheapest bases first, so that an interrupted run has the most rows.
    return [
        "real", "augmented_shots", "copies",
        METHODS["shotmorph"], METHODS["cdcgan"], METHODS["infogan"], METHODS["dcgan"],
        Method("figr", "figr", ("--steps", "300", "--width", "16")),
        METHODS["stylegan"], METHODS["l2l"],
    ]  # fmt: skip


def main(argv):
    del argv
    from tfgen.benchmark import BenchmarkSettings, run_benchmark
    from tfgen.benchmark.report import markdown

    settings = BenchmarkSettings(data=FLAGS.data, out_dir=FLAGS["out-dir"].value,
                                 seeds=tuple(int(s) for s in FLAGS.seeds))  # fmt: skip
    print(markdown(run_benchmark(settings, rows())))


if __name__ == "__main__":
    app.run(main)
