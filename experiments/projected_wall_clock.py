"""Issue 28: FastGAN against FastGAN with the projected discriminator, per
minute of 2-core CPU time, on 100-image sets.

    TFGEN_FONT_DIR=.../matplotlib/mpl-data/fonts/ttf \\
    python experiments/projected_wall_clock.py --out-dir /work/bench_runs/issue28 \\
        --judges-from /work/bench_runs/round2

For each set, 100 images of one class are written as PNG files at their own
size and trained on as a user does (``train.py --data-folder DIR
--time-budget 5m``, the defaults otherwise); the same run is then rerun with
15, 30 and 60 minutes (a larger budget trains on from its checkpoint), and
the generator after each stage is scored.

**The clock.** The budget counts the training process's CPU time divided by
the cores (2 here): a minute is a minute of both cores fully used. The
machine runs other jobs while this runs, so wall-clock budgets would give
each run whatever the others left it; CPU time does not depend on them
(beyond caches and thread-pool spinning). Each stage's wall time is recorded
beside it. Each stage is a fresh process, so the tracing of the first step
(seconds) is paid, and counted, once per stage: four times in a 60-minute
curve, once in a user's single 60-minute run.

**The scores.** In the features of the benchmark's judge for the set (a
classifier trained on all classes of the set at 32 px, used by no method;
``--judges-from`` reuses the benchmark's), at 32 px grey: every image, real
or generated, goes 64 px -> 32 px the same way. FD ×real = FD(row, reference)
/ FD(real row, reference), where the real row is ``--num-images`` other real
images of the class (not among the 100) and the reference the rest of the
class. The copies row is the 100 training images repeated to the same count.
Results: ``<out-dir>/results.json`` (rewritten after every stage), grids in
``<out-dir>/grids/``; ``--report`` prints the markdown table of what is done.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# name: (the set's source, the class whose 100 images are trained on, the judge's data: the benchmark's).
SETS = {
    "fashion_mnist": ("fashion_mnist:all:5000", "dress", "fashion_mnist:all:5000"),
    "animals": ("animals", "bear", "animals"),  # silhouettes in varied poses
    "glyphs": ("glyphs:greek::500", "greek/ω", "glyphs:greek::100"),
}
# name: train.py flags of each discriminator (the rest are train.py's defaults).
DISCRIMINATORS = {
    "fastgan": [],
    "projected": ["--discriminator", "projected"],
    "projected128": ["--discriminator", "projected", "--projected-resolution", "128"],
}
TRAIN_IMAGES = 100
JUDGE_RESOLUTION = 32
TRAIN_RESOLUTION = 64  # train.py's default


def say(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def cpu_clock():
    """The process's CPU seconds over the cores it may use: seconds of the whole machine."""
    return time.process_time() / len(os.sched_getaffinity(0))


# --- one stage: a process of its own -------------------------------------------------


def run_stage(train_flags):
    """train.py with ``train_flags``, its budget counted on :func:`cpu_clock`."""
    from tfgen.cli import parse_flags
    from tfgen.commands import train

    parse_flags(["train.py", *train_flags])
    model_config, run_config = train.configs_from_flags()
    trainer_class = train.get_family(model_config.family).trainer_class()
    trainer = trainer_class(model_config, run_config, quiet=True)
    trainer.clock = cpu_clock
    trainer.fit()


# --- the data ----------------------------------------------------------------------


def class_images(source, class_name, resolution):
    from tfgen.data.episodes import find_class
    from tfgen.data.images import load_labelled

    data = load_labelled(source, resolution=resolution)
    name = find_class(class_name, data.class_names, "class", class_name, source)
    return np.asarray(data.images)[np.asarray(data.labels) == data.class_names.index(name)]


def split(count, seed=0):
    """(the 100 training indices, the rest) of a class of ``count`` images."""
    order = np.random.default_rng(seed).permutation(count)
    return order[:TRAIN_IMAGES], order[TRAIN_IMAGES:]


def write_training_folder(folder, source, class_name):
    """The class's 100 training images at their own size, as a user's folder of PNGs."""
    from tfgen.sampling import save_image

    if os.path.isdir(folder) and len(os.listdir(folder)) == TRAIN_IMAGES:
        return
    images = class_images(source, class_name, None)
    chosen, _ = split(len(images))
    os.makedirs(folder, exist_ok=True)
    for index in chosen:
        image = images[index]
        save_image(os.path.join(folder, f"{index:05d}.png"), image[..., 0] if image.shape[-1] == 1 else image)


def for_judge(images):
    """uint8 [N, 64, 64, C] -> [N, 32, 32, 1], as every row is judged."""
    from tfgen.data.episodes import to_channels
    from tfgen.data.images import _resize_all

    return to_channels(_resize_all(np.asarray(images), JUDGE_RESOLUTION), 1)


class SetScorer:
    """FD ×real of images of one set's class in its judge's features."""

    def __init__(self, name, judges_from, num_images):
        from tfgen.few_shot_benchmark.runner import BenchmarkSettings, train_judge
        from tfgen.metrics import extract_features

        source, class_name, judge_source = SETS[name]
        self.extract = lambda images: extract_features(self.judge, for_judge(images), batch_size=250)["features"]
        settings = BenchmarkSettings(data=judge_source, out_dir=os.path.join(judges_from, name), quiet=True)
        from tfgen.data.images import load_labelled

        self.judge, _ = train_judge(settings, len(load_labelled(judge_source).labels))
        images = class_images(source, class_name, TRAIN_RESOLUTION)
        training, rest = split(len(images))
        if len(rest) < 2 * num_images:
            raise SystemExit(f"{name}: {len(rest)} images beside the 100, fewer than 2 x --num-images")
        self.num_images = num_images
        self.training_images = images[training]
        self.reference = self.extract(images[rest[num_images:]])
        self.real_row = images[rest[:num_images]]
        self.real_fd = self.fd(self.real_row)

    def fd(self, images):
        from tfgen.metrics.fid import fid_from_features

        return float(fid_from_features(self.reference, self.extract(images)))

    def references(self):
        repeats = -(-self.num_images // TRAIN_IMAGES)
        copies = np.concatenate([self.training_images] * repeats)[: self.num_images]
        return {
            "real": {"fd": self.real_fd, "fd_ratio": 1.0},
            "copies": {"fd": self.fd(copies), "fd_ratio": self.fd(copies) / self.real_fd},
        }


# --- the loop ----------------------------------------------------------------------


def stage_record(run_dir):
    """(step, training seconds) the run finished its last stage at."""
    from tfgen.files import read_json
    from tfgen.runs import FINISHED_RECORD
    from tfgen.training.time_budget import seconds_at

    step = read_json(os.path.join(run_dir, FINISHED_RECORD))["step"]
    return step, seconds_at(run_dir, step)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="runs/issue28")
    parser.add_argument("--judges-from", default=None, help="a benchmark folder with <set>/judge_* (default: --out-dir)")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--discriminators", default=",".join(DISCRIMINATORS))
    parser.add_argument("--minutes", default="5,15,30,60")
    parser.add_argument("--num-images", type=int, default=200, help="generated (and real) images per row")
    parser.add_argument("--report", action="store_true", help="print the table of what is done and stop")
    args = parser.parse_args()
    from tfgen.files import read_json, write_json_atomic
    from tfgen.sampling import generate, make_grid, save_image

    results_path = os.path.join(args.out_dir, "results.json")
    results = read_json(results_path, default={})
    if args.report:
        print(markdown(results))
        return
    sets, discriminators = args.sets.split(","), args.discriminators.split(",")
    minutes = [float(m) for m in args.minutes.split(",")]
    scorers = {}
    for budget in minutes:
        for name in sets:
            for discriminator in discriminators:
                entry = results.setdefault(name, {}).setdefault(discriminator, {})
                key = f"{budget:g}"
                if key in entry:
                    continue
                source, class_name, _ = SETS[name]
                folder = os.path.join(args.out_dir, "data", name)
                write_training_folder(folder, source, class_name)
                run_name = f"{name}_{discriminator}"
                run_dir = os.path.join(args.out_dir, "runs", run_name)
                flags = ["--data-folder", folder, "--runs-dir", os.path.join(args.out_dir, "runs"), "--name", run_name,
                         "--time-budget", f"{round(budget * 60)}s", *DISCRIMINATORS[discriminator]]  # fmt: skip
                say(f"{run_name}: training to {budget} min of CPU time")
                started = time.perf_counter()
                subprocess.run([sys.executable, os.path.abspath(__file__), "--stage", *flags], check=True)
                wall = time.perf_counter() - started
                if name not in scorers:
                    scorers[name] = SetScorer(name, args.judges_from or args.out_dir, args.num_images)
                    results[name]["references"] = scorers[name].references()
                from tfgen.runs import load_generator

                images = generate(load_generator(run_dir), args.num_images, seed=1)
                fd = scorers[name].fd(images)
                step, seconds = stage_record(run_dir)
                entry[key] = {"fd": fd, "fd_ratio": fd / scorers[name].real_fd, "step": step,
                                      "training_seconds": seconds, "stage_wall_seconds": wall}  # fmt: skip
                grid = os.path.join(args.out_dir, "grids", f"{run_name}_{key}m.png")
                save_image(grid, make_grid(images[:36], nrow=6))
                write_json_atomic(results_path, results, indent=1)
                say(f"{run_name} at {budget} min: step {step}, FD ×real {fd / scorers[name].real_fd:.2f}")
    print(markdown(results))


def markdown(results):
    lines = []
    for name, rows in results.items():
        refs = rows.get("references", {})
        budgets = sorted({m for d, e in rows.items() if d != "references" for m in e}, key=float)
        lines += [f"\n{name} ({SETS[name][1]}, 100 images): FD ×real (steps) after minutes of 2-core CPU time; "
                  f"copies {refs.get('copies', {}).get('fd_ratio', float('nan')):.2f}", "",
                  "| discriminator | " + " | ".join(f"{m} min" for m in budgets) + " |",
                  "|---|" + "---:|" * len(budgets)]  # fmt: skip
        for discriminator, entry in rows.items():
            if discriminator == "references":
                continue
            cells = [f"{entry[m]['fd_ratio']:.2f} ({entry[m]['step']})" if m in entry else "–"
                     for m in budgets]  # fmt: skip
            lines.append(f"| {discriminator} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stage":
        run_stage(sys.argv[2:])
    else:
        main()
