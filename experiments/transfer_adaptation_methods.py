"""Three ways to adapt one transfer base to k shots, side by side on the
few-shot benchmark (docs/adaptation_methods.md):

* ``finetune`` -- the family's default: G and D fine-tuned on the augmented shots;
* ``bsa`` -- batch-statistics adaptation (Noguchi & Harada, ICCV 2019): every
  pre-trained weight frozen, new per-channel scales and shifts after G's
  batch norms and one latent per shot fitted by reconstruction;
* ``cdc`` -- fine-tuning with the cross-domain distance-consistency loss
  (Ojha et al., CVPR 2021) against a frozen copy of the base.

    python experiments/transfer_adaptation_methods.py                   # cDCGAN base, digits 3 and 9, seeds 0-2
    python experiments/transfer_adaptation_methods.py --model dcgan
    python experiments/transfer_adaptation_methods.py --train-flags "--steps 4000"   # what docs/adaptation_methods.md ran

All three rows adapt the same base (the benchmark shares a base between
methods of one model and flags). Judge, base and scores are cached in
--out-dir, so a second run only scores what is missing. The table is the
mean over the held-out classes of each class's mean over seeds;
``s/episode`` is the mean wall time of one adaptation plus sampling 100
images (2 shared CPU cores).
"""

from __future__ import annotations

import os
import shlex
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data", "digits", "A bundled labelled set or class folders.")
flags.DEFINE_list("classes", ["3", "9"], "Held-out classes (one base is trained without all of them).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")
flags.DEFINE_string("model", "cdcgan", "The base's family: cdcgan or dcgan (BSA does not take infogan).")
flags.DEFINE_string("train-flags", "", "Extra train.py flags of the base, e.g. '--steps 4000'.")
flags.DEFINE_string("out-dir", "/work/bench_runs/adaptation_methods", "Judge, base, scores and report.")
flags.DEFINE_list("only", [], "Run only these rows (real, augmented_shots, finetune, bsa, cdc, bsa_t0.5, ...).")
flags.DEFINE_list("bsa-temperatures", ["0.5"], "Extra bsa rows sampling with these temperatures (an ablation).")

REFERENCE_ROWS = ("real", "augmented_shots")
METHOD_ROWS = ("finetune", "bsa", "cdc")
COLUMNS = (  # (episode key, title, decimals)
    ("fd_ratio", "FD ×real ↓", 1),
    ("judge_accuracy", "judge acc", 2),
    ("novelty", "novelty", 2),
    ("diversity_ratio", "diversity ×real", 2),
    ("seconds", "s / episode", 1),
)


def rows():
    from tfgen.few_shot_benchmark import Method

    train_flags = tuple(shlex.split(FLAGS["train-flags"].value))
    methods = [Method(name, FLAGS.model, train_flags, adapt=(("method", name),)) for name in METHOD_ROWS]
    # The same fit, its Gaussian's spread scaled (BSAConfig.temperature; 1 is the default row).
    methods += [Method(f"bsa_t{t}", FLAGS.model, train_flags,
                       adapt=(("method", "bsa"), ("options", {"bsa": {"temperature": float(t)}})))
                for t in FLAGS["bsa-temperatures"].value]  # fmt: skip
    every = [*REFERENCE_ROWS, *methods]
    only = set(FLAGS.only)
    return [row for row in every if not only or getattr(row, "name", row) in only]


def table(episodes) -> str:
    """Markdown: per row, the mean over classes of the per-class means over seeds."""
    import numpy as np

    names = list(dict.fromkeys(e["method"] for e in episodes))
    lines = ["| row | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]  # fmt: skip
    for name in names:
        mine = [e for e in episodes if e["method"] == name]
        classes = sorted({e["class"] for e in mine})
        cells = []
        for key, _, decimals in COLUMNS:
            per_class = [np.mean([e[key] for e in mine if e["class"] == c]) for c in classes]
            cells.append(f"{np.mean(per_class):.{decimals}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_class_table(episodes) -> str:
    import numpy as np

    lines = ["| row | class | FD ×real | judge acc | seeds |", "|---|---|---:|---:|---:|"]
    for name in dict.fromkeys(e["method"] for e in episodes):
        for c in sorted({e["class"] for e in episodes if e["method"] == name}):
            mine = [e for e in episodes if e["method"] == name and e["class"] == c]
            lines.append(f"| {name} | {c} | {np.mean([e['fd_ratio'] for e in mine]):.1f} | "
                         f"{np.mean([e['judge_accuracy'] for e in mine]):.2f} | {len(mine)} |")  # fmt: skip
    return "\n".join(lines)


def main(argv):
    del argv
    from tfgen.few_shot_benchmark import BenchmarkSettings, run_benchmark

    settings = BenchmarkSettings(
        data=FLAGS.data, out_dir=FLAGS["out-dir"].value, classes=tuple(FLAGS.classes),
        per_base=len(FLAGS.classes), seeds=tuple(int(s) for s in FLAGS.seeds),
    )  # fmt: skip
    result = run_benchmark(settings, rows())
    for name, info in result["bases"].items():
        print(f"base {name}: {info['train_seconds']:.0f} s of training, flags {info['train_flags']}, "
              f"health {info['health']}")  # fmt: skip
    print(table(result["episodes"]))
    print()
    print(per_class_table(result["episodes"]))


if __name__ == "__main__":
    app.run(main)
