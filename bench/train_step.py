"""FastGAN training-step and generation speed, and peak memory, on this machine.

One iteration = one D step on real images (with its three reconstruction
decoders) and on fakes, then one G step, Adam updates, EMA update: the
trainer's real compiled step (``--discriminators projected``: Projected GAN's
discriminator instead, frozen EfficientNet-Lite0 at 224 px or the native size
and four mini discriminators, no decoders), fed a fixed batch of random images so data
loading is excluded. Generation = the generator in inference mode, batch 8.
FLOPs per iteration are counted from the compiled step's graph
(``tfgen.profiling.graph_flops``); the achieved GFLOP/s are given as a
fraction of the forward and backward pass of a 3x3 convolution 8x64x64x128
-> 256 measured in the same process and precision (the machine's ceiling for
a step made of convolutions).

Each (resolution, precision, xla) configuration runs in its own process so
peak RSS is per configuration.

    python bench/train_step.py                       # 64, 128, 256 px; float32 and bfloat16
    python bench/train_step.py --resolutions 256 --precisions off --xla both
    python bench/train_step.py --resolutions 1024 --batch-size 1
    python bench/train_step.py --resolutions 256 --precisions bfloat16 --profile 20
    python bench/train_step.py --resolutions 64,256 --precisions off --discriminators fastgan,projected

``--profile N`` also runs the step under TensorFlow's profiler and prints
its N costliest op types and name scopes (kernel seconds per iteration).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _current_rss_gb():
    """Resident memory now (Linux), in GB; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1e6, 2)
    except OSError:
        return None
    return None


def measure(resolution, precision, xla, batch_size, iterations, warmup, width=64, profile=0,
            discriminator="fastgan", projected_resolution=224):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import numpy as np
    import tensorflow as tf

    from tfgen.config import RunConfig
    from tfgen.families.fastgan.config import FastGANConfig
    from tfgen.families.fastgan.trainer import FastGANTrainer
    from tfgen.profiling import conv_ceiling, graph_flops, op_times
    from tfgen.training.devices import PRECISION_POLICIES

    class RandomData:
        num_images = batch_size
        steps_per_epoch = 1
        dataset = tf.data.Dataset.from_tensors(
            tf.random.uniform((batch_size, resolution, resolution, 3), -1.0, 1.0)
        ).repeat()

    class BenchTrainer(FastGANTrainer):
        def build_dataset(self):
            return RandomData()

    model = FastGANConfig(
        resolution=resolution, batch_size=batch_size, ngf=width, ndf=width, discriminator=discriminator,
        projected_resolution=projected_resolution if discriminator == "projected" else 224,
    )
    run = RunConfig(name="bench", runs_dir="/tmp/tfgen_bench", steps=1, mixed_precision=precision, xla=xla)
    trainer = BenchTrainer(model, run, quiet=True)
    batch = next(iter(trainer.distribute(trainer.data.dataset)))

    start = time.perf_counter()
    trainer.train_function(batch)["g_loss"].numpy()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        trainer.train_function(batch)["g_loss"].numpy()
    # Alternating, in one process: the bare step (one loss read back) and the
    # step as fit() runs it, every loss read and checked for NaN/Inf.
    times, checked_times = [], []
    for _ in range(iterations):
        start = time.perf_counter()
        trainer.train_function(batch)["g_loss"].numpy()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        trainer.loss_values(trainer.train_function(batch))
        checked_times.append(time.perf_counter() - start)

    steady_rss_gb = _current_rss_gb()  # after training iterations, before generation
    generator = trainer.sampling_generator
    z = tf.random.normal((8, model.latent_dim))
    generate = tf.function(lambda z: generator(z, training=False), jit_compile=xla or None)
    generate(z).numpy()
    gen_times = []
    for _ in range(max(3, iterations // 2)):
        start = time.perf_counter()
        generate(z).numpy()
        gen_times.append(time.perf_counter() - start)

    flops = graph_flops(trainer.train_function, batch)
    gflop_per_s = flops / float(np.median(times)) / 1e9
    ceiling = conv_ceiling(PRECISION_POLICIES[precision])
    count = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_weights)  # noqa: E731
    profiled = op_times(trainer.train_function, batch) if profile else None
    return {
        "discriminator": discriminator,
        "projected_resolution": projected_resolution if discriminator == "projected" else None,
        "resolution": resolution,
        "precision": precision,
        "xla": xla,
        "batch_size": batch_size,
        "width": width,
        "first_iteration_s": round(first, 2),
        "median_s_per_iteration": round(float(np.median(times)), 3),
        "median_s_with_finite_check": round(float(np.median(checked_times)), 3),
        "finite_check_overhead": round(float(np.median(checked_times) / np.median(times)) - 1.0, 4),
        "generator_images_per_s": round(8 / float(np.median(gen_times)), 2),
        "gflop_per_iteration": round(flops / 1e9, 2),
        "gflop_per_s": round(gflop_per_s, 1),
        "conv_ceiling_gflop_per_s": round(ceiling, 1),
        "ceiling_fraction": round(gflop_per_s / ceiling, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
        "steady_rss_gb": steady_rss_gb,
        "g_params_m": round(count(trainer.generator) / 1e6, 2),
        "d_params_m": round(count(trainer.discriminator) / 1e6, 2),
        # The projected discriminator's frozen EfficientNet-Lite0 stages (not trained, not in its weights).
        "d_frozen_params_m": round(
            sum(int(np.prod(v.shape)) for v in trainer.discriminator.feature_network().variables) / 1e6, 2
        ) if discriminator == "projected" else 0.0,
        "profile": profiled and {
            "wall_s": round(profiled.wall_seconds, 3),
            "kernel_s": round(profiled.kernel_seconds, 3),
            "by_type": [list(op) for op in profiled.by_type[:profile]],
            "by_model": [list(op) for op in profiled.grouped(lambda name: model_pass(name, 1))[:profile]],
            "by_scope": [list(op) for op in profiled.grouped(lambda name: model_pass(name, 2))[:profile]],
        },
    }


def model_pass(op_name, depth):
    """"backward discriminator_1/down_8" for "gradient_tape/discriminator_1/down_8/...":
    which model (and block, at depth 2) an op belongs to, forward or backward."""
    parts = op_name.split("/")
    backward = parts[0] == "gradient_tape"
    return ("backward " if backward else "forward ") + "/".join(parts[backward:][:depth])


def describe_cpu():
    """Which case a figure is: bfloat16 is fast only with AVX512-BF16 / AMX
    (two sittings on hosts with and without them disagreed by 2.5x)."""
    sys.path.insert(0, ROOT)
    from tfgen.training.devices import BFLOAT16_CPU_FLAGS, cpu_flags

    found = sorted(cpu_flags().intersection(BFLOAT16_CPU_FLAGS))
    bf16 = ", ".join(found) if found else "none (bfloat16 runs without them: expect it slower than float32)"
    return f"{os.cpu_count()} cores; bfloat16 instructions: {bf16}"


def print_profile(profile):
    """The costliest op types and name scopes, kernel seconds per iteration."""
    total = profile["kernel_s"]
    print(f"      profile: {profile['wall_s']:.3f} s/iter wall, {total:.3f} s of op kernels "
          f"(ops run concurrently on 2 inter-op threads)")
    for title, key in (("op type", "by_type"), ("model", "by_model"), ("name scope", "by_scope")):
        print(f"      {title:<60} {'s/iter':>7} {'share':>6} {'ops':>6}")
        for name, seconds, count in profile[key]:
            print(f"      {name[:60]:<60} {seconds:>7.3f} {seconds / total:>6.1%} {count:>6.0f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", default="64,128,256")
    parser.add_argument("--precisions", default="off,bfloat16", help="off, bfloat16, float16")
    parser.add_argument("--xla", default="off", choices=["off", "on", "both"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf (official 64)")
    parser.add_argument("--discriminators", default="fastgan", help="fastgan, projected (comma-separated)")
    parser.add_argument("--projected-resolution", type=int, default=224,
                        help="the projected discriminator's feature resolution (official 224)")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also profile the step and print its N costliest op types and scopes")
    parser.add_argument("--json", help="also append results as JSON lines to this file")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one config, print JSON
    args = parser.parse_args()

    if args.one:
        resolution, precision, xla, discriminator = args.one.split(",")
        result = measure(
            int(resolution), precision, xla == "1", args.batch_size, args.iterations, args.warmup, args.width,
            args.profile, discriminator, args.projected_resolution,
        )
        print("RESULT " + json.dumps(result))
        return

    xla_modes = {"off": [False], "on": [True], "both": [False, True]}[args.xla]
    print(describe_cpu())
    header = (
        f"{'D':>9} {'res':>5} {'precision':>9} {'xla':>4} {'batch':>5} {'s/iter':>8} {'+NaN chk':>8} "
        f"{'first s':>8} {'gen img/s':>9} {'peak RSS GB':>11} {'GFLOP/it':>8} {'GFLOP/s':>8} {'ceiling':>8} {'of ceil':>7}"
    )
    print(header)
    configurations = [
        (discriminator, resolution, precision, xla)
        for resolution in [int(r) for r in args.resolutions.split(",")]
        for precision in args.precisions.split(",")
        for xla in xla_modes
        for discriminator in args.discriminators.split(",")
    ]
    for discriminator, resolution, precision, xla in configurations:
        command = [
            sys.executable, __file__, "--one", f"{resolution},{precision},{int(xla)},{discriminator}",
            "--batch-size", str(args.batch_size), "--iterations", str(args.iterations),
            "--warmup", str(args.warmup), "--width", str(args.width), "--profile", str(args.profile),
            "--projected-resolution", str(args.projected_resolution),
        ]
        proc = subprocess.run(command, capture_output=True, text=True)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{discriminator:>9} {resolution:>5} {precision:>9} {str(xla):>4} failed: "
                  f"{proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(lines[0][len("RESULT "):])
        print(
            f"{discriminator:>9} {resolution:>5} {precision:>9} {'on' if xla else 'off':>4} {r['batch_size']:>5} "
            f"{r['median_s_per_iteration']:>8.3f} {r['median_s_with_finite_check']:>8.3f} "
            f"{r['first_iteration_s']:>8.1f} "
            f"{r['generator_images_per_s']:>9.1f} {r['peak_rss_gb']:>11.2f} "
            f"{r['gflop_per_iteration']:>8.1f} {r['gflop_per_s']:>8.1f} {r['conv_ceiling_gflop_per_s']:>8.1f} "
            f"{r['ceiling_fraction']:>7.2f}",
            flush=True,
        )
        if r["profile"]:
            print_profile(r["profile"])
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
