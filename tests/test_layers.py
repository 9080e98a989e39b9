import keras
import numpy as np
import pytest

from tests.harness import run_layer_test
from tfgen.layers import (
    GLU,
    NoiseInjection,
    SkipLayerExcitation,
    SpectralConv2D,
    SpectralLatentProjection,
    adaptive_avg_pool,
)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_glu_matches_numpy():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype("float32")
    out = keras.ops.convert_to_numpy(GLU()(x))
    np.testing.assert_allclose(out, x[..., :4] * _sigmoid(x[..., 4:]), rtol=1e-5, atol=1e-6)


def test_adaptive_avg_pool_matches_numpy():
    x = np.random.default_rng(1).normal(size=(2, 16, 16, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(adaptive_avg_pool(x, 4))
    expected = x.reshape(2, 4, 4, 4, 4, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        adaptive_avg_pool(np.zeros((1, 6, 6, 1), "float32"), 4)


def _numpy_conv_valid(x, kernel):
    """Plain 'valid' convolution, NHWC, for checking the SLE gate."""
    k = kernel.shape[0]
    b, h, w, _ = x.shape
    out = np.zeros((b, h - k + 1, w - k + 1, kernel.shape[-1]), "float64")
    for i in range(h - k + 1):
        for j in range(w - k + 1):
            out[:, i, j] = np.einsum("bhwc,hwco->bo", x[:, i : i + k, j : j + k], kernel)
    return out


def _sigma(kernel, u):
    matrix = kernel.reshape(-1, kernel.shape[-1])
    return np.linalg.norm(matrix @ u)


def test_skip_layer_excitation_matches_numpy():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    target = rng.normal(size=(2, 16, 16, 6)).astype("float32")
    sle = SkipLayerExcitation(target_channels=6)
    out = keras.ops.convert_to_numpy(sle([source, target]))  # inference: sigma = ||W u||

    k1 = keras.ops.convert_to_numpy(sle.conv_pool.kernel)
    u1 = keras.ops.convert_to_numpy(sle.conv_pool.u)
    k2 = keras.ops.convert_to_numpy(sle.conv_gate.kernel)
    u2 = keras.ops.convert_to_numpy(sle.conv_gate.u)
    pooled = source.reshape(2, 4, 2, 4, 2, 4).mean(axis=(2, 4))
    h = _numpy_conv_valid(pooled, k1 / _sigma(k1, u1))  # [2, 1, 1, 6]
    h = h * _sigmoid(h)  # swish
    gate = _sigmoid(_numpy_conv_valid(h, k2 / _sigma(k2, u2)))
    np.testing.assert_allclose(out, target * gate, rtol=1e-4, atol=1e-5)


def test_spectral_norm_converges_to_unit_largest_singular_value():
    conv = SpectralConv2D(filters=5, kernel_size=3)
    x = np.random.default_rng(3).normal(size=(1, 8, 8, 4)).astype("float32")
    for _ in range(200):  # each training call is one power iteration
        conv(x, training=True)
    normalized = keras.ops.convert_to_numpy(conv.normalized_kernel(training=False))
    top = np.linalg.svd(normalized.reshape(-1, 5), compute_uv=False)[0]
    assert abs(top - 1.0) < 5e-3
    raw = keras.ops.convert_to_numpy(conv.kernel).reshape(-1, 5)
    assert np.linalg.svd(raw, compute_uv=False)[0] != pytest.approx(1.0, abs=1e-2)


def test_spectral_norm_gradient_flows_through_sigma():
    import tensorflow as tf

    conv = SpectralConv2D(filters=3, kernel_size=1)
    x = np.ones((1, 1, 1, 2), "float32")
    conv(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(conv(x, training=True))
    grad = tape.gradient(y, conv.kernel)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_spectral_conv_padding_matches_pytorch_sizes():
    x = np.zeros((1, 16, 16, 2), "float32")
    assert SpectralConv2D(filters=3, kernel_size=4, strides=2)(x).shape == (1, 8, 8, 3)
    assert SpectralConv2D(filters=3, kernel_size=3)(x).shape == (1, 16, 16, 3)
    assert SpectralConv2D(filters=3, kernel_size=4, padding="valid")(x).shape == (1, 13, 13, 3)
    with pytest.raises(ValueError, match="padding"):
        SpectralConv2D(filters=3, kernel_size=3, padding="reflect")


def test_latent_projection_equals_transposed_conv_on_1x1():
    proj = SpectralLatentProjection(filters=6)
    z = np.random.default_rng(4).normal(size=(2, 5)).astype("float32")
    out = keras.ops.convert_to_numpy(proj(z))
    kernel = keras.ops.convert_to_numpy(proj.normalized_kernel())  # [nz, 4, 4, C]
    # A 4x4 stride-1 transposed conv of a 1x1 map places z @ W at every tap.
    expected = np.einsum("bn,nhwc->bhwc", z, kernel)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_noise_injection_starts_as_identity_and_uses_noise():
    layer = NoiseInjection(seed=1)
    x = np.ones((2, 4, 4, 3), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    layer.weight.assign(1.0)
    out = keras.ops.convert_to_numpy(layer(x))
    noise = out - x
    # One noise map per pixel, shared across channels.
    np.testing.assert_allclose(noise[..., 0], noise[..., 2])
    assert noise.std() > 0.5


@pytest.mark.parametrize(
    "make, inputs, shape",
    [
        (lambda: SpectralConv2D(filters=4, kernel_size=3), np.ones((2, 8, 8, 3), "float32"), (2, 8, 8, 4)),
        (lambda: SpectralLatentProjection(filters=4), np.ones((2, 7), "float32"), (2, 4, 4, 4)),
        (lambda: GLU(), np.ones((2, 4, 4, 6), "float32"), (2, 4, 4, 3)),
        (lambda: NoiseInjection(seed=3), np.ones((2, 4, 4, 2), "float32"), (2, 4, 4, 2)),
    ],
)
def test_layer_harness(tmp_path, make, inputs, shape):
    run_layer_test(tmp_path, make, inputs, expected_shape=shape)


def test_sle_harness(tmp_path):
    rng = np.random.default_rng(5)
    inputs = [rng.normal(size=(2, 8, 8, 4)).astype("float32"), rng.normal(size=(2, 16, 16, 6)).astype("float32")]
    run_layer_test(tmp_path, lambda: SkipLayerExcitation(target_channels=6), inputs, expected_shape=(2, 16, 16, 6))


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16", "bfloat16"])
def test_batch_norm_fast_path_matches_numpy_and_updates_moving_stats(dtype):
    from tfgen.layers import BatchNorm

    rng = np.random.default_rng(6)
    x = rng.normal(2.0, 3.0, size=(4, 5, 5, 3)).astype("float32")
    layer = BatchNorm(momentum=0.9, epsilon=1e-5, gamma_initializer="ones", dtype=dtype)
    dtype = layer.compute_dtype
    out = keras.ops.convert_to_numpy(keras.ops.cast(layer(keras.ops.cast(x, dtype), training=True), "float32"))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    tol = 1e-4 if dtype == "float32" else 5e-2
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=tol, rtol=tol)
    n = x.size // 3
    stat = lambda v: keras.ops.convert_to_numpy(keras.ops.cast(v, "float32"))  # noqa: E731
    np.testing.assert_allclose(stat(layer.moving_mean), 0.1 * mean, rtol=tol, atol=tol)
    # Unbiased variance, as PyTorch.
    np.testing.assert_allclose(stat(layer.moving_variance), 0.9 + 0.1 * var * n / (n - 1), rtol=tol)
    inference = keras.ops.convert_to_numpy(keras.ops.cast(layer(keras.ops.cast(x, dtype)), "float32"))
    moving_mean, moving_var = stat(layer.moving_mean), stat(layer.moving_variance)
    np.testing.assert_allclose(inference, (x - moving_mean) / np.sqrt(moving_var + 1e-5), atol=tol, rtol=tol)


def test_batch_norm_fast_path_gradient_matches_keras():
    import tensorflow as tf

    from tfgen.layers import BatchNorm

    x = tf.constant(np.random.default_rng(7).normal(size=(4, 6, 6, 3)).astype("float32"))
    fused, plain = BatchNorm(), keras.layers.BatchNormalization()
    grads = []
    for layer in (fused, plain):
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(tf.sin(layer(x, training=True)))
        grads.append(tape.gradient(y, [x, layer.gamma, layer.beta]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-3, rtol=1e-3)


# ------------------------------------------------------------ StyleGAN layers


def _numpy_conv_same(x, kernel):
    pad = kernel.shape[0] // 2
    return _numpy_conv_valid(np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))), kernel)


def _lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * np.sqrt(2.0)


@pytest.mark.parametrize("activation", [None, "lrelu"])
def test_equalized_dense_matches_numpy(activation):
    from tfgen.layers import EqualizedDense

    layer = EqualizedDense(units=5, lr_multiplier=0.01, bias_init=0.3, gain=2.0, activation=activation)
    x = np.random.default_rng(8).normal(size=(3, 7)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    w = keras.ops.convert_to_numpy(layer.kernel).astype("float64")
    b = keras.ops.convert_to_numpy(layer.bias).astype("float64")
    np.testing.assert_allclose(b, 0.3)  # stored bias_init; effective bias_init * lr_multiplier
    expected = x @ (w * 2.0 * 0.01 / np.sqrt(7)) + b * 0.01
    if activation == "lrelu":
        expected = _lrelu(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_equalized_weights_are_stored_with_unit_variance_over_lr_multiplier():
    from tfgen.layers import EqualizedConv2D, EqualizedDense

    keras.utils.set_random_seed(9)
    dense = EqualizedDense(units=100, lr_multiplier=0.01)
    dense.build((None, 100))
    std = keras.ops.convert_to_numpy(dense.kernel).std()
    assert abs(std - 100.0) / 100.0 < 0.05  # N(0, 1 / lr_multiplier)
    conv = EqualizedConv2D(filters=32, kernel_size=3)
    conv.build((None, 8, 8, 32))
    assert abs(keras.ops.convert_to_numpy(conv.kernel).std() - 1.0) < 0.05


@pytest.mark.parametrize("activation, use_bias", [(None, False), ("lrelu", True)])
def test_equalized_conv_matches_numpy(activation, use_bias):
    from tfgen.layers import EqualizedConv2D

    layer = EqualizedConv2D(filters=4, kernel_size=3, gain=0.5, use_bias=use_bias, activation=activation)
    x = np.random.default_rng(10).normal(size=(2, 6, 6, 3)).astype("float32")
    layer.build(x.shape)
    if use_bias:
        layer.bias.assign(np.arange(4, dtype="float32"))
    out = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel) * 0.5 / np.sqrt(3 * 3 * 3)
    expected = _numpy_conv_same(x, kernel) + (np.arange(4) if use_bias else 0)
    if activation == "lrelu":
        expected = _lrelu(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    assert (layer.bias is None) == (not use_bias)


def test_style_layers_reject_unknown_activation():
    from tfgen.layers import EqualizedConv2D, EqualizedDense

    with pytest.raises(ValueError, match="Received: activation='relu'"):
        EqualizedDense(units=2, activation="relu")
    with pytest.raises(ValueError, match="activation"):
        EqualizedConv2D(filters=2, kernel_size=3, activation="tanh")


def test_adain_matches_numpy():
    from tfgen.layers import AdaIN

    rng = np.random.default_rng(11)
    x = rng.normal(2.0, 3.0, size=(2, 5, 4, 3)).astype("float32")
    style = rng.normal(size=(2, 6)).astype("float32")
    out = keras.ops.convert_to_numpy(AdaIN()([x, style]))
    mean = x.astype("float64").mean(axis=(1, 2), keepdims=True)
    var = x.astype("float64").var(axis=(1, 2), keepdims=True)
    scale, bias = style[:, None, None, :3], style[:, None, None, 3:]
    expected = (1.0 + scale) * (x - mean) / np.sqrt(var + 1e-8) + bias
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # A zero style is plain instance normalisation: zero mean, unit variance per sample and channel.
    normed = keras.ops.convert_to_numpy(AdaIN()([x, np.zeros_like(style)]))
    np.testing.assert_allclose(normed.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(normed.var(axis=(1, 2)), 1.0, atol=1e-4)


def test_pixel_norm_matches_numpy():
    from tfgen.layers import PixelNorm

    x = np.random.default_rng(12).normal(size=(4, 9)).astype("float32") * 5
    out = keras.ops.convert_to_numpy(PixelNorm()(x))
    np.testing.assert_allclose(out, x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + 1e-8), rtol=1e-5)
    np.testing.assert_allclose((out**2).mean(axis=-1), 1.0, rtol=1e-5)


def test_noise_injection_per_channel_scales_one_shared_noise_map():
    layer = NoiseInjection(seed=2, per_channel=True)
    x = np.zeros((2, 4, 4, 3), "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)  # init 0: identity
    assert tuple(layer.weight.shape) == (3,) and layer.weight.path.endswith("/weight")
    layer.weight.assign(np.array([0.0, 1.0, 2.0], "float32"))
    noise = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_array_equal(noise[..., 0], 0.0)
    np.testing.assert_allclose(noise[..., 2], 2.0 * noise[..., 1], rtol=1e-6)
    assert noise[..., 1].std() > 0.5
    # The default (FastGAN's) keeps one scalar weight.
    scalar = NoiseInjection()
    scalar.build((None, 4, 4, 3))
    assert tuple(scalar.weight.shape) == () and scalar.get_config()["per_channel"] is False


@pytest.mark.parametrize(
    "name, kwargs, inputs, shape",
    [
        ("EqualizedDense", {"units": 4, "lr_multiplier": 0.01, "activation": "lrelu"}, (2, 6), (2, 4)),
        ("EqualizedConv2D", {"filters": 4, "kernel_size": 3, "activation": "lrelu"}, (2, 8, 8, 3), (2, 8, 8, 4)),
        ("EqualizedConv2D", {"filters": 2, "kernel_size": 1, "use_bias": False}, (2, 8, 8, 3), (2, 8, 8, 2)),
        ("PixelNorm", {}, (2, 6), (2, 6)),
        ("NoiseInjection", {"per_channel": True, "seed": 4}, (2, 4, 4, 3), (2, 4, 4, 3)),
    ],
)
def test_style_layer_harness(tmp_path, name, kwargs, inputs, shape):
    import tfgen.layers

    cls = getattr(tfgen.layers, name)
    x = np.random.default_rng(13).normal(size=inputs).astype("float32")
    run_layer_test(tmp_path, lambda: cls(**kwargs), x, expected_shape=shape)


def test_adain_harness(tmp_path):
    from tfgen.layers import AdaIN

    rng = np.random.default_rng(14)
    inputs = [rng.normal(size=(2, 4, 4, 3)).astype("float32"), rng.normal(size=(2, 6)).astype("float32")]
    run_layer_test(tmp_path, lambda: AdaIN(), inputs, expected_shape=(2, 4, 4, 3))
