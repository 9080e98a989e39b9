"""The few-shot results of issue 5: a StyleGAN trained on digits 0-8, adapted
to k shots of the held-out 9 through its AdaIN maps, beside FIGR on the same
split and shots.

For each shot seed and each k in --shots, the script

1. trains (or reuses) the StyleGAN run, the FIGR run of ``few_shot_table.py``
   and the domain classifier (same names, same cache folder);
2. draws k shots of the 9s and adapts: AdaIN adaptation with the full loss
   (sampling between the fitted latents, and from random z through the
   adapted maps), FIGR's Algorithm 2 (K = 10) on the same shots; at
   --ablation-shots also the ablations: no interpolation loss, and the
   latents alone (AdaIN maps not updated); plus the pre-trained StyleGAN
   unadapted and the real images (ceiling);
3. measures what ``few_shot_table.py`` measures (class share, Fréchet
   distance and diversity in the classifier's features, the distance to the
   nearest shot and the copy share, MSE / SSIM to the nearest real image);
4. writes grids (shots on top) and interpolation grids to
   ``docs/stylegan_few_shot/``, the numbers to ``results.json`` and the tables
   to ``tables.md`` there.

    python experiments/stylegan_few_shot.py
    python experiments/stylegan_few_shot.py --seeds 0 --shots 5 --stylegan-steps 5 \\
        --adapt-steps 5 --num-images 50 --runs-dir /tmp/sg --docs-dir /tmp/sg_docs   # a smoke run

Runs, the classifier and measured metrics are cached in --runs-dir, so a
second invocation only redoes what changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
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
    RESOLUTION,
    classifier,
    measure,
    metric_table,
    read_json,
    reference_halves,
    say,
    summarise,
    train_run,
    write_json,
)
from tfgen.families.figr.config import FIGRConfig
from tfgen.families.stylegan.config import AdaINAdaptConfig, StyleGANConfig

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", ["0", "1", "2"], "Shot seeds: each draws other shots of the held-out class.")
flags.DEFINE_list("shots", ["5", "10", "50"], "Numbers of shots k to adapt to.")
flags.DEFINE_integer("ablation-shots", 10, "k at which the ablations run.")
flags.DEFINE_string("runs-dir", "/work/fewshot_runs", "Where classifiers and runs go (outside the repo).")
flags.DEFINE_string("docs-dir", os.path.join(ROOT, "docs"), "Where stylegan_few_shot/ goes.")
flags.DEFINE_integer("num-images", 500, "Generated images per method and seed.")
flags.DEFINE_integer("stylegan-steps", 2500, "StyleGAN training steps (batch 16).")
flags.DEFINE_integer("adapt-steps", AdaINAdaptConfig.steps, "AdaIN adaptation steps.")
flags.DEFINE_integer("figr-width", 16, "FIGR width (the run few_shot_table.py trains).")
flags.DEFINE_integer("figr-steps", 160, "FIGR meta-iterations (the run few_shot_table.py trains).")
flags.DEFINE_integer("figr-adapt-steps", 10, "FIGR adaptation steps (Algorithm 2: 10).")

DATASET = "digits"
# The CPU-sized StyleGAN of train.py's defaults (z, w 128-d; 64 channels; batch 16).
STYLEGAN = StyleGANConfig(
    resolution=RESOLUTION, channels=CHANNELS, latent_dim=128, w_dim=128, channel_base=2048, channel_max=64,
    batch_size=16, ema_decay=0.999,
)  # fmt: skip


def train_runs(runs_dir):
    from tfgen.families.figr.trainer import ReptileTrainer
    from tfgen.families.stylegan.trainer import StyleGANTrainer

    steps = FLAGS["stylegan-steps"].value
    stylegan = train_run(StyleGANTrainer, STYLEGAN, f"stylegan_{DATASET}_c64_s{steps}", DATASET, steps, runs_dir)
    width, steps = FLAGS["figr-width"].value, FLAGS["figr-steps"].value
    figr_config = FIGRConfig(resolution=RESOLUTION, channels=CHANNELS, width=width)
    figr = train_run(ReptileTrainer, figr_config, f"figr_{DATASET}_w{width}_s{steps}", DATASET, steps, runs_dir)
    return {"stylegan": stylegan, "figr": figr}


def adaptation_settings():
    """{row name: AdaINAdaptConfig} of the full method and its ablations."""
    full = AdaINAdaptConfig(steps=FLAGS["adapt-steps"].value)
    return {
        "adain": full,
        "adain_no_interpolation": dataclasses.replace(full, interpolation_weight=0.0),
        "adain_latents_only": dataclasses.replace(full, update_adain=False),
    }


def settings_tag(config):
    """A short tag that changes with any adaptation setting (keys the metrics cache)."""
    text = json.dumps(dataclasses.asdict(config), sort_keys=True)
    return f"a{config.steps}-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def methods(runs, shots, seed, k, grids_dir):
    """(row name, cache tag, function returning uint8 images) of every row but 'real'."""
    import tfgen
    from tfgen.runs import load_generator
    from tfgen.sampling import make_grid, save_image
    from tfgen.style_sampling import fitted_interpolation_grid
    from tfgen import adapt

    count = FLAGS["num-images"].value
    sample = lambda G: tfgen.generate(G, count, batch_size=100, seed=1000 + seed)  # noqa: E731
    stylegan_run, figr_run = runs["stylegan"][0], runs["figr"][0]
    tag = os.path.basename(stylegan_run)
    adapted = {}  # one adaptation serves both of its sampling rows

    def adain(name, sampling):
        def make():
            if name not in adapted:
                started = time.perf_counter()
                generator = adapt(stylegan_run, shots, seed=seed, adain=settings[name])
                adapted[name] = (generator, time.perf_counter() - started)
                if seed == 0:
                    pairs = [(i, (i + 1) % k) for i in range(min(k, 6))]
                    images = fitted_interpolation_grid(generator, pairs=pairs, steps=8, noise_seed=seed)
                    save_image(os.path.join(grids_dir, f"interpolation_{name}_k{k}.png"), make_grid(images, nrow=8))
            generator, seconds = adapted[name]
            generator.sampling = sampling
            return sample(generator), seconds

        return make

    settings = adaptation_settings()
    names = ["adain"] + (list(settings)[1:] if k == FLAGS["ablation-shots"].value else [])
    rows = []
    for name in names:
        rows.append((name, f"{tag}/{name}/{settings_tag(settings[name])}", adain(name, "interpolate")))
    rows.append(("adain_random_z", f"{tag}/adain/{settings_tag(settings['adain'])}/random", adain("adain", "random")))
    figr_steps = FLAGS["figr-adapt-steps"].value
    rows.append((f"figr_k{figr_steps}", f"{os.path.basename(figr_run)}/k{figr_steps}",
                 lambda: sample(adapt(figr_run, shots, steps=figr_steps, seed=seed))))  # fmt: skip
    rows.append(("stylegan_unadapted", f"{tag}/unadapted", lambda: sample(load_generator(stylegan_run))))
    return rows


def run_seed(seed, k, runs, extractor, real, cache, grids_dir):
    """{row: metrics} for one draw of k shots; grids for seed 0."""
    from tfgen.data.episodes import load_shots
    from tfgen.metrics import extract_features, pairwise_diversity
    from tfgen.sampling import make_shots_grid, save_image

    held_out = real.split.test[0]
    shots = load_shots(f"{DATASET}:{held_out}", shots=k, resolution=RESOLUTION, channels=CHANNELS, seed=seed)
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
    rows = methods(runs, shots, seed, k, grids_dir) + [("real", f"real{count}", lambda: half_a[:count])]
    for method, tag, make_images in rows:
        key = f"{DATASET}/k{k}/seed{seed}/{method}/{tag}/n{count}"
        grid = os.path.join(grids_dir, f"{method}_k{k}.png")
        if key not in cache or (seed == 0 and not os.path.isfile(grid)):
            started = time.perf_counter()
            made = make_images()
            images, seconds = made if isinstance(made, tuple) else (made, time.perf_counter() - started)
            cache[key] = {**measure(images, **context), "seconds": seconds}
            if seed == 0:
                save_image(grid, make_shots_grid(shots[:8], images[:32], nrow=8))
            write_json(os.path.join(FLAGS["runs-dir"].value, "metrics_cache.json"), cache)
            say(f"{key}: " + ", ".join(f"{name} {v:.4g}" for name, v in cache[key].items()))
        results[method] = cache[key]
    return results


def markdown_tables(report):
    lines = []
    for k, entry in report["shots"].items():
        seeds = list(entry["per_seed"])
        reference = entry["per_seed"][seeds[0]]["_reference"]
        real_diversity = np.mean([entry["per_seed"][s]["_reference"]["diversity"] for s in seeds])
        lines += [
            f"### k = {k} shots of digit 9 ({len(seeds)} shot seed(s): {', '.join(seeds)})",
            "",
            f"Reference: {reference['num_reference']} real 9s (shots excluded); their diversity "
            f"{real_diversity:.3f}. Mean ± std over seeds; seconds: adaptation and sampling.",
            "",
            *metric_table(entry["summary"], len(seeds)),
        ]
        lines.append("")
    return "\n".join(lines)


def main(argv):
    del argv
    from tfgen.data.episodes import load_few_shot_data

    runs_dir, docs_dir = FLAGS["runs-dir"].value, FLAGS["docs-dir"].value
    grids_dir = os.path.join(docs_dir, "stylegan_few_shot")
    os.makedirs(grids_dir, exist_ok=True)
    started = time.perf_counter()
    cache = read_json(os.path.join(runs_dir, "metrics_cache.json"), {})
    extractor, classifier_seconds = classifier(DATASET, runs_dir)
    runs = train_runs(runs_dir)
    real = load_few_shot_data(DATASET, resolution=RESOLUTION, channels=CHANNELS)
    report = {
        "settings": {flag.name: flag.value for flag in FLAGS.get_key_flags_for_module(sys.argv[0])},
        "stylegan_config": dataclasses.asdict(STYLEGAN),
        "adaptation": {name: dataclasses.asdict(c) for name, c in adaptation_settings().items()},
        "classifier_accuracy": extractor.info.validation_accuracy,
        "seconds": {"classifier": classifier_seconds, **{m: s for m, (_, s) in runs.items()}},
        "runs": {m: run for m, (run, _) in runs.items()},
        "shots": {},
    }
    for k in map(int, FLAGS.shots):
        per_seed = {s: run_seed(int(s), k, runs, extractor, real, cache, grids_dir) for s in FLAGS.seeds}
        report["shots"][str(k)] = {"per_seed": per_seed, "summary": summarise(per_seed)}
        write_json(os.path.join(grids_dir, "results.json"), report)
    report["wall_seconds_this_invocation"] = time.perf_counter() - started
    write_json(os.path.join(grids_dir, "results.json"), report)
    with open(os.path.join(grids_dir, "tables.md"), "w") as f:
        f.write(markdown_tables(report))
    say(f"done in {report['wall_seconds_this_invocation']:.0f} s; tables in {grids_dir}/tables.md")


if __name__ == "__main__":
    app.run(main)
