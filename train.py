"""Train FastGAN (SLE-GAN, Liu et al., ICLR 2021) on images, or meta-train a
few-shot model of unseen classes (FIGR, or a DCGAN / cDCGAN / InfoGAN to
fine-tune, or a StyleGAN to adapt through its AdaIN maps).

    python train.py                                    # a quick CPU demo (see DEMO in tfgen/families/fastgan/config.py)
    python train.py --data-folder path/to/images --resolution 256 \\
        --ngf 64 --ndf 64 --ema-decay 0.999 --flip --steps 50000   # the paper's settings
    python train.py --model figr --dataset digits      # Reptile on digits 0-8 (9 held out)
    python train.py --model dcgan --dataset fashion_mnist --test-classes ankle_boot
    python train.py --model stylegan --dataset digits   # StyleGAN on digits 0-8 (9 held out)
    python train.py --model l2l --gem-type 2 --gem-layers 3,4 --strategy-gem B  # L2L-GAN on glyphs
    python train.py --model shotmorph --dataset digits  # fit shot morphing on digits 0-8

An L2L-GAN run trains all of its Algorithm 1 (source classes, GEMs, then
the p images per class of the held-out classes) and ends with a generator of
the held-out classes. A few-shot run is then adapted to n images of a new class with
``generate.py --adapt-from runs/<name> --shots digits:9``.

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

# TensorFlow's start-up lines would bury the progress bar and error messages:
# hidden unless --verbose (tfgen.startup).
if "--verbose" not in sys.argv:
    os.environ["TFGEN_QUIET_STARTUP"] = "1"

from absl import app, flags, logging  # noqa: E402

from tfgen.cli import DEFAULT_DIFF_AUGMENT, clean_errors, parse_flags  # noqa: E402
from tfgen.config import RunConfig  # noqa: E402
from tfgen.errors import InputError  # noqa: E402
from tfgen.families.fastgan.config import DEMO, FastGANConfig  # noqa: E402
from tfgen.families.figr.config import FIGR_PRESETS, FIGRConfig  # noqa: E402
from tfgen.families.l2l.config import L2L_PRESETS, L2LConfig  # noqa: E402
from tfgen.families.shotmorph.config import ShotMorphConfig  # noqa: E402
from tfgen.families.stylegan.config import STYLEGAN_PRESETS, StyleGANConfig  # noqa: E402
from tfgen.families.transfer.config import TRANSFER_PRESETS, DCGANConfig, InfoGANConfig  # noqa: E402
from tfgen.registry import family_names, get_family  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "model", "fastgan", family_names(),
    "fastgan: train on the images. figr: Reptile meta-training over few-shot tasks of the "
    "--train-classes. dcgan, cdcgan, infogan: pre-training on the --train-classes, the transfer "
    "baselines. stylegan: the style-based generator on the --train-classes (or every image), "
    "adapted through its AdaIN maps (adapt any of these with generate.py --adapt-from). "
    "l2l: L2L-GAN's Algorithm 1 (source classes, GEMs, then the held-out classes). "
    "shotmorph: fit on the --train-classes how much to morph between and augment the shots of a new "
    "class (a few minutes; the recommended few-shot path).",
)  # fmt: skip

# Data and run folder.
flags.DEFINE_string("data-folder", None, "Folder of training images (searched recursively).")
flags.DEFINE_string(
    "dataset",
    None,
    f"Bundled dataset instead of --data-folder, e.g. digits, digits:3, faces, glyphs:greek "
    f"(default when neither is given: {DEMO['dataset']}; few-shot models: {FIGR_PRESETS['dataset']}).",
)
flags.DEFINE_string("name", None, "Run name: the run folder is <runs-dir>/<name> (default: <model>_<data>).")
flags.DEFINE_string("runs-dir", RunConfig.runs_dir, "Folder holding the runs.")
flags.DEFINE_boolean("override", False, "Delete the run folder of --name and start afresh.")
flags.DEFINE_string("generator-weights", None, "Initial generator weights (.weights.h5) to fine-tune from.")
flags.DEFINE_string("discriminator-weights", None, "Initial discriminator weights (.weights.h5).")

# Model.
flags.DEFINE_integer(
    "resolution", None,
    f"Image size. FastGAN: 64, 128, 256, 512 or 1024 (paper: 256 and 1024; default {DEMO['resolution']}). "
    f"Few-shot models: 32 or 64 (default {FIGR_PRESETS['resolution']}).",
)  # fmt: skip
flags.DEFINE_integer("ngf", DEMO["ngf"], "Generator width multiplier (official: 64).")
flags.DEFINE_integer("ndf", DEMO["ndf"], "Discriminator width multiplier (official: 64).")
flags.DEFINE_integer(
    "latent-dim", None, f"Size of the latent vector z (FastGAN {FastGANConfig.latent_dim}, few-shot {FIGRConfig.latent_dim})."
)
flags.DEFINE_enum(
    "reconstruction-loss", FastGANConfig.reconstruction_loss, ["l1", "lpips_vgg"],
    "Loss of the discriminator's self-supervised decoders.",
)  # fmt: skip
flags.DEFINE_string("vgg-weights", None, "VGG16 weights for --reconstruction-loss lpips_vgg.")

# Optimisation.
flags.DEFINE_integer(
    "batch-size", None,
    f"Images per step, over all devices (FastGAN: {DEMO['batch_size']}, as the official code; "
    f"DCGANs: {FIGR_PRESETS['batch_size']}; FIGR: --shots x --tasks-per-step).",
)  # fmt: skip
flags.DEFINE_integer(
    "steps", None,
    f"Training steps, meta-iterations for FIGR (default: FastGAN {DEMO['steps']}, "
    f"FIGR {FIGR_PRESETS['steps']}, DCGANs {TRANSFER_PRESETS['steps']}; or --epochs if given).",
)  # fmt: skip
flags.DEFINE_integer("epochs", 0, "Passes over the data, if --steps is not given.")
flags.DEFINE_float(
    "G-learning-rate", None,
    f"Generator Adam learning rate (FastGAN and DCGANs {FastGANConfig.g_learning_rate}, StyleGAN "
    f"{StyleGANConfig.g_learning_rate}).",
)  # fmt: skip
flags.DEFINE_float(
    "D-learning-rate", None,
    f"Discriminator Adam learning rate (FastGAN and DCGANs {FastGANConfig.d_learning_rate}, StyleGAN "
    f"{StyleGANConfig.d_learning_rate}).",
)  # fmt: skip
flags.DEFINE_float("ema-decay", DEMO["ema_decay"], "Decay of the generator's EMA (official: 0.999).")
flags.DEFINE_boolean(
    "diff-augment", None,
    f"DiffAugment on the discriminator's inputs with the default policy ({DEFAULT_DIFF_AUGMENT}), as in the "
    "SLE-GAN reference; --nodiff-augment: none. Default: FastGAN and StyleGAN on, the DCGANs off.",
)  # fmt: skip
flags.DEFINE_string(
    "diff-augment-policy", None,
    "DiffAugment policy instead of the default: color, translation, cutout, comma-joined; '' for none.",
)  # fmt: skip
flags.DEFINE_boolean(
    "flip", DEMO["flip"], "Mirror training images at random (official: on; keep off for text and digits)."
)
flags.DEFINE_integer("seed", RunConfig.seed, "Seed of weights, data order and randomness.")

# Few-shot models (FIGR and the transfer baselines).
flags.DEFINE_string(
    "train-classes", "", "Meta-train classes, names or indices comma-joined (default: all but --test-classes)."
)
flags.DEFINE_string(
    "test-classes", "",
    "Held-out classes, never seen in training (default per dataset: digits 9, fashion_mnist "
    "ankle_boot, glyphs a fixed set of characters; a folder of class folders needs it).",
)  # fmt: skip
flags.DEFINE_integer("channels", FIGRConfig.channels, "1: grey (FIGR's setting), 3: RGB.")
flags.DEFINE_integer(
    "width", None, f"Channels of the finest layer (FIGR code: 64; default {FIGR_PRESETS['width']} for CPUs)."
)
flags.DEFINE_integer(
    "shots", None,
    f"n: images per task (FIGR) and shots to adapt to (default {FIGRConfig.shots}; StyleGAN {StyleGANConfig.shots}).",
)  # fmt: skip
flags.DEFINE_integer("adapt-steps", None, "Default adaptation steps K stored with the run (FIGR 10, DCGANs 300).")
flags.DEFINE_integer("tasks-per-step", FIGRConfig.tasks_per_step, "FIGR: tasks averaged into one outer step.")
flags.DEFINE_integer("inner-steps", FIGRConfig.inner_steps, "FIGR: K inner steps per task.")
flags.DEFINE_enum("inner-optimizer", FIGRConfig.inner_optimizer, ["sgd", "adam"], "FIGR: inner optimizer.")
flags.DEFINE_float("inner-learning-rate", FIGRConfig.inner_learning_rate, "FIGR: inner learning rate.")
flags.DEFINE_enum("meta-optimizer", FIGRConfig.meta_optimizer, ["adam", "sgd"],
                  "FIGR: outer optimizer on Phi - W (sgd is Reptile's interpolation).")  # fmt: skip
flags.DEFINE_float("meta-learning-rate", FIGRConfig.meta_learning_rate, "FIGR: outer learning rate.")
flags.DEFINE_float("gp-weight", FIGRConfig.gp_weight, "FIGR: gradient penalty weight lambda.")
flags.DEFINE_integer("augmented-shots", DCGANConfig.augmented_shots, "DCGANs: shots are augmented to this many images.")
flags.DEFINE_integer("num-categories", InfoGANConfig.num_categories, "InfoGAN: size of the categorical code.")
flags.DEFINE_integer("num-continuous", InfoGANConfig.num_continuous, "InfoGAN: number of continuous codes.")
flags.DEFINE_float("info-weight", InfoGANConfig.info_weight, "InfoGAN: weight of the mutual-information term.")

# StyleGAN (the paper's values in brackets where the CPU default differs).
flags.DEFINE_integer("w-dim", None, f"StyleGAN: size of w (paper 512; default {STYLEGAN_PRESETS['w_dim']}).")
flags.DEFINE_integer("mapping-layers", StyleGANConfig.mapping_layers, "StyleGAN: layers of the mapping network.")
flags.DEFINE_integer(
    "channel-base", None,
    f"StyleGAN: channels at resolution r are min(channel-base // r, channel-max) "
    f"(paper 8192; default {STYLEGAN_PRESETS['channel_base']}).",
)  # fmt: skip
flags.DEFINE_integer(
    "channel-max", None, f"StyleGAN: most channels of a layer (paper 512; default {STYLEGAN_PRESETS['channel_max']})."
)
flags.DEFINE_float("style-mixing", StyleGANConfig.style_mixing, "StyleGAN: probability of style mixing per image.")
flags.DEFINE_float("r1-gamma", StyleGANConfig.r1_gamma, "StyleGAN: R1 penalty weight gamma (0: none).")
flags.DEFINE_integer("r1-interval", StyleGANConfig.r1_interval, "StyleGAN: R1 every this many steps (lazy).")
flags.DEFINE_float("truncation-psi", StyleGANConfig.truncation_psi, "StyleGAN: truncation psi of the samples.")

# L2L-GAN (defaults: L2L_PRESETS for CPUs, else the paper's / DAGAN's).
flags.DEFINE_enum("gem-type", str(L2LConfig.gem_type), ["1", "2", "3"],
                  "L2L: GEM type: 1 conv s2 -> up; 2 conv -> ReLU -> conv s2 -> up; 3 type 2 + deconv.")
flags.DEFINE_string("gem-layers", L2LConfig.gem_layers,
                    "L2L: decoder blocks that get a GEM, comma-joined (1: after the bottleneck .. 5: full resolution).")
flags.DEFINE_enum("strategy-gem", L2LConfig.strategy_gem, ["A", "B", "C"],
                  "L2L: A one GEM at a time, alone; B one at a time, earlier ones updated too; C all at once.")
flags.DEFINE_enum("gem-loss", L2LConfig.gem_loss, ["l1", "l2"], "L2L: distance between the matched feature maps.")
flags.DEFINE_integer("gem-epochs", None, f"L2L: T, epochs of (phi_s^2, GEMs) (default {L2L_PRESETS['gem_epochs']}).")
flags.DEFINE_integer("gem-steps", None, f"L2L: steps per GEM stage per epoch (default {L2L_PRESETS['gem_steps']}).")
flags.DEFINE_float("gem-learning-rate", L2LConfig.gem_learning_rate, "L2L: Adam learning rate of the GEMs.")
flags.DEFINE_integer("source-steps", None, f"L2L: steps of phi_s^1 on all source data (default {L2L_PRESETS['source_steps']}).")
flags.DEFINE_integer("few-steps", None, f"L2L: steps of each phi_s^2 and of phi_t^plain (default {L2L_PRESETS['few_steps']}).")
flags.DEFINE_integer("finetune-steps", None, f"L2L: steps of fine-tuning phi_t (default {L2L_PRESETS['finetune_steps']}).")
flags.DEFINE_integer("noise-channels", L2LConfig.noise_channels, "L2L: channels of z's projection at each decoder block.")
flags.DEFINE_integer("samples-per-class", L2LConfig.samples_per_class, "L2L: p, images per class of X_s^t and X_n.")
flags.DEFINE_integer("critic-steps", None, f"L2L: critic steps per generator step (DAGAN 5; default {L2L_PRESETS['critic_steps']}).")
flags.DEFINE_enum("few-shot-init", L2LConfig.few_shot_init, ["scratch", "source"],
                  "L2L: phi_s^2 and phi_t^plain start from phi_s^1's initial weights (scratch) or from phi_s^1.")

# Shot morphing.
flags.DEFINE_integer(
    "classifier-epochs", 0,
    "shotmorph: epochs of the classifier of the training classes that scores the candidate policies "
    "(0: about 60000 images seen, at most 30 epochs).",
)  # fmt: skip
flags.DEFINE_integer(
    "fit-seeds", ShotMorphConfig.fit_seeds,
    "shotmorph: few-shot episodes drawn per training class to score each candidate policy on "
    "(fewer: a faster, noisier fit).",
)  # fmt: skip

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
flags.DEFINE_integer(
    "fid-frequency", None,
    "Measure it every this many epochs, as the SLE-GAN reference (default: every --fid-frequency-steps steps).",
)  # fmt: skip
flags.DEFINE_integer(
    "fid-frequency-steps", RunConfig.fid_frequency, "Measure it every this many steps (without --fid-frequency)."
)
flags.DEFINE_integer("fid-number-of-images", RunConfig.fid_number_of_images, "Generated images per measurement.")
flags.DEFINE_string("fid-metric", RunConfig.fid_metric, "The metric: fid, kid, pr, dc, diversity or memorisation.")
flags.DEFINE_enum("fid-features", RunConfig.fid_features, ["inception", "efficientnet_lite0", "classifier"],
                  "Feature extractor (efficientnet_lite0 works offline; inception needs its ImageNet weights).")  # fmt: skip
flags.DEFINE_string(
    "fid-weights", None,
    "InceptionV3 weights file (default: the Keras cache) or, for --fid-features classifier, "
    "the folder of a classifier trained by evaluate.py --train-classifier.",
)  # fmt: skip


def default_run_name(data, model="fastgan"):
    """``<model>_<data>`` with the data's last path part, e.g. fastgan_cats, figr_digits."""
    last = re.split(r"[\\/]", data.rstrip("/\\"))[-1] or "data"
    return f"{model}_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", last).strip("_")


def configs_from_flags():
    """(model config, RunConfig) from the command line, validated."""
    family = get_family(FLAGS.model)
    presets = family.presets
    data_folder, dataset = FLAGS["data-folder"].value, FLAGS.dataset
    if data_folder and dataset:
        raise InputError(
            "Give either --data-folder or --dataset, not both. "
            f"Received: --data-folder={data_folder!r}, --dataset={dataset!r}"
        )
    data = data_folder or dataset or presets["dataset"]
    model_config = family.config_from_flags(FLAGS)
    steps = FLAGS.steps
    if not family.trains_in_steps:
        steps = 0  # its length is in its config (stages, a fit)
    elif steps is None:
        steps = 0 if FLAGS.epochs else presets.get("steps", 0)
    model = FLAGS.model
    run_config = RunConfig(
        name=FLAGS.name or default_run_name(data, model),
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
        fid_frequency=FLAGS["fid-frequency-steps"].value,
        fid_frequency_epochs=FLAGS["fid-frequency"].value or 0,
        fid_number_of_images=FLAGS["fid-number-of-images"].value,
        fid_metric=FLAGS["fid-metric"].value,
        fid_features=FLAGS["fid-features"].value,
        fid_feature_weights=FLAGS["fid-weights"].value,
    )
    if FLAGS["fid-frequency"].present and FLAGS["fid-frequency-steps"].present:
        raise InputError(
            "Give --fid-frequency (epochs) or --fid-frequency-steps (steps), not both. Received: "
            f"--fid-frequency={FLAGS['fid-frequency'].value}, --fid-frequency-steps={FLAGS['fid-frequency-steps'].value}"
        )
    model_config.validate()
    run_config.validate()
    return model_config, run_config


def main(argv):
    if len(argv) > 1:
        raise InputError(f"train.py takes no positional arguments. Received: {argv[1:]}")
    model_config, run_config = configs_from_flags()
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TF logs INFO lines through absl
    trainer_class = get_family(model_config.family).trainer_class()
    try:
        trainer = trainer_class(model_config, run_config, quiet=FLAGS.quiet)
        trainer.fit(override=FLAGS.override)
    except KeyboardInterrupt as interrupt:
        # The trainer saved a checkpoint and said where; exit as a shell
        # reports the signal (130: SIGINT, 143: SIGTERM).
        sys.exit(getattr(interrupt, "exit_code", 130))


if __name__ == "__main__":
    app.run(clean_errors(main), flags_parser=parse_flags)
