"""FIGR meta-training and few-shot adaptation speed on this machine.

Meta-iteration = one task's share of the trainer's compiled Reptile step:
copy Phi to W, K inner steps (critic step with gradient penalty, generator
step) on a task of n images, outer Adam step on the mean of Phi - W. With
--tasks-per-step T one step trains T tasks at once, so a step is T
meta-iterations (FIGR's paper counts one task per meta-iteration). Tasks come from the real digits pipeline
(32x32 grey). Adaptation = tfgen.adapt from a saved run on 4 shots: FIGR's
Algorithm 2 (K inner steps) and the DCGAN baseline's fine-tuning (300 steps
on 300 augmented shots), each including building the networks, loading the
weights and tracing, i.e. what a user waits for.

    python bench/meta_train.py                       # widths 8, 16, 32, 64
    python bench/meta_train.py --widths 64 --inner-steps 10 --precisions off,bfloat16
    python bench/meta_train.py --widths 16 --tasks-per-step 1,16 --no-adaptation
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def meta_iterations(width, precision, inner_steps, shots, tasks, iterations, warmup):
    import numpy as np

    from tfgen.config import RunConfig
    from tfgen.families.figr.config import FIGRConfig
    from tfgen.families.figr.trainer import ReptileTrainer

    config = FIGRConfig(width=width, inner_steps=inner_steps, shots=shots, tasks_per_step=tasks)
    run = RunConfig(runs_dir=tempfile.mkdtemp(), data="digits", mixed_precision=precision)
    trainer = ReptileTrainer(config, run, quiet=True)
    batches = iter(trainer.distribute(trainer.data.dataset))
    start = time.perf_counter()
    trainer.train_function(next(batches))
    first = time.perf_counter() - start
    for _ in range(warmup):
        trainer.train_function(next(batches))
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        np.asarray(trainer.train_function(next(batches))["inner_d_loss"])
        times.append(time.perf_counter() - start)
    seconds = median(times)
    flops = inner_step_flops(trainer) * inner_steps  # per task: the outer step's arithmetic is negligible
    return {
        "width": width,
        "precision": precision,
        "inner_steps": inner_steps,
        "shots": shots,
        "tasks_per_step": tasks,
        "first_iteration_s": round(first, 1),
        "median_s_per_step": round(seconds, 3),
        "meta_iterations_per_s": round(tasks / seconds, 3),
        "gflop_per_meta_iteration": round(flops / 1e9, 1),
        "gflop_per_s": round(flops * tasks / seconds / 1e9, 1),
        "generator_params": int(sum(np.prod(v.shape) for v in trainer.generator.trainable_variables)),
        "critic_params": int(sum(np.prod(v.shape) for v in trainer.discriminator.trainable_variables)),
    }


def inner_step_flops(trainer):
    """FLOPs of one inner step (critic step with gradient penalty, generator
    step) of one task, counted from its graph (tfgen.profiling.graph_flops)."""
    import tensorflow as tf

    from tfgen.families.figr.batched import BatchedInnerLoop, draw_noise, stack_for_tasks
    from tfgen.profiling import graph_flops

    config = trainer.model_config
    loop = BatchedInnerLoop(trainer.generator, trainer.discriminator, config)
    noise = draw_noise(tf.constant([0, 0], tf.int64), steps=1, tasks=1, shots=config.shots, latent_dim=config.latent_dim)
    real = tf.zeros([1, config.shots, config.resolution, config.resolution, config.channels])

    @tf.function
    def step(g_weights, d_weights):
        d_gradients, _ = loop.critic_step(g_weights, d_weights, real, noise.critic_z[0], noise.eps[0])
        g_gradients, _ = loop.generator_step(g_weights, d_weights, noise.generator_z[0])
        return d_gradients + g_gradients

    return graph_flops(
        step,
        stack_for_tasks(trainer.generator.trainable_variables, 1),
        stack_for_tasks(trainer.discriminator.trainable_variables, 1),
    )


def adaptation_seconds(family, width, steps):
    """Seconds tfgen.adapt takes on 4 shots from a 1-step run of ``family``."""
    import tfgen
    from tfgen.config import RunConfig
    from tfgen.registry import get_family

    runs = tempfile.mkdtemp()
    config = get_family(family).config_class(width=width)
    trainer = get_family(family).trainer_class()(config, RunConfig(runs_dir=runs, data="digits", steps=1), quiet=True)
    run_dir = trainer.fit()
    start = time.perf_counter()
    tfgen.generate(tfgen.adapt(run_dir, "digits:9", steps=steps), 16)
    return {"family": family, "width": width, "adapt_steps": steps, "seconds": round(time.perf_counter() - start, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", default="8,16,32,64")
    parser.add_argument("--precisions", default="off", help="comma-joined: off, bfloat16")
    parser.add_argument("--inner-steps", type=int, default=10)
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--tasks-per-step", default="1", help="comma-joined: tasks trained at once per step")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--adapt-width", type=int, default=16)
    parser.add_argument("--no-adaptation", action="store_true")
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)

    results = {"meta_training": [], "adaptation": []}
    print("width  precision  tasks  s/step  meta-iter/s  first(s)  GFLOP/meta-iter  GFLOP/s  G params  critic params")
    for width in (int(w) for w in args.widths.split(",")):
        for precision in args.precisions.split(","):
            for tasks in (int(t) for t in args.tasks_per_step.split(",")):
                row = meta_iterations(
                    width, precision, args.inner_steps, args.shots, tasks, args.iterations, args.warmup
                )
                results["meta_training"].append(row)
                print(
                    f"{width:5d}  {precision:9s}  {tasks:5d}  {row['median_s_per_step']:6.3f}  "
                    f"{row['meta_iterations_per_s']:11.3f}  {row['first_iteration_s']:8.1f}  "
                    f"{row['gflop_per_meta_iteration']:15.1f}  {row['gflop_per_s']:7.1f}  "
                    f"{row['generator_params']:8d}  {row['critic_params']:13d}",
                    flush=True,
                )
    if not args.no_adaptation:
        for family, steps in (("figr", 10), ("dcgan", 300)):
            row = adaptation_seconds(family, args.adapt_width, steps)
            results["adaptation"].append(row)
            print(f"adaptation {family} width {args.adapt_width}, {steps} steps on 4 shots: {row['seconds']} s", flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
