"""Probe of issue 14: fixed shot-morphing policies scored by the benchmark's
judge on the held-out classes (what the fitted policy is compared with).

    python experiments/shot_policy_probe.py --data digits --out-dir /work/bench_runs/digits_v3

For each held-out group, the flow bank and the style prior are learnt on the
*other* classes (as ``train.py --model shotmorph`` does), then every candidate of
``tfgen.families.shotmorph.policy.CANDIDATES`` makes images from each episode's shots.
This looks at the held-out classes, so it only explains the fitted policy;
it must never choose one (the fit on the training classes does).
--out-dir is a benchmark folder (its judge is reused or trained).
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
flags.DEFINE_string("out-dir", "/work/bench_runs/digits_v3", "A benchmark folder (its judge is reused).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds.")


def main(argv):
    del argv
    import numpy as np

    from experiments.common import benchmark_context, benchmark_episodes, print_benchmark_means
    from tfgen.few_shot_benchmark.methods import reference_images
    from tfgen.few_shot_benchmark.scores import score_images
    from tfgen.morph import ShotMorpher
    from tfgen.families.shotmorph.restyle import StylePrior, moments_of_uint8
    from tfgen.sampling import generate
    from tfgen.families.shotmorph.policy import CANDIDATES, flow_bank, policy_generator

    settings, data, judge, groups = benchmark_context(FLAGS.data, FLAGS["out-dir"].value)
    rows = {}
    for group in groups:
        held_out = [data.class_names.index(c) for c in group]
        training = ~np.isin(data.labels, held_out)
        bank, _ = flow_bank(data.images[training], data.labels[training])
        prior = StylePrior.fit(moments_of_uint8(data.images[training]), data.labels[training], shots=settings.shots)
        for episode, baseline in benchmark_episodes(settings, data, judge, group, FLAGS.seeds):
            morpher = ShotMorpher.from_shots(episode.shots)
            made = {name: reference_images(name, episode) for name in ("augmented_shots", "copies")}
            for policy in CANDIDATES:
                name = (f"morphs {policy.morph_share}, strength {policy.strength}, reach {policy.reach}, "
                        f"bank {policy.bank_scale}, pose {policy.pose_spread}, ink {policy.ink_spread}")
                made[name] = generate(policy_generator(morpher, policy, bank, prior), episode.num_images,
                                      batch_size=episode.num_images, seed=episode.seed)  # fmt: skip
            for row, images in made.items():
                rows.setdefault(row, {}).setdefault(episode.class_name, []).append(score_images(judge, images, baseline))
    print_benchmark_means(rows)


if __name__ == "__main__":
    app.run(main)
