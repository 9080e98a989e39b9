"""FLOPs counted from a step's graph, against hand counts."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgen.profiling import conv_fwd_bwd, graph_flops


def test_a_convolution_counts_two_flops_per_multiply_add():
    conv = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)
    images = tf.random.normal((2, 8, 8, 4))
    conv.build(images.shape)
    forward = tf.function(lambda x: conv(x))
    # By hand: every output value (2 x 8 x 8 x 16) is a sum of 3 x 3 x 4 products.
    assert graph_flops(forward, images) == 2 * (2 * 8 * 8 * 16) * (3 * 3 * 4)


def test_forward_and_backward_of_a_convolution_is_three_convolutions():
    step, images = conv_fwd_bwd(shape=(2, 8, 8, 4), filters=16)
    one_conv = 2 * (2 * 8 * 8 * 16) * (3 * 3 * 4)
    flops = graph_flops(step, images)
    # The forward pass, the gradient for the input and the one for the kernel;
    # the summed loss adds at most one operation per output value.
    assert 3 * one_conv <= flops <= 3 * one_conv + 2 * (2 * 8 * 8 * 16)


def test_dense_layer_count():
    dense = keras.layers.Dense(7)
    x = tf.constant(np.ones((5, 3), np.float32))
    dense.build(x.shape)
    flops = graph_flops(tf.function(lambda v: dense(v)), x)
    # 5 x 7 outputs, each 3 multiply-adds, plus the bias added to each.
    assert flops == 2 * 5 * 7 * 3 + 5 * 7


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_the_ceiling_convolution_runs_in_both_precisions(policy):
    step, images = conv_fwd_bwd(shape=(1, 8, 8, 8), filters=8, dtype_policy=policy)
    grad_x, grad_kernel = step(images)
    assert grad_x.shape == (1, 8, 8, 8) and grad_kernel.shape == (3, 3, 8, 8)


def test_self_times_leave_out_nested_events():
    from types import SimpleNamespace

    from tfgen.profiling import _self_times

    event = lambda start, length: SimpleNamespace(offset_ps=start * 10**12, duration_ps=length * 10**12)  # noqa: E731
    # A function-call op [0, 10) holding two ops [1, 4) and [5, 6), then an op [10, 12).
    events = [event(5, 1), event(0, 10), event(10, 2), event(1, 3)]
    seconds = {(e.offset_ps // 10**12): s for e, s in _self_times(events)}
    assert seconds == {0: 10 - 3 - 1, 1: 3, 5: 1, 10: 2}


def test_op_times_finds_each_convolution_kernel_once_per_call():
    from tfgen.profiling import op_times

    step, images = conv_fwd_bwd(shape=(2, 16, 16, 8), filters=8)
    step(images)  # traced before profiling
    profile = op_times(step, images, calls=2)
    counts = {op.name: op.count for op in profile.by_type}
    # Forward-free (the summed loss's gradient is a constant): one gradient for
    # the input, one for the kernel; TensorFlow names them with or without oneDNN's prefix.
    [input_grad] = [n for n in counts if n.endswith("Conv2DBackpropInput")]
    [kernel_grad] = [n for n in counts if n.endswith("Conv2DBackpropFilter")]
    assert counts[input_grad] == counts[kernel_grad] == 1
    assert profile.wall_seconds > 0 and profile.kernel_seconds > 0
    grouped = profile.grouped(lambda name: name.split("/")[0])
    assert sum(op.seconds for op in grouped) == pytest.approx(profile.kernel_seconds)
