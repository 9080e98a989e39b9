"""StyleGAN speed on this machine: the training step (plain, and with the lazy
R1 penalty), generation, and one step of AdaIN adaptation (L1 only, and with
the EfficientNet-Lite0 perceptual term), at train.py's CPU-sized defaults.

Each number is the median over --iterations timed calls after --warmup
untimed ones (tracing excluded), in one process, so ratios between rows are
measured under the same conditions.

    python bench/stylegan.py
    python bench/stylegan.py --channel-max 512 --channel-base 8192 --latent-dim 512 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench.timing import timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--latent-dim", type=int, default=128)
    parser.add_argument("--channel-base", type=int, default=2048)
    parser.add_argument("--channel-max", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    import tfgen
    from tfgen.config import RunConfig
    from tfgen.families.stylegan.config import AdaINAdaptConfig, StyleGANConfig
    from tfgen.perceptual import FeatureDistance
    from tfgen.families.stylegan.adapt import AdaINAdaptation, adapted_generator
    from tfgen.families.stylegan.trainer import StyleGANTrainer

    config = StyleGANConfig(
        resolution=args.resolution, latent_dim=args.latent_dim, w_dim=args.latent_dim,
        channel_base=args.channel_base, channel_max=args.channel_max, batch_size=args.batch_size,
    )  # fmt: skip
    run = RunConfig(name="bench", runs_dir=tempfile.mkdtemp(), data="digits", flip=False)
    trainer = StyleGANTrainer(config, run, quiet=True)
    batch = tf.random.uniform((args.batch_size, args.resolution, args.resolution, 1), -1.0, 1.0)

    def step_at(number):
        """One training step run as step ``number`` (R1 runs when it is a multiple of 16)."""

        def run():
            trainer.step.assign(number)
            trainer.train_function(batch)

        return run

    regularized_step, plain_step = step_at(0), step_at(1)
    results = {
        "settings": vars(args),
        "generator_parameters": int(sum(np.prod(v.shape) for v in trainer.generator.trainable_variables)),
        "discriminator_parameters": int(sum(np.prod(v.shape) for v in trainer.discriminator.trainable_variables)),
        "train_step_s": timed(plain_step, args.iterations, args.warmup),
        "train_step_with_r1_s": timed(regularized_step, args.iterations, args.warmup),
        "generate_64_images_s": timed(
            lambda: tfgen.generate(trainer.generator, 64, batch_size=64), args.iterations, args.warmup
        ),
    }
    shots = np.random.default_rng(0).integers(0, 256, (args.shots, args.resolution, args.resolution, 1), np.uint8)
    for name, distance in (("l1", None), ("efficientnet_lite0", FeatureDistance(features="efficientnet_lite0"))):
        generator = adapted_generator(
            trainer.generator_ema, config, num_latents=args.shots, latent_space="z", sampling="interpolate"
        )
        adaptation = AdaINAdaptation(generator, shots, AdaINAdaptConfig(), distance=distance)
        results[f"adain_step_{name}_s"] = timed(adaptation.step_function, args.iterations, args.warmup)
    results["r1_step_ratio"] = results["train_step_with_r1_s"] / results["train_step_s"]
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
