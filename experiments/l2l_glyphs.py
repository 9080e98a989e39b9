"""L2L-GAN (Wang & Lu) on the bundled glyph alphabets: the paper's Table 3
and Figure 3 in our CPU budget.

The script

1. runs Algorithm 1 (``tfgen.families.l2l.trainer.L2LTrainer``) on ``glyphs`` (490
   source / 130 novel classes, p = 2 shots per novel class) for GEM type 1;
   for GEM types 2 and 3 it copies type 1's plain stages (phi_s^1, the
   phi_s^2 of every epoch, phi_t^plain: they do not depend on the GEM
   settings) and reruns only the GEMs and the fine-tuning;
2. trains the control: phi_t^plain fine-tuned on the novel shots for the same
   number of steps *without* GEMs, so that "GEMs help" can be told apart from
   "more steps help";
3. trains (or reuses) a glyph domain classifier (all 620 classes);
4. conditions every generator on the 2 shots of each novel class (5 images a
   shot, 1300 images) and measures them against the 18 other real images of
   each class: Fréchet distance in EfficientNet-Lite0 features (the paper's
   Table 3 quantity), class accuracy (per-image target: the class it was
   conditioned on), Fréchet distance and diversity in the classifier's
   features (also within class), copy share vs the shots, MSE / SSIM to the
   nearest real image;
5. writes Figure-3 grids, ``results.json`` and ``tables.md`` to
   ``docs/l2l_glyphs/``.

    python experiments/l2l_glyphs.py --runs-dir /work/fewshot_runs/l2l --docs-dir docs
    python experiments/l2l_glyphs.py --source-steps 4 --few-steps 4 --gem-steps 2 --finetune-steps 4 \\
        --runs-dir /tmp/l2l_smoke --docs-dir /tmp/l2l_smoke_docs --classifier-epochs 1   # a smoke run

Runs, the classifier and measured metrics are cached in --runs-dir, so a
second invocation only redoes what changed.
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

from experiments.common import CHANNELS, RESOLUTION, read_json, say, write_json  # noqa: E402
from tfgen.config import RunConfig
from tfgen.families.l2l.config import L2LConfig

FLAGS = flags.FLAGS
flags.DEFINE_string("runs-dir", "/work/fewshot_runs/l2l", "Where classifier and runs go (outside the repo).")
flags.DEFINE_string("docs-dir", os.path.join(ROOT, "docs"), "Where l2l_glyphs/ goes.")
flags.DEFINE_list("gem-types", ["1", "2", "3"], "GEM types to run (the first one trains the shared stages).")
flags.DEFINE_integer("width", 16, "Generator / critic width (the paper: 64).")
flags.DEFINE_integer("source-steps", 2000, "Steps of phi_s^1 on all source data.")
flags.DEFINE_integer("few-steps", 400, "Steps of every phi_s^2 and of phi_t^plain.")
flags.DEFINE_integer("gem-epochs", 2, "GEM epochs T.")
flags.DEFINE_integer("gem-steps", 150, "GEM steps per GEM per epoch.")
flags.DEFINE_integer("finetune-steps", 200, "Fine-tuning steps of phi_t (and of the no-GEM control).")
flags.DEFINE_integer("classifier-epochs", 15, "Epochs of the glyph domain classifier.")
flags.DEFINE_integer("per-shot", 5, "Generated images per shot (2 shots a class).")
flags.DEFINE_integer("eval-classes", 0, "Evaluate the first N novel classes only (0: all; for smoke runs).")
flags.DEFINE_list("gen-seeds", ["0", "1", "2"], "Seeds of z for the generated sets (spread of the metrics).")
flags.DEFINE_list("effnet-seeds", ["0"], "Generation seeds also measured in EfficientNet-Lite0 features "
                  "(224x224 inference: ~40 s per 1300 images on our CPU).")

DATASET = "glyphs"
SEED = 0


def l2l_config(gem_type):
    return L2LConfig(
        resolution=RESOLUTION, channels=CHANNELS, width=FLAGS.width, batch_size=16, critic_steps=2,
        samples_per_class=2, source_steps=FLAGS["source-steps"].value, few_steps=FLAGS["few-steps"].value,
        gem_epochs=FLAGS["gem-epochs"].value, gem_steps=FLAGS["gem-steps"].value,
        finetune_steps=FLAGS["finetune-steps"].value, gem_layers="3,4", strategy_gem="A", gem_type=gem_type,
    )  # fmt: skip


def run_name(gem_type):
    return f"l2l_{DATASET}_w{FLAGS.width}_s{FLAGS['source-steps'].value}_type{gem_type}"


def run_config(name, runs_dir, steps=0):
    return RunConfig(
        name=name, runs_dir=runs_dir, data=DATASET, steps=steps, seed=SEED, flip=False, sample_every=10**6,
        checkpoint_every=200, log_every=50,
    )  # fmt: skip


SHARED_STAGES = lambda epochs: ["source_full"] + [f"source_few_{t}" for t in range(1, epochs + 1)] + ["target_plain"]  # noqa: E731,E501


def train_l2l(gem_type, runs_dir, first_type):
    """(L2LTrainer after fit, seconds of fit). GEM types after the first copy its plain stages."""
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.families.l2l.trainer import L2LTrainer

    trainer = L2LTrainer(l2l_config(gem_type), run_config(run_name(gem_type), runs_dir), quiet=False)
    timing = os.path.join(trainer.run_dir, "seconds.json")
    if not os.path.isfile(os.path.join(trainer.run_dir, RAW_WEIGHTS)):
        if gem_type != first_type:
            source = os.path.join(runs_dir, run_name(first_type), "stages")
            for stage in SHARED_STAGES(trainer.config.gem_epochs):
                target = trainer.stage_dir(stage)
                if not os.path.isdir(target):
                    say(f"type {gem_type}: copying the shared stage {stage} from {run_name(first_type)}")
                    shutil.copytree(os.path.join(source, stage), target)
        say(f"training {run_name(gem_type)}")
        started = time.perf_counter()
        trainer.fit()
        spent = time.perf_counter() - started + read_json(timing, {}).get("seconds", 0.0)
        write_json(timing, {"seconds": spent})
    return trainer, read_json(timing, {}).get("seconds")


def train_control(trainer, runs_dir):
    """phi_t^plain fine-tuned on X_n for finetune_steps without GEMs: (run folder, seconds)."""
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.training.ema import copy_weights
    from tfgen.families.l2l.trainer import PairTrainer, copy_generator_weights

    config = trainer.plain_config
    name = f"l2l_{DATASET}_w{FLAGS.width}_s{FLAGS['source-steps'].value}_control_ft{config.finetune_steps}"
    run = run_config(name, runs_dir, steps=config.finetune_steps)
    timing = os.path.join(run.run_dir, "seconds.json")
    if not os.path.isfile(os.path.join(run.run_dir, RAW_WEIGHTS)):
        say(f"training the control {name} (phi_t^plain + {config.finetune_steps} steps, no GEMs)")
        started = time.perf_counter()
        control = PairTrainer(config, run, images=trainer.novel, gems="none")
        generator, critic = trainer._load_stage("target_plain")
        copy_generator_weights(control.generator, generator)
        copy_weights(control.discriminator, critic)
        control.fit()
        spent = time.perf_counter() - started + read_json(timing, {}).get("seconds", 0.0)
        write_json(timing, {"seconds": spent})
    return run.run_dir, read_json(timing, {}).get("seconds")


def train_all(runs_dir):
    types = [int(t) for t in FLAGS["gem-types"].value]
    trainers, seconds = {}, {}
    trainers[types[0]], seconds[f"type{types[0]}"] = train_l2l(types[0], runs_dir, types[0])
    control_dir, seconds["control"] = train_control(trainers[types[0]], runs_dir)
    for gem_type in types[1:]:
        trainers[gem_type], seconds[f"type{gem_type}"] = train_l2l(gem_type, runs_dir, types[0])
    return trainers, control_dir, seconds


# --- evaluation ------------------------------------------------------------------

COLUMNS = [  # (key, column title, decimals)
    ("fid_effnet", "FID EffNet-Lite0 ↓", 1),
    ("class_accuracy", "class acc. ↑", 3),
    ("frechet", "Fréchet (clf) ↓", 2),
    ("diversity", "diversity", 3),
    ("diversity_within", "div. within class", 3),
    ("nearest_shot", "nearest shot (median)", 2),
    ("copy_share", "copy share ↓", 3),
    ("copy_share_class", "copy share (own shots) ↓", 3),
    ("mse", "MSE", 0),
    ("ssim", "SSIM", 3),
]
ROW_TITLES = {
    "real": "real (9 other images a class)",
    "phi_s1": "phi_s^1 (all source data; DAGAN baseline)",
    "phi_s2": "phi_s^2 (p per source class)",
    "phi_t_plain": "phi_t^plain",
    "control": "phi_t^plain + fine-tune, no GEMs (control)",
}


def row_title(row):
    if row in ROW_TITLES:
        return ROW_TITLES[row]
    kind, gem_type = row.rsplit("_type", 1)
    return {"phi_t_noft": f"phi_t type {gem_type}, GEMs without fine-tuning",
            "phi_t": f"phi_t type {gem_type} (GEMs + fine-tune)"}[kind]  # fmt: skip


class EvalData:
    """The novel classes: the p shots of each (X_n), the 9/9 halves of the
    other real images (A: the real row, B: the reference) and their features."""

    def __init__(self, trainer, clf, effnet, max_classes=0):
        from tfgen.data.episodes import load_few_shot_data
        from tfgen.metrics import extract_features

        from experiments.common import reference_halves

        test = load_few_shot_data(DATASET, resolution=RESOLUTION, channels=CHANNELS).test
        novel = trainer.novel
        classes = np.unique(novel.labels)
        if max_classes:
            classes = classes[:max_classes]
        keep = np.isin(novel.labels, classes)
        self.shots = np.asarray(novel.images)[keep]
        self.shot_labels = np.asarray(novel.labels)[keep]
        self.classes = classes
        self.class_names = [str(test.class_names[k]) for k in classes]
        self.clf_target = {k: clf.class_names.index(str(test.class_names[k])) for k in classes}
        labels = np.asarray(test.labels)
        halves = {}
        for k in classes:
            shots = self.shots[self.shot_labels == k]
            halves[k] = reference_halves(np.asarray(test.images)[labels == k], shots, seed=SEED)
        self.real_a = np.concatenate([halves[k][0] for k in classes])
        self.real_a_labels = np.concatenate([np.full(len(halves[k][0]), k) for k in classes])
        self.ref = np.concatenate([halves[k][1] for k in classes])
        self.ref_labels = np.concatenate([np.full(len(halves[k][1]), k) for k in classes])
        self.all18 = np.concatenate([self.real_a, self.ref])
        self.clf, self.effnet = clf, effnet
        self.ref_clf = extract_features(clf, self.ref, batch_size=250)["features"]
        self.ref_eff = extract_features(effnet, self.ref, batch_size=100)["features"]
        self.all18_eff = np.concatenate([extract_features(effnet, self.real_a, batch_size=100)["features"],
                                         self.ref_eff])  # fmt: skip
        self.shot_clf = extract_features(clf, self.shots, batch_size=250)["features"]


def generate(generator, data, gems, seed):
    """uint8 images, FLAGS.per_shot per shot (z from ``seed``), and their class labels."""
    from tfgen.families.l2l.trainer import conditioned_samples

    shots = data.shots.astype("float32") / 127.5 - 1.0
    per = FLAGS["per-shot"].value
    images = conditioned_samples(generator, shots, per_image=per, seed=seed, gems=gems, with_inputs=False)
    return images, np.repeat(data.shot_labels, per)


def measure_set(images, labels, data, effnet=True):
    """The table's metrics of uint8 ``images`` conditioned on (or of) the classes ``labels``."""
    from tfgen.metrics import extract_features, fid_from_features, memorisation, nearest_real_mse_ssim, pairwise_diversity

    clf = extract_features(data.clf, images, batch_size=250)
    eff = extract_features(data.effnet, images, batch_size=100)["features"] if effnet else None
    features = clf["features"]
    targets = np.asarray([data.clf_target[k] for k in labels])
    near = memorisation(features, data.shot_clf)
    within, copies, mse, ssim = [], [], [], []
    for k in data.classes:
        mine = labels == k
        within.append(pairwise_diversity(features[mine]))
        copies.append(memorisation(features[mine], data.shot_clf[data.shot_labels == k])["copy_share"])
        pixels = nearest_real_mse_ssim(images[mine], data.ref[data.ref_labels == k])
        mse.append(pixels["mse_per_image"])
        ssim.append(pixels["ssim_per_image"])
    return {
        "fid_effnet": fid_from_features(data.ref_eff, eff) if effnet else None,
        "fid_effnet_all18": fid_from_features(data.all18_eff, eff) if effnet else None,
        "class_accuracy": float(np.mean(np.argmax(clf["logits"], axis=1) == targets)),
        "frechet": fid_from_features(data.ref_clf, features),
        "diversity": pairwise_diversity(features),
        "diversity_within": float(np.mean(within)),
        "nearest_shot": near["median_distance"],
        "copy_share": near["copy_share"],
        "copy_share_class": float(np.mean(copies)),
        "mse": float(np.mean(np.concatenate(mse))),
        "ssim": float(np.mean(np.concatenate(ssim))),
        "num_images": int(len(images)),
    }


def generators(trainers, control_dir):
    """{row: (loader, gems)}: every generator row, loaded lazily."""
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.families.l2l.trainer import load_l2l_generator

    first = next(iter(trainers.values()))
    rows = {
        "phi_s1": (lambda: first._load_stage("source_full")[0], "none"),
        "phi_s2": (lambda: first.stage_generators()["phi_s2"], "none"),
        "phi_t_plain": (lambda: first.stage_generators()["phi_t_plain"], "none"),
        "control": (lambda: load_l2l_generator(first.plain_config, os.path.join(control_dir, RAW_WEIGHTS)), "none"),
    }
    for gem_type, trainer in trainers.items():
        rows[f"phi_t_noft_type{gem_type}"] = (trainer.combined_generator, "all")
        rows[f"phi_t_type{gem_type}"] = ((lambda t: lambda: t.stage_generators()["phi_t"])(trainer), "all")
    return rows


def evaluate(trainers, control_dir, data, cache, runs_dir):
    """{row: {seed: metrics}} (the real row under seed "-")."""
    n_classes = len(data.classes)
    per = FLAGS["per-shot"].value
    results = {}
    key = f"real/c{n_classes}"
    if key not in cache:
        cache[key] = measure_set(data.real_a, data.real_a_labels, data)
        write_json(os.path.join(runs_dir, "metrics_cache.json"), cache)
        say(f"{key}: " + ", ".join(f"{k} {v:.4g}" for k, v in cache[key].items() if v is not None))
    results["real"] = {"-": cache[key]}
    for row, (load, gems) in generators(trainers, control_dir).items():
        tag = os.path.basename(control_dir) if row == "control" else run_name(int(row[-1])) if "type" in row else run_name(
            next(iter(trainers)))
        generator = None
        results[row] = {}
        for seed in FLAGS["gen-seeds"].value:
            key = f"{tag}/{row}/c{n_classes}/p{per}/seed{seed}"
            with_effnet = seed in FLAGS["effnet-seeds"].value
            if key in cache and with_effnet and cache[key]["fid_effnet"] is None:
                del cache[key]
            if key not in cache:
                generator = generator or load()
                started = time.perf_counter()
                images, labels = generate(generator, data, gems, 1000 + int(seed))
                seconds = time.perf_counter() - started
                cache[key] = {**measure_set(images, labels, data, with_effnet), "sampling_seconds": seconds}
                write_json(os.path.join(runs_dir, "metrics_cache.json"), cache)
                say(f"{key}: " + ", ".join(f"{k} {v:.4g}" for k, v in cache[key].items() if v is not None))
            results[row][seed] = cache[key]
    return results


def summarise_rows(results):
    summary = {}
    for row, per_seed in results.items():
        keys = next(iter(per_seed.values())).keys()
        summary[row] = {}
        for k in keys:
            values = [m[k] for m in per_seed.values() if m[k] is not None]
            summary[row][k] = (float(np.mean(values)), float(np.std(values)), len(values))
    return summary


def figures(trainers, control_dir, out_dir):
    from tfgen.runs import RAW_WEIGHTS
    from tfgen.sampling import save_image
    from tfgen.families.l2l.trainer import figure_grid, load_l2l_generator

    paths = []
    for gem_type, trainer in trainers.items():
        stages = trainer.stage_generators()
        path = os.path.join(out_dir, f"figure3_type{gem_type}.png")
        order = {name: stages[name] for name in ("phi_s2", "phi_t_plain", "phi_t")}
        save_image(path, figure_grid(order, trainer.novel, per_image=7, seed=SEED, num_classes=6))
        paths.append(path)
    first = next(iter(trainers.values()))
    stages = first.stage_generators()
    control = load_l2l_generator(first.plain_config, os.path.join(control_dir, RAW_WEIGHTS))
    order = {"phi_s2": stages["phi_s2"], "phi_t_plain": stages["phi_t_plain"], "control": control,
             "phi_t": stages["phi_t"]}  # fmt: skip
    path = os.path.join(out_dir, f"figure3_type{next(iter(trainers))}_with_control.png")
    save_image(path, figure_grid(order, first.novel, per_image=7, seed=SEED, num_classes=6))
    return paths + [path]


def markdown_tables(report):
    summary = report["summary"]
    lines = [
        "| row | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for row, values in summary.items():
        cells = [f"{values[k][0]:.{d}f} ± {values[k][1]:.{d}f}" if values[k][2] > 1 else f"{values[k][0]:.{d}f}"
                 for k, _, d in COLUMNS]  # fmt: skip
        lines.append(f"| {row_title(row)} | " + " | ".join(cells) + " |")
    types = [t for t in FLAGS["gem-types"].value]
    lines += ["", f"Table 3 shape (FID in EfficientNet-Lite0 features vs the reference; generation seed(s) {', '.join(FLAGS['effnet-seeds'].value)}):", "",
              "| generator | " + " | ".join(f"GEM type {t}" for t in types) + " |",
              "|---|" + "---:|" * len(types)]  # fmt: skip
    def cell(row):
        mean, std, count = summary[row]["fid_effnet"]
        return f"{mean:.1f} ± {std:.1f}" if count > 1 else f"{mean:.1f}"

    for row in ("phi_s1", "phi_s2", "phi_t_plain", "control"):
        lines.append(f"| {row_title(row)} | " + " | ".join([cell(row)] * len(types)) + " |")
    lines.append("| phi_t, GEMs without fine-tuning | " + " | ".join(cell(f"phi_t_noft_type{t}") for t in types) + " |")
    lines.append("| phi_t (GEMs + fine-tune) | " + " | ".join(cell(f"phi_t_type{t}") for t in types) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    import experiments.common as common
    from tfgen.metrics import get_extractor

    runs_dir, docs_dir = FLAGS["runs-dir"].value, FLAGS["docs-dir"].value
    out_dir = os.path.join(docs_dir, "l2l_glyphs")
    os.makedirs(out_dir, exist_ok=True)
    started = time.perf_counter()
    trainers, control_dir, seconds = train_all(runs_dir)
    say(f"trained (seconds per run: {seconds})")
    common.CLASSIFIER_DATA.setdefault(DATASET, (DATASET, FLAGS["classifier-epochs"].value))
    clf, seconds["classifier"] = common.classifier(DATASET, runs_dir)
    say(f"classifier: validation accuracy {clf.info.validation_accuracy:.3f} on {len(clf.class_names)} classes")
    effnet = get_extractor("efficientnet_lite0")
    data = EvalData(next(iter(trainers.values())), clf, effnet, FLAGS["eval-classes"].value)
    say(f"evaluation data: {len(data.classes)} novel classes, {len(data.shots)} shots, reference {len(data.ref)}, "
        f"real row {len(data.real_a)}")  # fmt: skip
    cache = read_json(os.path.join(runs_dir, "metrics_cache.json"), {})
    results = evaluate(trainers, control_dir, data, cache, runs_dir)
    paths = figures(trainers, control_dir, out_dir)
    say(f"figures: {paths}")
    gem_losses = {}
    for gem_type, trainer in trainers.items():
        log = os.path.join(trainer.run_dir, "gems", "losses.jsonl")
        if os.path.isfile(log):
            with open(log) as f:
                gem_losses[f"type{gem_type}"] = [json.loads(line) for line in f if line.strip()]
    report = {
        "settings": {flag.name: flag.value for flag in FLAGS.get_key_flags_for_module(sys.argv[0])},
        "l2l_config": {f"type{t}": dataclasses.asdict(tr.config) for t, tr in trainers.items()},
        "runs": {f"type{t}": tr.run_dir for t, tr in trainers.items()} | {"control": control_dir},
        "seconds": seconds,
        "classifier_validation_accuracy": clf.info.validation_accuracy,
        "num_novel_classes": len(data.classes),
        "num_reference": len(data.ref),
        "num_real_row": len(data.real_a),
        "gem_losses": gem_losses,
        "per_seed": results,
        "summary": summarise_rows(results),
    }
    report["wall_seconds_this_invocation"] = time.perf_counter() - started
    write_json(os.path.join(out_dir, "results.json"), report)
    with open(os.path.join(out_dir, "tables.md"), "w") as f:
        f.write(markdown_tables(report))
    say(f"done in {report['wall_seconds_this_invocation']:.0f} s; tables in {out_dir}/tables.md")


if __name__ == "__main__":
    app.run(main)
