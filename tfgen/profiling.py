"""How much arithmetic a step does, and how fast this machine can do it.

:func:`graph_flops` counts the floating-point operations of one call of a
``tf.function`` from its traced graph, with TensorFlow's own cost model (the
v1 profiler's ``float_operation`` view: a multiply-add counts as two, a 3x3
convolution of [B, H, W, Cin] to Cout channels as 2 B H W Cin Cout 9).
:func:`conv_ceiling` measures the GFLOP/s of a large 3x3 convolution's
forward and backward pass in a given precision: what a step made of
convolutions could reach here. ``bench/train_step.py`` reports a step's
achieved GFLOP/s as a fraction of it.
"""

from __future__ import annotations

import statistics
import time

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


def _finish(tensors):
    for tensor in tensors:
        tensor.numpy()
