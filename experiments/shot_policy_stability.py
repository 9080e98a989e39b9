"""How steady the shot-morphing policy fit is: refit finished shotmorph bases
on their training classes alone with other episode seeds and print the top
three candidates of each refit. Nothing of a held-out class is used.

    python experiments/shot_policy_stability.py \
        --bases "/work/bench_runs/fashion_v3/bases/shotmorph*" --seed-pairs 0-1,2-3,4-5
"""

from __future__ import annotations

import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("bases", None, "A glob of finished shotmorph run folders.", required=True)
flags.DEFINE_list("seed-pairs", ["0-1", "2-3", "4-5"], "Episode seeds of each refit (first-last).")


def main(argv):
    del argv
    import numpy as np

    from tfgen.runs import load_run_config
    from tfgen.data.episodes import load_few_shot_data_for
    from tfgen.metrics import get_extractor
    from tfgen.families.shotmorph.restyle import moments_of_uint8
    from tfgen.families.shotmorph.policy import fit_policy
    from tfgen.families.shotmorph.trainer import BANK_FILE, CLASSIFIER_DIR

    for base in sorted(glob.glob(FLAGS.bases)):
        if not os.path.isfile(os.path.join(base, BANK_FILE)):
            print(f"{base}: no {BANK_FILE} (not a finished shotmorph run with a flow bank); skipped")
            continue
        _, config, run = load_run_config(os.path.join(base, "config.json"))
        data = load_few_shot_data_for(run.data, config).train
        with np.load(os.path.join(base, BANK_FILE)) as stored:
            bank = (stored["flows"], stored["labels"])
        extractor = get_extractor("classifier", path=os.path.join(base, CLASSIFIER_DIR))
        styles = moments_of_uint8(data.images)
        for pair in FLAGS["seed-pairs"].value:
            first, last = (int(x) for x in pair.split("-"))
            _, scores = fit_policy(data.images, data.labels, extractor, bank=bank, styles=styles,
                                   seeds=tuple(range(first, last + 1)))  # fmt: skip
            top = sorted(scores.items(), key=lambda item: item[1])[:3]
            listed = "; ".join(f"morphs {p.morph_share} strength {p.strength} reach {p.reach} bank {p.bank_scale} "
                               f"pose {p.pose_spread} ink {p.ink_spread}: {v:.3f}" for p, v in top)  # fmt: skip
            print(f"{os.path.basename(base)} seeds {pair}: {listed}", flush=True)


if __name__ == "__main__":
    app.run(main)
