"""Is the CPU-sized L2L-GAN simply under-trained? phi_s^1 (all source data)
of ``l2l_glyphs.py``'s GEM-type-1 run, trained on from 2000 to --steps
steps (a copy of its stage folder, resumed from its checkpoint), measured
on the novel shots with the same metrics as ``l2l_glyphs.py``, plus how
much an image resembles its own shot against the shot of another class
(mean L1 in [0, 1]).

    python experiments/l2l_longer_source.py --runs-dir /work/fewshot_runs/l2l --steps 6000

Run ``l2l_glyphs.py`` first (same --runs-dir): it trains the 2000-step run
and the glyph classifier this script reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import experiments.l2l_glyphs as base  # noqa: E402  (defines --runs-dir and the run settings)
from experiments.common import say  # noqa: E402

flags.DEFINE_integer("steps", 6000, "Steps phi_s^1 is trained to.")
FLAGS = flags.FLAGS

KEYS = ("fid_effnet", "class_accuracy", "frechet", "diversity_within", "l1_to_own_shot", "l1_to_other_class_shot")


def train_longer(runs_dir, steps):
    """The type-1 run's phi_s^1 stage, copied and trained on to ``steps``; returns its folder."""
    from tfgen.data.episodes import load_few_shot_data
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.families.l2l.trainer import PairTrainer

    name = f"l2l_source_full_s{steps}"
    folder = os.path.join(runs_dir, name, "stages", "source_full")
    if os.path.isfile(os.path.join(folder, RAW_WEIGHTS)):
        return folder
    if not os.path.isdir(folder):
        shutil.copytree(os.path.join(runs_dir, base.run_name(1), "stages", "source_full"), folder)
        os.remove(os.path.join(folder, RAW_WEIGHTS))  # not finished: resume from the checkpoint
    config = dataclasses.replace(base.l2l_config(1), gem_layers="", gem_type=1, conditioning_images=0)
    data = load_few_shot_data(base.DATASET, resolution=base.RESOLUTION, channels=base.CHANNELS)
    run = dataclasses.replace(base.run_config(os.path.join(name, "stages", "source_full"), runs_dir, steps), checkpoint_every=500)
    say(f"training phi_s^1 on to {steps} steps")
    started = time.perf_counter()
    PairTrainer(config, run, images=data.train, quiet=True).fit()
    say(f"trained in {time.perf_counter() - started:.0f} s")
    return folder


def main(argv):
    from tfgen.metrics import get_extractor
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.families.l2l.trainer import L2LTrainer, load_l2l_generator

    runs_dir = FLAGS["runs-dir"].value
    longer = train_longer(runs_dir, FLAGS.steps)
    trainer = L2LTrainer(base.l2l_config(1), base.run_config(base.run_name(1), runs_dir), quiet=True)
    clf = get_extractor("classifier", path=os.path.join(runs_dir, "classifier_glyphs"))
    data = base.EvalData(trainer, clf, get_extractor("efficientnet_lite0"))
    per = FLAGS["per-shot"].value
    results = {}
    for steps, folder in ((2000, os.path.join(runs_dir, base.run_name(1), "stages", "source_full")), (FLAGS.steps, longer)):
        generator = load_l2l_generator(trainer.plain_config, os.path.join(folder, RAW_WEIGHTS))
        images, labels = base.generate(generator, data, "none", 1000)
        metrics = base.measure_set(images, labels, data, effnet=True)
        own = np.repeat(data.shots, per, axis=0).astype("float32") / 255
        other = np.roll(own, 10 * per, axis=0)  # the shots of another novel class
        generated = images.astype("float32") / 255
        metrics["l1_to_own_shot"] = float(np.mean(np.abs(generated - own)))
        metrics["l1_to_other_class_shot"] = float(np.mean(np.abs(generated - other)))
        results[f"phi_s1_{steps}_steps"] = {key: metrics[key] for key in KEYS}
        say(f"{steps} steps: {json.dumps(results[f'phi_s1_{steps}_steps'])}")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
