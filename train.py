"""Train FastGAN (SLE-GAN, Liu et al., ICLR 2021) on images.

    python train.py                                    # a quick CPU demo (see DEMO)
    python train.py --data-folder path/to/images --resolution 256 \\
        --ngf 64 --ndf 64 --ema-decay 0.999 --flip --steps 50000   # the paper's settings

A run lives in ``runs/<name>/`` (``--runs-dir``, ``--name``; the name defaults
to the data's): ``config.json``, ``checkpoints/``, ``samples/`` (grids from
fixed noise), ``logs/`` (TensorBoard) and, at the end,
``generator.weights.h5``, ``generator_ema.weights.h5`` and
``discriminator.weights.h5``. Running the same command again resumes from
the latest checkpoint (Ctrl-C saves one); ``--override`` starts afresh.
"""

from __future__ import annotations

import os
import re
import sys

# TensorFlow's start-up chatter would bury the progress bar and error
# messages; TF_CPP_MIN_LOG_LEVEL=0 brings it back.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from tfgen.cli import clean_errors, parse_flags  # noqa: E402
from tfgen.config import FastGANConfig, RunConfig  # noqa: E402
from tfgen.training.fastgan import train  # noqa: E402

# The embedded default: what `python train.py` trains with no flags. Small
# widths and a short run: 800 steps of 8 images at 64 px take about 4 minutes
# on 2 CPU cores (~0.3 s per step) and give clearly recognisable 3s. Every
# value is a flag default below, so any of them can be overridden.
DEMO = dict(
    dataset="digits:3",
    resolution=64,
    ngf=16,
    ndf=16,
    batch_size=8,
    steps=800,
    # 0.999 (official) averages over ~1000 steps, as long as the whole demo.
    ema_decay=0.99,
    # Mirrored digits are not digits (the official code flips every image).
    flip=False,
    sample_every=200,
    checkpoint_every=200,
)

FLAGS = flags.FLAGS

# Data and run folder.
flags.DEFINE_string("data-folder", None, "Folder of training images (searched recursively).")
flags.DEFINE_string(
    "dataset",
    None,
    f"Bundled dataset instead of --data-folder, e.g. digits, digits:3, faces, glyphs:greek "
    f"(default when neither is given: {DEMO['dataset']}).",
)
flags.DEFINE_string("name", None, "Run name: the run folder is <runs-dir>/<name> (default: fastgan_<data>).")
flags.DEFINE_string("runs-dir", RunConfig.runs_dir, "Folder holding the runs.")
flags.DEFINE_boolean("override", False, "Delete the run folder of --name and start afresh.")
flags.DEFINE_string("generator-weights", None, "Initial generator weights (.weights.h5) to fine-tune from.")
flags.DEFINE_string("discriminator-weights", None, "Initial discriminator weights (.weights.h5).")

# Model.
flags.DEFINE_integer(
    "resolution", DEMO["resolution"], "Image size: 64, 128, 256, 512 or 1024 (paper: 256 and 1024)."
)
flags.DEFINE_integer("ngf", DEMO["ngf"], "Generator width multiplier (official: 64).")
flags.DEFINE_integer("ndf", DEMO["ndf"], "Discriminator width multiplier (official: 64).")
flags.DEFINE_integer("latent-dim", FastGANConfig.latent_dim, "Size of the latent vector z.")
flags.DEFINE_enum(
    "reconstruction-loss", FastGANConfig.reconstruction_loss, ["l1", "lpips_vgg"],
    "Loss of the discriminator's self-supervised decoders.",
)  # fmt: skip
flags.DEFINE_string("vgg-weights", None, "VGG16 weights for --reconstruction-loss lpips_vgg.")

# Optimisation.
flags.DEFINE_integer("batch-size", DEMO["batch_size"], "Images per step, over all devices (official: 8).")
flags.DEFINE_integer("steps", None, f"Training steps (default: {DEMO['steps']}, or --epochs if given).")
flags.DEFINE_integer("epochs", 0, "Passes over the data, if --steps is not given.")
flags.DEFINE_float("G-learning-rate", FastGANConfig.g_learning_rate, "Generator Adam learning rate.")
flags.DEFINE_float("D-learning-rate", FastGANConfig.d_learning_rate, "Discriminator Adam learning rate.")
flags.DEFINE_float("ema-decay", DEMO["ema_decay"], "Decay of the generator's EMA (official: 0.999).")
flags.DEFINE_string(
    "diff-augment",
    FastGANConfig.diff_augment,
    "DiffAugment policy: color, translation, cutout, comma-joined; '' for none.",
)
flags.DEFINE_boolean(
    "flip", DEMO["flip"], "Mirror training images at random (official: on; keep off for text and digits)."
)
flags.DEFINE_integer("seed", RunConfig.seed, "Seed of weights, data order and randomness.")

# Hardware.
flags.DEFINE_enum("mixed-precision", RunConfig.mixed_precision, ["off", "float16", "bfloat16"],
                  "Mixed precision: bfloat16 for CPUs/TPUs/recent GPUs, float16 for older GPUs.")  # fmt: skip
flags.DEFINE_boolean("xla", RunConfig.xla, "Compile the train step with XLA.")
flags.DEFINE_enum("strategy", RunConfig.strategy, ["default", "mirrored", "multiworker"],
                  "tf.distribute strategy: one device, all local GPUs, or a TF_CONFIG cluster.")  # fmt: skip

# Outputs.
flags.DEFINE_integer("sample-every", DEMO["sample_every"], "Write a sample grid every this many steps.")
flags.DEFINE_integer(
    "checkpoint-every", DEMO["checkpoint_every"], "Write a checkpoint every this many steps."
)
flags.DEFINE_boolean("quiet", False, "No progress bar or messages.")

# A metric during training (names from the SLE-GAN reference).
flags.DEFINE_boolean(
    "fid", RunConfig.fid,
    "Measure --fid-metric of the EMA generator during training; keep the best weights in <run>/best/.",
)  # fmt: skip
flags.DEFINE_integer("fid-frequency", RunConfig.fid_frequency, "Measure it every this many steps.")
flags.DEFINE_integer("fid-number-of-images", RunConfig.fid_number_of_images, "Generated images per measurement.")
flags.DEFINE_string("fid-metric", RunConfig.fid_metric, "The metric: fid, kid, pr, dc, diversity or memorisation.")
flags.DEFINE_enum("fid-features", RunConfig.fid_features, ["inception", "efficientnet_lite0", "classifier"],
                  "Feature extractor (efficientnet_lite0 works offline; inception needs its ImageNet weights).")  # fmt: skip
flags.DEFINE_string(
    "fid-weights", None,
    "InceptionV3 weights file (default: the Keras cache) or, for --fid-features classifier, "
    "the folder of a classifier trained by evaluate.py --train-classifier.",
)  # fmt: skip


def default_run_name(data):
    """``fastgan_<data>`` with the data's last path part, e.g. fastgan_cats, fastgan_digits_3."""
    last = re.split(r"[\\/]", data.rstrip("/\\"))[-1] or "data"
    return "fastgan_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_")


def configs_from_flags():
    """(FastGANConfig, RunConfig) from the command line, validated."""
    data_folder, dataset = FLAGS["data-folder"].value, FLAGS.dataset
    if data_folder and dataset:
        raise ValueError(
            "Give either --data-folder or --dataset, not both. "
            f"Received: --data-folder={data_folder!r}, --dataset={dataset!r}"
        )
    data = data_folder or dataset or DEMO["dataset"]
    steps = FLAGS.steps
    if steps is None:
        steps = 0 if FLAGS.epochs else DEMO["steps"]
    model_config = FastGANConfig(
        resolution=FLAGS.resolution,
        latent_dim=FLAGS["latent-dim"].value,
        ngf=FLAGS.ngf,
        ndf=FLAGS.ndf,
        batch_size=FLAGS["batch-size"].value,
        g_learning_rate=FLAGS["G-learning-rate"].value,
        d_learning_rate=FLAGS["D-learning-rate"].value,
        ema_decay=FLAGS["ema-decay"].value,
        diff_augment=FLAGS["diff-augment"].value,
        reconstruction_loss=FLAGS["reconstruction-loss"].value,
        vgg_weights=FLAGS["vgg-weights"].value,
    )
    run_config = RunConfig(
        name=FLAGS.name or default_run_name(data),
        runs_dir=FLAGS["runs-dir"].value,
        data=data,
        steps=steps,
        epochs=FLAGS.epochs,
        mixed_precision=FLAGS["mixed-precision"].value,
        xla=FLAGS.xla,
        strategy=FLAGS.strategy,
        seed=FLAGS.seed,
        flip=FLAGS.flip,
        sample_every=FLAGS["sample-every"].value,
        checkpoint_every=FLAGS["checkpoint-every"].value,
        generator_weights=FLAGS["generator-weights"].value,
        discriminator_weights=FLAGS["discriminator-weights"].value,
        fid=FLAGS.fid,
        fid_frequency=FLAGS["fid-frequency"].value,
        fid_number_of_images=FLAGS["fid-number-of-images"].value,
        fid_metric=FLAGS["fid-metric"].value,
        fid_features=FLAGS["fid-features"].value,
        fid_feature_weights=FLAGS["fid-weights"].value,
    )
    model_config.validate()
    run_config.validate()
    return model_config, run_config


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"train.py takes no positional arguments. Received: {argv[1:]}")
    model_config, run_config = configs_from_flags()
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF logs INFO lines through absl
    try:
        train(model_config, run_config, override=FLAGS.override, quiet=FLAGS.quiet)
    except KeyboardInterrupt:
        sys.exit(130)  # the trainer saved a checkpoint and said where


if __name__ == "__main__":
    app.run(clean_errors(main), flags_parser=parse_flags)
