"""Which devices a run trains on, said at its start; the precision
``--mixed-precision auto`` picks for them; and the hardware settings that
cannot help without a GPU refused with what to do instead."""

from __future__ import annotations

import contextlib
import os

import keras
import tensorflow as tf

from tfgen.errors import InputError

GPU_INSTALL_ADVICE = (
    "If this machine has an NVIDIA GPU, replace TensorFlow's CPU build with its GPU build: "
    "pip uninstall -y tensorflow-cpu && pip install -e '.[gpu]' in a checkout of tfgen "
    "(or pip install 'tensorflow[and-cuda]')."
)


def describe_devices(strategy):
    """``"1 GPU (/device:GPU:0)"`` or ``"the CPU (16 cores)"``: where ``strategy``'s replicas run."""
    try:
        replicas = [str(device) for device in strategy.extended.worker_devices]
    except RuntimeError:  # the default strategy: TensorFlow's placement, a GPU when it sees one
        replicas = [device.name for device in tf.config.list_logical_devices("GPU")[:1]]
    gpus = [device for device in replicas if "GPU" in device.upper()]
    if gpus:
        return f"{len(gpus)} GPU{'s' if len(gpus) > 1 else ''} ({', '.join(gpus)})"
    cores = os.cpu_count() or 1
    if len(replicas) > 1:
        return f"{len(replicas)} logical CPU devices ({cores} cores)"
    return f"the CPU ({cores} cores)"


# /proc/cpuinfo flags of the x86 instructions that make bfloat16 fast on a CPU.
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
# bfloat16 must beat float32 by this factor to be chosen: it rounds more.
BFLOAT16_MIN_SPEEDUP = 1.2


def cpu_flags():
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def measure_bfloat16_speedup():
    """The speed of a 3x3 convolution's forward and backward pass in bfloat16
    over float32, measured here (about two seconds)."""
    from tfgen.profiling import conv_seconds

    return conv_seconds("float32", iterations=3, warmup=1) / conv_seconds("mixed_bfloat16", iterations=3, warmup=1)


# RunConfig.mixed_precision (and generate.py's --mixed-precision) -> Keras dtype policy, and how the start message names it.
PRECISION_POLICIES = {"off": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
PRECISION_NAMES = {"off": "float32", "float16": "mixed float16", "bfloat16": "mixed bfloat16"}


@contextlib.contextmanager
def precision_policy(mixed_precision):
    """Set the Keras dtype policy for RunConfig.mixed_precision, restore it on exit.

    Layers take the global policy when they are created, so models built
    inside keep their mixed policy after the block while later code (and
    other tests) sees the previous policy again.
    """
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(PRECISION_POLICIES[mixed_precision])
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def resolve_precision(mixed_precision, *, allow_float16=True):
    """(setting, why): ``"auto"`` settled by :func:`choose_precision`, any other setting as it is (why None)."""
    if mixed_precision == "auto":
        return choose_precision(allow_float16=allow_float16)
    if mixed_precision not in PRECISION_POLICIES:
        raise InputError(
            f"mixed_precision must be one of off, bfloat16, float16, auto. Received: {mixed_precision!r}"
        )
    return mixed_precision, None


def choose_precision(*, allow_float16=True, gpus=None, flags=None, measure=measure_bfloat16_speedup):
    """What ``--mixed-precision auto`` means on this machine: (setting, why).

    float16 on a GPU (bfloat16 for a method without loss scaling); on a CPU,
    bfloat16 where the CPU has AVX512-BF16 or AMX and a bfloat16 convolution
    measures at least BFLOAT16_MIN_SPEEDUP times float32's speed; float32
    ("off") otherwise. ``gpus``, ``flags``, ``measure``: the visible GPUs, the
    CPU flags and the speed-up measurement (default: this machine's).
    """
    gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    if gpus:
        if allow_float16:
            return "float16", "a GPU is visible (float16 with loss scaling)"
        return "bfloat16", "a GPU is visible, and this method has no loss scaling for float16"
    flags = cpu_flags() if flags is None else flags
    if not flags.intersection(BFLOAT16_CPU_FLAGS):
        return "off", "no GPU, and this CPU has no AVX512-BF16 or AMX for bfloat16"
    speedup = measure()
    if speedup >= BFLOAT16_MIN_SPEEDUP:
        return "bfloat16", f"this CPU has AVX512-BF16/AMX and a bfloat16 convolution ran {speedup:.1f}x float32's speed"
    return "off", f"this CPU has AVX512-BF16/AMX but a bfloat16 convolution ran only {speedup:.2f}x float32's speed"


def check_hardware_settings(run_config, gpus=None, cpu_devices=None):
    """An InputError for ``--mixed-precision float16`` or ``--strategy mirrored``
    when no GPU is visible: float16 is emulated on CPUs (slower than float32),
    and mirroring one device changes nothing. ``gpus`` / ``cpu_devices``:
    the visible devices (default: TensorFlow's lists)."""
    if run_config.mixed_precision != "float16" and run_config.strategy != "mirrored":
        return  # nothing to check; and asking TensorFlow for its devices would start it before multiworker can
    gpus = tf.config.list_physical_devices("GPU") if gpus is None else gpus
    if gpus:
        return
    if run_config.mixed_precision == "float16":
        raise InputError(
            "--mixed-precision float16 needs a GPU, and none is visible: on a CPU float16 is emulated and "
            "slower than float32. Use --mixed-precision bfloat16 (fast on CPUs with AVX512-BF16 or AMX) or "
            f"off. {GPU_INSTALL_ADVICE}"
        )
    cpu_devices = tf.config.list_logical_devices("CPU") if cpu_devices is None else cpu_devices
    if run_config.strategy == "mirrored" and len(cpu_devices) < 2:
        raise InputError(
            "--strategy mirrored spreads each step over the local GPUs, and none is visible: on one CPU "
            f"it only adds overhead. Leave --strategy at default. {GPU_INSTALL_ADVICE}"
        )
