"""How much arithmetic a step does, and how fast this machine can do it.

:func:`graph_flops` counts the floating-point operations of one call of a
``tf.function`` from its traced graph, with TensorFlow's own cost model (the
v1 profiler's ``float_operation`` view: a multiply-add counts as two, a 3x3
convolution of [B, H, W, Cin] to Cout channels as 2 B H W Cin Cout 9).
:func:`conv_ceiling` measures the GFLOP/s of a large 3x3 convolution's
forward and backward pass in a given precision: what a step made of
convolutions could reach here. ``bench/train_step.py`` reports a step's
achieved GFLOP/s as a fraction of it. :func:`op_times` runs a function under
TensorFlow's profiler and says where its time goes, op by op.
"""

from __future__ import annotations

import collections
import glob
import os
import statistics
import tempfile
import time
from typing import NamedTuple

import keras
import tensorflow as tf

# The ceiling's convolution (issue 16's reference): 8 x 64 x 64 x 128 -> 256, 3 x 3.
CEILING_SHAPE = (8, 64, 64, 128)
CEILING_FILTERS = 256


def graph_flops(function, *args):
    """Floating-point operations of one call of ``function`` (a ``tf.function``)
    on ``args``, counted from its traced graph."""
    graph = function.get_concrete_function(*args).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def conv_fwd_bwd(shape=CEILING_SHAPE, filters=CEILING_FILTERS, dtype_policy="float32"):
    """(a tf.function running the forward and backward pass of a 3x3 convolution, its input)."""
    conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, dtype=dtype_policy)
    images = tf.random.normal(shape)
    conv.build(shape)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(conv(x), "float32"))
        return tape.gradient(loss, [x, conv.kernel])

    return step, images


def conv_seconds(dtype_policy="float32", *, iterations=5, warmup=2):
    """Median seconds of the reference 3x3 convolution's forward and backward
    pass in ``dtype_policy`` (``float32``, ``mixed_bfloat16``, ...)."""
    step, images = conv_fwd_bwd(dtype_policy=dtype_policy)
    for _ in range(warmup):
        _finish(step(images))
    seconds = []
    for _ in range(iterations):
        started = time.perf_counter()
        _finish(step(images))
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def conv_ceiling(dtype_policy="float32", *, iterations=5, warmup=2):
    """GFLOP/s of the forward and backward pass of the reference 3x3
    convolution in ``dtype_policy``: its counted FLOPs over its median time."""
    flops = graph_flops(*conv_fwd_bwd(dtype_policy=dtype_policy))
    return flops / conv_seconds(dtype_policy, iterations=iterations, warmup=warmup) / 1e9


class OpTime(NamedTuple):
    """Kernel time of the ops of one kind (type, or name scope) per call."""

    name: str
    seconds: float  # per call, summed over the op's kernels
    count: float  # kernels per call


class OpProfile(NamedTuple):
    by_type: list  # [OpTime], most time first
    by_name: list  # [OpTime] by op name (scope/op), most time first
    wall_seconds: float  # per call, as the profiled calls ran

    @property
    def kernel_seconds(self):
        return sum(op.seconds for op in self.by_type)

    def grouped(self, key):
        """[OpTime] summed over the ops whose names ``key`` maps to one group, most time first."""
        groups = collections.defaultdict(lambda: [0.0, 0.0])
        for op in self.by_name:
            group = groups[key(op.name)]
            group[0] += op.seconds
            group[1] += op.count
        return sorted((OpTime(name, *sums) for name, sums in groups.items()), key=lambda op: -op.seconds)


def op_times(function, *args, calls=3):
    """Run ``function(*args)`` ``calls`` times under TensorFlow's profiler and
    sum its ops' kernel times per call, by op type and by op name.

    Kernel times come from the profiler's trace of the host's executor
    threads (events named ``scope/op:Type``). Ops that run concurrently on the
    inter-op threads are each counted in full, so the kernel total can exceed
    the wall time; their shares still say where the work is. ``function``
    should already be traced (call it once first) so no tracing is profiled.
    """
    # Imported here: the protobuf module is TensorFlow-internal and only the
    # profile needs it.
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory(prefix="tfgen_profile_") as logdir:
        tf.profiler.experimental.start(logdir)
        started = time.perf_counter()
        try:
            for _ in range(calls):
                _finish(tf.nest.flatten(function(*args)))
        finally:
            wall = (time.perf_counter() - started) / calls
            tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        [trace] = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
        with open(trace, "rb") as f:
            space.ParseFromString(f.read())

    by_type, by_name = collections.defaultdict(list), collections.defaultdict(list)
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue  # the Python thread and the intra-op pools hold no op kernels
            for event, seconds in _self_times(line.events):
                metadata = plane.event_metadata[event.metadata_id]
                if not metadata.display_name:
                    continue  # executor bookkeeping, not an op
                by_type[metadata.display_name].append(seconds)
                by_name[metadata.name.rsplit(":", 1)[0]].append(seconds)

    def summary(groups):
        ops = [OpTime(key, sum(times) / calls, len(times) / calls) for key, times in groups.items()]
        return sorted(ops, key=lambda op: -op.seconds)

    return OpProfile(summary(by_type), summary(by_name), wall)


def _self_times(events):
    """(event, seconds of it not spent in events nested inside it) for the
    events of one thread: an op that calls a function contains that
    function's ops, which are counted on their own."""
    result, stack = [], []  # stack: [event, end, index in result]
    for event in sorted(events, key=lambda e: (e.offset_ps, -e.duration_ps)):
        while stack and stack[-1][1] <= event.offset_ps:
            stack.pop()
        if stack:
            parent = result[stack[-1][2]]
            result[stack[-1][2]] = (parent[0], parent[1] - event.duration_ps / 1e12)
        result.append((event, event.duration_ps / 1e12))
        stack.append((event, event.offset_ps + event.duration_ps, len(result) - 1))
    return result


def _finish(tensors):
    for tensor in tensors:
        if hasattr(tensor, "numpy"):
            tensor.numpy()
