"""Probe of issue 14: discriminator rejection sampling (Azadi et al., 2019) on
the adapted cDCGAN. After the usual fine-tuning on the shots, the fine-tuned
discriminator scores M x N candidates of the new class and the N with the
highest logits are kept; its own discriminator, never the judge.

    python experiments/discriminator_rejection_probe.py --out-dir /work/bench_runs/digits_v3

--out-dir is a benchmark folder whose cDCGAN bases (``bases/cdcgan_*``, the
current defaults' signature) and judge are reused; run
``python benchmark.py --data D --methods cdcgan --out-dir DIR`` first.
Finding (docs/few_shot_benchmark.md): no keep-rate wins on every class.
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
flags.DEFINE_string("out-dir", "/work/bench_runs/digits_v3", "A benchmark folder with cDCGAN bases and a judge.")
flags.DEFINE_list("keep", ["2", "4", "8"], "M: keep the best 1/M of M x N candidates.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")


def adapt_with_discriminator(base, shots, seed):
    """``tfgen.adapt``'s cDCGAN fine-tuning, returning (the adaptation, the fine-tuned D)."""
    from tfgen.families.transfer import trainer as transfer
    from tfgen.adaptation import adapt_run

    trainers = []
    original = transfer.CDCGANTrainer.__init__

    def remember(self, *args, **kwargs):  # the fine-tuning trainer is built inside adapt
        original(self, *args, **kwargs)
        trainers.append(self)

    transfer.CDCGANTrainer.__init__ = remember
    try:
        adaptation = adapt_run(base, shots, seed=seed, quiet=True)
    finally:
        transfer.CDCGANTrainer.__init__ = original
    return adaptation, trainers[-1].discriminator


def main(argv):
    del argv
    import numpy as np

    import tfgen
    from experiments.common import benchmark_context, benchmark_episodes, print_benchmark_means
    from tfgen.few_shot_benchmark.methods import METHODS, base_name, reference_images
    from tfgen.few_shot_benchmark.scores import score_images

    settings, data, judge, groups = benchmark_context(FLAGS.data, FLAGS["out-dir"].value)
    keeps = [int(m) for m in FLAGS.keep]
    rows = {}
    for index, group in enumerate(groups):
        base = os.path.join(settings.out_dir, "bases", base_name(METHODS["cdcgan"], settings.data_tag(), index, group))
        if not os.path.isdir(base):
            raise SystemExit(f"No cDCGAN base {base}: run benchmark.py --methods cdcgan --out-dir {settings.out_dir} first.")
        for episode, baseline in benchmark_episodes(settings, data, judge, group, FLAGS.seeds):
            adaptation, discriminator = adapt_with_discriminator(base, episode.shots, episode.seed)
            generator = adaptation.generator
            n = episode.num_images
            candidates = tfgen.generate(generator, max(keeps) * n, batch_size=200, seed=1000 + episode.seed)
            label = np.full(len(candidates), adaptation.config.sample_class)
            floats = candidates.astype("float32") / 127.5 - 1.0
            logits = np.concatenate([np.asarray(discriminator((x, y), training=False))[:, 0]
                                     for x, y in zip(np.array_split(floats, 8), np.array_split(label, 8))])  # fmt: skip
            made = {"augmented_shots": reference_images("augmented_shots", episode), "cdcgan": candidates[:n]}
            for m in keeps:
                best = np.argsort(-logits[: m * n])[:n]
                made[f"cdcgan, best 1/{m}"] = candidates[: m * n][np.sort(best)]
            for row, images in made.items():
                rows.setdefault(row, {}).setdefault(episode.class_name, []).append(score_images(judge, images, baseline))
    print_benchmark_means(rows)


if __name__ == "__main__":
    app.run(main)
