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
