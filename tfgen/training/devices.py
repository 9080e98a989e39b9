"""Which devices a run trains on, said at its start, and the hardware
settings that cannot help without a GPU refused with what to do instead."""

from __future__ import annotations

import os

import tensorflow as tf

from tfgen.errors import InputError

GPU_INSTALL_ADVICE = (
    "If this machine has an NVIDIA GPU, replace TensorFlow's CPU build with its GPU build: "
    "pip uninstall -y tensorflow-cpu && pip install 'tensorflow[and-cuda]'."
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
