"""The few-shot table of issue 4: FIGR (Reptile) against the transfer baselines.

For each dataset (digits: 0..8 / held-out 9; Fashion-MNIST: nine classes /
held-out ankle_boot; 32x32 grey, as FIGR), this script

1. trains a domain classifier on all classes (the held-out one included: it
   judges the generated images) or reuses it;
2. meta-trains FIGR and pre-trains DCGAN, cDCGAN and InfoGAN on the other
   classes (a run folder with ``generator.weights.h5`` is reused);
3. for each shot seed, draws 4 shots of the held-out class and adapts every
   model to them (FIGR: Algorithm 2 with K inner steps; the baselines:
   fine-tuning on the augmented shots), plus two references (the augmented
   shots themselves; a DCGAN trained from scratch on them) and the real
   images of the class as the ceiling;
4. measures, in the classifier's features, the share of generated images
   assigned to the held-out class, the Fréchet distance to the real class,
   diversity, the distance to the nearest shot and the copy share, and in
   pixels MSE/SSIM to the nearest real image;
5. writes grids (shots on top) to ``docs/few_shot/<dataset>_<method>.png``,
   the numbers to ``docs/few_shot/results.json`` and the tables to
   ``docs/few_shot/tables.md``.

    python experiments/few_shot_table.py             # both datasets, 3 seeds (~36 min, 2 CPU cores)
    python experiments/few_shot_table.py --datasets digits --seeds 0 --figr-steps 5 \\
        --baseline-steps 20 --finetune-steps 5 --scratch-steps 5 --runs-dir /tmp/fs --docs-dir /tmp/fs_docs

Re-running reuses the classifier, the finished runs and the metrics already
measured (``<runs-dir>/metrics_cache.json``); a setting in a run's name
(width, steps) that changes gives a new run.
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

from experiments.common import (  # noqa: E402
    CHANNELS,
    CLASSIFIER_DATA,
    RESOLUTION,
    classifier,
    measure,
    metric_table,
    say,
    summarise,
    train_run,
    write_json,
    read_json,
    reference_halves,
)
from tfgen.families.figr.config import FIGRConfig
from tfgen.families.transfer.config import CDCGANConfig, DCGANConfig, InfoGANConfig

FLAGS = flags.FLAGS
flags.DEFINE_list("datasets", ["digits", "fashion_mnist"], "Bundled datasets (default splits).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds: each draws other shots of the held-out class.")
flags.DEFINE_string("runs-dir", "/work/fewshot_runs", "Where classifiers and runs go (outside the repo).")
flags.DEFINE_string("docs-dir", os.path.join(ROOT, "docs"), "Where few_shot/ (grids, JSON, tables) goes.")
flags.DEFINE_integer("num-images", 500, "Generated images per method and seed.")
flags.DEFINE_integer("figr-width", 16, "FIGR width (paper code: 64).")
flags.DEFINE_integer("figr-steps", 160, "FIGR meta-iterations (paper: 100k+).")
flags.DEFINE_list("figr-adapt-steps", ["10", "50"], "FIGR adaptation steps (Algorithm 2: 10).")
flags.DEFINE_integer("baseline-width", 16, "DCGAN / cDCGAN / InfoGAN width (paper code: 64).")
flags.DEFINE_integer("baseline-steps", 1500, "Pre-training steps of the baselines (batch 64).")
flags.DEFINE_integer("finetune-steps", 300, "Fine-tuning steps on the augmented shots.")
flags.DEFINE_integer("scratch-steps", 600, "Steps of the DCGAN trained from scratch on the augmented shots.")

# The paper's settings, kept fixed because they are not in the run folders'
# names: n = 4 shots; FIGR's K = 10 inner steps and the baselines' 300
# augmented shots (the config defaults). 32x32 grey: experiments.common.
SHOTS = FIGRConfig.shots
BASELINES = {"dcgan": DCGANConfig, "cdcgan": CDCGANConfig, "infogan": InfoGANConfig}
# The paper's Table 1 (Clouâtre & Demers 2019): MSE / SSIM, their protocol.
PAPER_TABLE1 = {
    ("digits", "figr"): (4104.78, 0.73),
    ("fashion_mnist", "figr"): (10877.69, 0.60),
    ("fashion_mnist", "dcgan"): (3689.11, 0.84),
    ("fashion_mnist", "cdcgan"): (3436.85, 0.80),
    ("fashion_mnist", "infogan"): (3863.17, 0.75),
}


def train_all(dataset, runs_dir):
    """{method: (run folder, seconds)} of FIGR and the three baselines."""
    from tfgen.families.figr.trainer import ReptileTrainer
    from tfgen.families.transfer.trainer import CDCGANTrainer, DCGANTrainer, InfoGANTrainer

    runs = {}
    width, steps = FLAGS["figr-width"].value, FLAGS["figr-steps"].value
    figr = FIGRConfig(resolution=RESOLUTION, channels=CHANNELS, width=width)
    runs["figr"] = train_run(ReptileTrainer, figr, f"figr_{dataset}_w{width}_s{steps}", dataset, steps, runs_dir)
    trainers = {"dcgan": DCGANTrainer, "cdcgan": CDCGANTrainer, "infogan": InfoGANTrainer}
    width, steps = FLAGS["baseline-width"].value, FLAGS["baseline-steps"].value
    for family, config_class in BASELINES.items():
        config = config_class(resolution=RESOLUTION, channels=CHANNELS, width=width)
        name = f"{family}_{dataset}_w{width}_s{steps}"
        runs[family] = train_run(trainers[family], config, name, dataset, steps, runs_dir)
    return runs


# --- the methods ------------------------------------------------------------------


def methods(runs, shots, seed):
    """(method name, cache tag, function returning uint8 images) for every row but 'real'."""
    import tfgen
    from tfgen.data.episodes import augment_shots
    from tfgen import adapt

    count = FLAGS["num-images"].value
    sample = lambda G: tfgen.generate(G, count, batch_size=100, seed=1000 + seed)  # noqa: E731
    figr_run, finetune = runs["figr"][0], FLAGS["finetune-steps"].value
    rows = []
    for k in map(int, FLAGS["figr-adapt-steps"].value):
        rows.append((f"figr_k{k}", f"{os.path.basename(figr_run)}/k{k}",
                     lambda k=k: sample(adapt(figr_run, shots, steps=k, seed=seed))))  # fmt: skip
    for family in BASELINES:
        run = runs[family][0]
        rows.append((family, f"{os.path.basename(run)}/ft{finetune}",
                     lambda run=run: sample(adapt(run, shots, steps=finetune, seed=seed))))  # fmt: skip
    rows.append(("augmented_shots", f"augmented{count}",
                 lambda: tfgen.postprocess_images(augment_shots(shots, count=count, seed=seed))))  # fmt: skip
    scratch = FLAGS["scratch-steps"].value
    rows.append(("scratch_gan", f"{os.path.basename(runs['dcgan'][0])}/scratch{scratch}",
                 lambda: sample(adapt(runs["dcgan"][0], shots, steps=scratch, seed=seed, from_scratch=True))))  # fmt: skip
    return rows


def run_seed(dataset, seed, runs, extractor, real, cache, grids_dir):
    """{method: metrics} for one draw of shots; grids for seed 0."""
    from tfgen.data.episodes import load_shots
    from tfgen.metrics import extract_features, pairwise_diversity
    from tfgen.sampling import make_shots_grid, save_image

    held_out = real.split.test[0]
    shots = load_shots(f"{dataset}:{held_out}", shots=SHOTS, resolution=RESOLUTION, channels=CHANNELS, seed=seed)
    half_a, half_b = reference_halves(real.test.images, shots, seed)
    reference = {"images": half_b, "features": extract_features(extractor, half_b, batch_size=250)["features"]}
    context = dict(
        extractor=extractor,
        target=extractor.class_names.index(held_out),
        reference=reference,
        shot_features=extract_features(extractor, shots)["features"],
    )
    count = FLAGS["num-images"].value
    results = {"_reference": {"num_reference": len(half_b), "num_real_row": min(len(half_a), count),
                              "diversity": pairwise_diversity(reference["features"])}}  # fmt: skip
    rows = methods(runs, shots, seed) + [("real", f"real{count}", lambda: half_a[:count])]
    for method, tag, make_images in rows:
        key = f"{dataset}/seed{seed}/{method}/{tag}/n{count}"
        grid = os.path.join(grids_dir, f"{dataset}_{method}.png")
        if key not in cache or (seed == 0 and not os.path.isfile(grid)):
            started = time.perf_counter()
            images = make_images()
            seconds = time.perf_counter() - started
            cache[key] = {**measure(images, **context), "seconds": seconds}
            if seed == 0:
                save_image(grid, make_shots_grid(shots, images[:32], nrow=8))
            write_json(os.path.join(FLAGS["runs-dir"].value, "metrics_cache.json"), cache)
            say(f"{key}: " + ", ".join(f"{k} {v:.4g}" for k, v in cache[key].items()))
        results[method] = cache[key]
    return results


# --- tables -------------------------------------------------------------------------


def markdown_tables(report):
    lines = []
    for dataset, entry in report["datasets"].items():
        seeds = list(entry["per_seed"])
        reference = entry["per_seed"][seeds[0]]["_reference"]
        real_diversity = np.mean([entry["per_seed"][s]["_reference"]["diversity"] for s in seeds])
        lines += [
            f"### {dataset} (held-out {entry['held_out']}; {len(seeds)} shot seed(s): {', '.join(seeds)})",
            "",
            f"Classifier validation accuracy {entry['classifier_accuracy']:.3f}. Reference: "
            f"{reference['num_reference']} real images of the class (shots excluded); "
            f"their diversity {real_diversity:.3f}. Mean ± std over seeds.",
            "",
            *metric_table(entry["summary"], len(seeds)),
        ]
        lines.append("")
    lines += [
        "### MSE / SSIM: the paper's Table 1 (its own protocol) and this run (FIGR: K = 10)",
        "",
        "| dataset / method | paper MSE | paper SSIM | this run MSE | this run SSIM |",
        "|---|---:|---:|---:|---:|",
    ]
    for (dataset, method), (paper_mse, paper_ssim) in PAPER_TABLE1.items():
        ours = report["datasets"].get(dataset, {}).get("summary", {}).get("figr_k10" if method == "figr" else method)
        cells = f"{ours['mse'][0]:.0f} | {ours['ssim'][0]:.3f}" if ours else "– | –"
        lines.append(f"| {dataset} / {method} | {paper_mse:.2f} | {paper_ssim:.2f} | {cells} |")
    lines.append("")
    return "\n".join(lines)


def main(argv):
    del argv
    runs_dir, docs_dir = FLAGS["runs-dir"].value, FLAGS["docs-dir"].value
    grids_dir = os.path.join(docs_dir, "few_shot")
    from tfgen.data.episodes import load_few_shot_data

    started = time.perf_counter()
    cache = read_json(os.path.join(runs_dir, "metrics_cache.json"), {})
    report = {"settings": {flag.name: flag.value for flag in FLAGS.get_key_flags_for_module(sys.argv[0])},
              "paper_table1": {f"{d}/{m}": v for (d, m), v in PAPER_TABLE1.items()}, "datasets": {}}  # fmt: skip
    report["settings"].update(
        resolution=RESOLUTION, channels=CHANNELS, shots=SHOTS, classifier_data=CLASSIFIER_DATA,
        figr_inner_steps=FIGRConfig.inner_steps, augmented_shots=DCGANConfig.augmented_shots,
    )
    for dataset in FLAGS.datasets:
        extractor, classifier_seconds = classifier(dataset, runs_dir)
        runs = train_all(dataset, runs_dir)
        real = load_few_shot_data(dataset, resolution=RESOLUTION, channels=CHANNELS)
        per_seed = {s: run_seed(dataset, int(s), runs, extractor, real, cache, grids_dir) for s in FLAGS.seeds}
        report["datasets"][dataset] = {
            "held_out": real.split.test[0],
            "classifier_accuracy": extractor.info.validation_accuracy,
            "seconds": {"classifier": classifier_seconds, **{m: s for m, (_, s) in runs.items()}},
            "runs": {m: run for m, (run, _) in runs.items()},
            "per_seed": per_seed,
            "summary": summarise(per_seed),
        }
        write_json(os.path.join(grids_dir, "results.json"), report)
    report["wall_seconds_this_invocation"] = time.perf_counter() - started
    write_json(os.path.join(grids_dir, "results.json"), report)
    with open(os.path.join(grids_dir, "tables.md"), "w") as f:
        f.write(markdown_tables(report))
    say(f"done in {report['wall_seconds_this_invocation']:.0f} s; tables in {grids_dir}/tables.md")


if __name__ == "__main__":
    app.run(main)
