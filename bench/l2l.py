"""L2L-GAN speed on this machine: one WGAN-GP step of a plain stage and of the
fine-tuning stage (GEMs active), one GEM-training step per GEM type, and
generation, at train.py's CPU-sized defaults (32 px grey, width 16, batch 16,
2 critic steps, GEMs at decoder blocks 3 and 4).

Each number is the median over --iterations timed calls after --warmup
untimed ones (tracing excluded), in one process, so ratios between rows are
measured under the same conditions.

    python bench/l2l.py
    python bench/l2l.py --resolution 96 --channels 3 --width 64 --critic-steps 5 --batch-size 32   # the paper's net
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
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--critic-steps", type=int, default=2)
    parser.add_argument("--gem-layers", default="3,4")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    import tfgen
    from tfgen.config import RunConfig
    from tfgen.families.l2l.config import L2LConfig
    from tfgen.data.builtin import LabelledImages
    from tfgen.families.l2l.trainer import GEMTrainer, PairTrainer, build_l2l_generator, gem_stages

    size, channels = args.resolution, args.channels
    config = L2LConfig(
        resolution=size, channels=channels, width=args.width, batch_size=args.batch_size,
        critic_steps=args.critic_steps, gem_layers=args.gem_layers,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    images = LabelledImages(
        rng.integers(0, 256, (64, size, size, channels), dtype=np.uint8), np.repeat(np.arange(16), 4),
        [str(k) for k in range(16)],
    )  # fmt: skip
    results = {"settings": vars(args)}

    for gems in ("none", "all"):
        run = RunConfig(name=f"bench_{gems}", runs_dir=tempfile.mkdtemp(), data="random", flip=False)
        trainer = PairTrainer(config, run, images=images, gems=gems, quiet=True)
        batch = next(iter(trainer.data.dataset))
        results[f"gan_step_gems_{gems}_s"] = timed(lambda: trainer.train_function(batch), args.iterations, args.warmup)
        if gems == "none":
            results["generator_parameters"] = int(sum(np.prod(v.shape) for v in trainer.generator.base_variables()))
            results["critic_parameters"] = int(sum(np.prod(v.shape) for v in trainer.discriminator.trainable_variables))

    x = tf.constant(rng.uniform(-1, 1, (args.batch_size, size, size, channels)).astype("float32"))
    for gem_type in (1, 2, 3):
        keras.utils.set_random_seed(0)
        typed = L2LConfig(**{**config.__dict__, "gem_type": gem_type})
        reference, student = build_l2l_generator(typed, gem_layers=""), build_l2l_generator(typed)
        results[f"gem_{gem_type}_parameters"] = int(sum(np.prod(v.shape) for v in student.gem_variables()))
        gem_trainer = GEMTrainer(reference, student, typed, seed=0)
        stage = gem_stages("C", student.gem_slots)[0]
        variables = student.gem_variables(stage.trained)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(variables)

        @tf.function
        def gem_step():
            z = tf.random.normal((args.batch_size, config.latent_dim))
            with tf.GradientTape() as tape:
                loss = gem_trainer.feature_loss(x, z, stage)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        results[f"gem_{gem_type}_step_all_gems_s"] = timed(gem_step, args.iterations, args.warmup)

    stored = build_l2l_generator(config, conditioning_images=16)
    stored.set_conditioning(images.images[:16])
    results["generate_64_images_s"] = timed(lambda: tfgen.generate(stored, 64, batch_size=64), args.iterations, args.warmup)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
