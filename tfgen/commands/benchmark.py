"""The few-shot benchmark: how well a method makes images of a class it never saw.

    python benchmark.py --data digits --methods cdcgan
    python benchmark.py --data fashion_mnist:all:5000 --methods dcgan,cdcgan,stylegan \\
        --num-classes 4 --output-dir bench_runs/fashion
    python benchmark.py --data path/to/class_folders --classes cat,owl --methods cdcgan

For each held-out class (``--classes``, or ``--num-classes`` spread over the
data), a base of each method is trained with ``train.py``'s defaults for that
model on the other classes (``--per-base`` classes are held out together from
one base to save time), adapted to ``--shots`` images of the class drawn with
each of ``--seeds``, and asked for as many images as the real row holds (up to
``--num-images``). A judge -- a classifier trained on all classes of the
data, used by no method -- scores every row against the real images of the
class that are not shots:

* FD ×floor: Fréchet distance in the judge's features to the class's real
  images, as a multiple of the episode's floor: the distance of the real row
  moved onto the shots' mean, the best any generator centred on the shots can
  expect; FD ×real: the same over the real row's own distance;
* judge acc ×real: share of the images the judge assigns to the class, over
  the real row's share;
* novelty: distance to the nearest shot relative to real images' (0: copies);
* pixel copies: share of images closer in pixels to a shot than any real
  image of the class is;
* diversity ×real: pairwise feature diversity relative to real images'.

Each is a mean over the classes with a 95% interval over the seeds.
``--shot-sweep 1,2,4,8,16`` adds a table of FD ×floor against the number of
shots. A method whose base trains on held-out images beyond the shots
(L2L-GAN's p images) is marked † in the tables.

The references ``real``, ``augmented_shots`` (the shots shifted, rotated,
zoomed) and ``copies`` (the shots repeated) are measured beside the methods.
Everything is cached in ``--output-dir`` (judge, bases, scores): an interrupted
benchmark resumes, a finished one rewrites its report at once. The report is
``results.md`` and ``results.json`` there, with grids (shots on top) in
``grids/``.
"""

from __future__ import annotations

import os

from absl import flags

from tfgen.cli import command_runner
from tfgen.errors import InputError

FLAGS = flags.FLAGS

flags.DEFINE_string("data", "digits", "Labelled data: a bundled set (digits, fashion_mnist:all:5000, glyphs:greek) "
                    "or a folder with one subfolder per class.")  # fmt: skip
flags.DEFINE_list("methods", ["cdcgan"], "Methods (shotmorph, dcgan, cdcgan, infogan, figr, stylegan, l2l, lofgan, dagan), comma-joined.")
flags.DEFINE_list("references", ["real", "augmented_shots", "copies"], "Reference rows measured beside the methods.")
flags.DEFINE_list("classes", [], "Held-out classes, names or indices (default: --num-classes spread over the data).")
flags.DEFINE_integer("num-classes", 4, "How many classes to hold out when --classes is not given.")
flags.DEFINE_integer("per-base", 2, "Classes held out together from one base (fewer bases: faster).")
flags.DEFINE_integer("shots", 4, "k: images of the held-out class a method sees.")
flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Shot seeds: each draws other shots (95% intervals are over them).")
flags.DEFINE_list("shot-sweep", [], "Other numbers of shots to score too (e.g. 1,2,4,8,16): a table of FD ×floor against k.")
flags.DEFINE_list("sweep-methods", [], "Methods in the --shot-sweep table beside the references (default: all of --methods).")
flags.DEFINE_integer("num-images", 100, "Images per row (at most half of the class's images besides the shots).")
flags.DEFINE_integer("resolution", 32, "Side the images are resized to (the few-shot models: 32 or 64).")
flags.DEFINE_integer("channels", 1, "1: grey, 3: RGB.")
flags.DEFINE_integer("judge-epochs", None, "Epochs of the judge (default: about 40000 images seen, 2 to 30 epochs).")
flags.DEFINE_string("train-flags", "", "Extra train.py flags for every base, e.g. '--steps 500'.")
flags.DEFINE_string(
    "output-dir", None, "Where the judge, bases, scores and report go (default: runs/benchmark_<data>)."
)
flags.DEFINE_alias("out-dir", "output-dir")  # its older name
flags.DEFINE_boolean("quiet", False, "No progress bars or messages.")


def integer_list(values, flag, example) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise InputError(f"{flag} must be integers, comma-joined ({example}). Received: {','.join(values)}") from None


def main(argv):
    del argv
    import shlex

    from tfgen.few_shot_benchmark import BenchmarkSettings, parse_methods, run_benchmark
    from tfgen.few_shot_benchmark.report import markdown

    seeds = integer_list(FLAGS.seeds, "--seeds", "a shot seed, e.g. --seeds 0")
    if not seeds:
        raise InputError("--seeds is empty: give at least one shot seed, e.g. --seeds 0.")
    shot_sweep = integer_list(FLAGS["shot-sweep"].value, "--shot-sweep", "numbers of shots, e.g. 1,2,4,8,16")
    if any(k < 1 for k in shot_sweep):
        raise InputError(f"--shot-sweep takes positive numbers of shots. Received: {','.join(map(str, shot_sweep))}")
    unknown = sorted(set(FLAGS["sweep-methods"].value) - set(FLAGS.methods))
    if unknown:
        raise InputError(f"--sweep-methods names methods of --methods only. Received: {','.join(unknown)}")
    settings = BenchmarkSettings(
        data=FLAGS.data,
        out_dir=FLAGS["output-dir"].value or os.path.join("runs", "benchmark_" + FLAGS.data.replace(":", "_").replace("/", "_")),
        classes=tuple(FLAGS.classes),
        num_classes=FLAGS["num-classes"].value,
        per_base=FLAGS["per-base"].value,
        shots=FLAGS.shots,
        seeds=seeds,
        shot_sweep=shot_sweep,
        sweep_methods=tuple(FLAGS["sweep-methods"].value),
        num_images=FLAGS["num-images"].value,
        resolution=FLAGS.resolution,
        channels=FLAGS.channels,
        judge_epochs=FLAGS["judge-epochs"].value,
        quiet=FLAGS.quiet,
    )
    rows = parse_methods([*FLAGS.references, *FLAGS.methods], shlex.split(FLAGS["train-flags"].value))
    result = run_benchmark(settings, rows)
    print(markdown(result))
    print(f"Report: {os.path.join(settings.out_dir, 'results.md')} and results.json")


# --help's groups.
HELP_GROUPS = (
    ("data", ["data", "classes", "num-classes", "per-base", "shots", "seeds", "shot-sweep", "num-images",
              "resolution", "channels"]),
    ("methods", ["methods", "references", "sweep-methods", "train-flags", "judge-epochs"]),
    ("output", ["output-dir", "quiet"]),
)  # fmt: skip


run = command_runner("benchmark", main, __doc__, __name__, HELP_GROUPS)


if __name__ == "__main__":
    run()
