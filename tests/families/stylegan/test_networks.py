import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import norm

import tfgen
from tests.harness import run_layer_test
from tfgen.families.stylegan.networks import (
    DiscriminatorBlock,
    MappingNetwork,
    StyleAffine,
    StyleDiscriminator,
    StyleGenerator,
    SynthesisLayer,
    SynthesisNetwork,
    channels_by_resolution,
    minibatch_stddev,
    upsample_bilinear,
)
from tfgen.sampling import set_noise_seed

# Tiny networks: 8 channels at 4..32 px, then 4 at 64, 2 at 128.
TINY = dict(latent_dim=8, w_dim=8, mapping_layers=2, channel_base=256, channel_max=8)
RESOLUTIONS = [32, 64, 128, 256, 512, 1024]


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _z(batch, dim=8, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype("float32")


def _with_noise(generator, value=0.3):
    """Give every noise layer a non-zero scale, so that the noise matters."""
    for layer in generator.synthesis.style_layers:
        layer.noise.weight.assign(np.full(layer.noise.weight.shape, value, "float32"))
    return generator


def _count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


# ------------------------------------------------------------ architecture


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_layers_and_shapes_at_every_resolution(resolution):
    tiny = dict(TINY, channel_base=4 * resolution, channel_max=4)  # 4 channels everywhere
    generator = StyleGenerator(resolution=resolution, channels=3, **tiny)
    num_ws = 2 * int(math.log2(resolution)) - 2
    synthesis = generator.synthesis
    assert generator.num_ws == synthesis.num_ws == num_ws
    assert len(synthesis.style_layers) == len(synthesis.affine_layers) == num_ws
    assert [a.name for a in synthesis.affine_layers] == [f"style_affine_{k:02d}" for k in range(num_ws)]
    assert all(isinstance(a, StyleAffine) for a in synthesis.affine_layers)
    assert synthesis.layer_resolutions == [4 * 2 ** (k // 2) for k in range(num_ws)]
    # The constant layer has no conv; every later even layer upsamples.
    assert [layer.use_conv for layer in synthesis.style_layers] == [False] + [True] * (num_ws - 1)
    assert [layer.upsample for layer in synthesis.style_layers] == [k > 0 and k % 2 == 0 for k in range(num_ws)]

    z = _z(2)
    assert generator.mapping(z).shape == (2, 8)
    ws = generator.map(z)
    assert ws.shape == (2, num_ws, 8)
    images = generator.synthesize(ws)
    assert images.shape == (2, resolution, resolution, 3) and images.dtype == "float32"
    assert generator(z).shape == (2, resolution, resolution, 3)
    discriminator = StyleDiscriminator(resolution=resolution, channels=3, channel_base=4 * resolution, channel_max=4)
    assert len(discriminator.blocks) == int(math.log2(resolution)) - 2  # R .. 8
    logits = discriminator(images)
    assert logits.shape == (2, 1) and logits.dtype == "float32"


def test_channels_follow_channel_base_and_max():
    assert channels_by_resolution(128, 256, 8) == {4: 8, 8: 8, 16: 8, 32: 8, 64: 4, 128: 2}
    assert StyleGenerator(resolution=64, **TINY).synthesis.widths[64] == 4
    with pytest.raises(ValueError, match="channel_base >= 512"):
        StyleGenerator(resolution=512, **TINY)
    with pytest.raises(ValueError, match="Received: resolution=48"):
        StyleGenerator(resolution=48, **TINY)
    with pytest.raises(ValueError, match="channels"):
        StyleDiscriminator(resolution=32, channels=2, channel_base=256, channel_max=8)


def test_parameter_counts():
    # Mapping: 8 dense layers 512 -> 512 with bias.
    assert _count(MappingNetwork(latent_dim=512, w_dim=512, num_layers=8)) == 8 * (512 * 512 + 512)

    # Synthesis, counted from the architecture: constant, per style layer a
    # 3x3 conv without bias (none in layer 0), noise scales, bias, and the
    # affine map w -> 2C; toRGB 1x1 with bias.
    generator = StyleGenerator(resolution=64, channels=3, **TINY)
    w = {4: 8, 8: 8, 16: 8, 32: 8, 64: 4}
    expected = 16 * w[4]
    previous = w[4]
    for k in range(10):
        c = w[4 * 2 ** (k // 2)]
        expected += (9 * previous * c if k else 0) + c + c + (8 * 2 * c + 2 * c)
        previous = c
    expected += w[64] * 3 + 3
    assert _count(generator.synthesis) == expected
    assert _count(generator) == expected + 2 * (8 * 8 + 8)
    # Non-trainable: w_avg (and the seed states, which are not weights).
    assert [v.path.split("/")[-1] for v in generator.non_trainable_weights] == ["w_avg"]

    # Discriminator: fromRGB, per block conv0 (C_r -> C_r), conv1 (C_r -> C_r/2), skip 1x1,
    # then conv3x3 (C_4 + 1 -> C_4), dense (16 C_4 -> C_4), dense (C_4 -> 1).
    discriminator = StyleDiscriminator(resolution=64, channels=3, channel_base=256, channel_max=8)
    expected = 3 * w[64] + w[64]
    for r in (64, 32, 16, 8):
        c, out = w[r], w[r // 2]
        expected += (9 * c * c + c) + (9 * c * out + out) + c * out
    expected += (9 * (w[4] + 1) * w[4] + w[4]) + (16 * w[4] * w[4] + w[4]) + (w[4] + 1)
    assert _count(discriminator) == expected


def test_upsample_bilinear_matches_tf_image_resize():
    x = np.random.default_rng(1).normal(size=(2, 5, 3, 2)).astype("float32")
    expected = tf.image.resize(x, (10, 6), method="bilinear").numpy()
    np.testing.assert_allclose(_np(upsample_bilinear(x)), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- latents


def test_map_truncation_matches_numpy():
    generator = StyleGenerator(resolution=32, **TINY)
    w_avg = np.random.default_rng(2).normal(size=8).astype("float32")
    generator.w_avg.assign(w_avg)
    z = _z(3)
    w = _np(generator.mapping(z))
    np.testing.assert_allclose(_np(generator.map(z)), np.repeat(w[:, None], 8, axis=1), rtol=1e-6)
    ws = _np(generator.map(z, truncation_psi=0.5, truncation_cutoff=3))
    truncated = w_avg + 0.5 * (w - w_avg)
    np.testing.assert_allclose(ws[:, :3], np.repeat(truncated[:, None], 3, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ws[:, 3:], np.repeat(w[:, None], 5, axis=1), rtol=1e-6)
    # Defaults come from the (settable) attributes; cutoff 0 is every layer.
    generator.truncation_psi = 0.0
    np.testing.assert_allclose(_np(generator.broadcast_w(w)), np.broadcast_to(w_avg, (3, 8, 8)), atol=1e-6)
    with pytest.raises(ValueError, match="truncation_cutoff"):
        generator.map(z, truncation_cutoff=-1)


def test_truncation_psi_zero_gives_the_average_w_image():
    generator = _with_noise(StyleGenerator(resolution=32, **TINY, truncation_psi=0.0))
    w_avg = np.random.default_rng(3).normal(size=8).astype("float32")
    generator.w_avg.assign(w_avg)
    images = []
    for z in (_z(3, seed=4), _z(3, seed=5)):
        set_noise_seed(generator, 7)
        images.append(_np(generator(z)))
    set_noise_seed(generator, 7)
    average = _np(generator.synthesize(np.broadcast_to(w_avg, (3, generator.num_ws, 8)).copy()))
    np.testing.assert_allclose(images[0], average, atol=1e-5)
    np.testing.assert_allclose(images[1], average, atol=1e-5)
    generator.truncation_psi = 1.0
    set_noise_seed(generator, 7)
    assert np.abs(_np(generator(_z(3, seed=4))) - average).max() > 1e-2


def test_style_mixing_takes_w2_after_the_crossover():
    generator = StyleGenerator(resolution=32, **TINY, style_mixing=1.0)
    z = _z(64)
    set_noise_seed(generator, 11)
    ws = _np(generator.mixed_ws(z, training=True))
    # The second z is the first draw of the model's SeedGenerator.
    set_noise_seed(generator, 11)
    z2 = keras.random.normal(z.shape, seed=generator.seed_generator)
    w1, w2 = _np(generator.mapping(z)), _np(generator.mapping(z2))
    crossovers = []
    for b in range(len(z)):
        same = np.all(np.isclose(ws[b], w1[b], rtol=1e-6, atol=1e-6), axis=-1)  # [num_ws]
        crossover = int(np.argmin(same))
        assert 1 <= crossover < generator.num_ws and same[:crossover].all()
        np.testing.assert_allclose(ws[b, crossover:], np.broadcast_to(w2[b], ws[b, crossover:].shape), rtol=1e-5)
        crossovers.append(crossover)
    assert set(crossovers) == set(range(1, generator.num_ws))  # uniform over [1, num_ws)

    # No mixing outside training, or with style_mixing=0.
    np.testing.assert_allclose(_np(generator.mixed_ws(z, training=False)), np.repeat(w1[:, None], 8, 1), rtol=1e-6)
    unmixed = StyleGenerator(resolution=32, **TINY, style_mixing=0.0)
    ws = _np(unmixed.mixed_ws(z, training=True))
    np.testing.assert_array_equal(ws, np.repeat(ws[:, :1], 8, axis=1))


def test_style_mixing_probability_is_per_image():
    generator = StyleGenerator(resolution=32, **TINY, style_mixing=0.5)
    ws = _np(generator.mixed_ws(_z(400), training=True))
    mixed = np.any(np.abs(ws - ws[:, :1]).max(axis=-1) > 0, axis=-1)
    assert 0.4 < mixed.mean() < 0.6


def test_changing_later_styles_leaves_earlier_layers_unchanged():
    generator = _with_noise(StyleGenerator(resolution=32, **TINY))
    rng = np.random.default_rng(6)
    ws1 = rng.normal(size=(2, 8, 8)).astype("float32")
    ws2 = ws1.copy()
    ws2[:, 5:] = rng.normal(size=(2, 3, 8))
    set_noise_seed(generator, 1)
    first = [_np(f) for f in generator.synthesis.style_layer_outputs(ws1)]
    set_noise_seed(generator, 1)
    second = [_np(f) for f in generator.synthesis.style_layer_outputs(ws2)]
    for k in range(5):
        np.testing.assert_array_equal(first[k], second[k])
    for k in range(5, 8):
        assert np.abs(first[k] - second[k]).max() > 1e-3


def test_update_w_avg_matches_numpy():
    generator = StyleGenerator(resolution=32, **TINY, w_avg_beta=0.9)
    rng = np.random.default_rng(7)
    w_avg = rng.normal(size=8).astype("float32")
    w = rng.normal(size=(5, 8)).astype("float32")
    generator.w_avg.assign(w_avg)
    generator.update_w_avg(w)
    expected = w.mean(0) + 0.9 * (w_avg - w.mean(0))
    np.testing.assert_allclose(_np(generator.w_avg), expected, rtol=1e-5, atol=1e-6)
    tf.function(generator.update_w_avg)(tf.constant(w))  # also inside a graph
    np.testing.assert_allclose(_np(generator.w_avg), w.mean(0) + 0.9 * (expected - w.mean(0)), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------- fitted latents


def _fitted_generator(k=5, space="z", sampling="interpolate"):
    generator = StyleGenerator(resolution=32, **TINY, fitted_latents=k, fitted_space=space, sampling=sampling)
    generator.fitted.assign(np.random.default_rng(8).normal(size=tuple(generator.fitted.shape)).astype("float32"))
    return generator


def test_fitted_pairs_are_a_uniform_deterministic_function_of_z():
    generator = _fitted_generator(k=5)
    z = _z(5000, seed=9)
    i, j, t = (_np(a) for a in generator.fitted_pairs(z))
    assert i.dtype == np.int32 and j.dtype == np.int32 and t.dtype == np.float32
    assert np.all((0 <= i) & (i < 5) & (0 <= j) & (j < 5)) and np.all(j != i)
    assert np.all((0 < t) & (t < 1)) and abs(t.mean() - 0.5) < 0.02
    for values in (i, j):
        counts = np.bincount(values, minlength=5)
        assert np.all(np.abs(counts - 1000) < 150), counts
    # Independent reference: the normal CDF of z's first three entries.
    u = norm.cdf(z[:, :3].astype("float64"))
    ref_i = np.minimum(np.floor(u[:, 0] * 5), 4).astype(int)
    ref_j = (ref_i + 1 + np.minimum(np.floor(u[:, 1] * 4), 3).astype(int)) % 5
    safe = (np.abs(u[:, 0] * 5 - np.round(u[:, 0] * 5)) > 1e-5) & (np.abs(u[:, 1] * 4 - np.round(u[:, 1] * 4)) > 1e-5)
    np.testing.assert_array_equal(i[safe], ref_i[safe])
    np.testing.assert_array_equal(j[safe], ref_j[safe])
    np.testing.assert_allclose(t, u[:, 2], atol=1e-6)
    again = _np(generator.fitted_pairs(z)[0])
    np.testing.assert_array_equal(again, i)


def test_interpolated_latents_match_numpy():
    generator = _fitted_generator(k=3)
    fitted = _np(generator.fitted)
    z = _z(6, seed=10)
    i, j, t = (_np(a) for a in generator.fitted_pairs(z))
    expected = (1 - t[:, None]) * fitted[i] + t[:, None] * fitted[j]
    np.testing.assert_allclose(_np(generator.interpolated_latents(z)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("space", ["z", "w"])
def test_interpolate_sampling_at_t0_reproduces_the_fitted_latent_image(space):
    generator = _with_noise(_fitted_generator(k=3, space=space))
    assert generator.fitted.shape == (3, 8) and not generator.fitted.trainable
    z = _z(4, seed=11)
    z[:, 2] = -40.0  # t = Phi(-40) = 0: the first endpoint
    i, _, t = (_np(a) for a in generator.fitted_pairs(z))
    np.testing.assert_array_equal(t, 0.0)
    latents = _np(generator.fitted)[i]
    set_noise_seed(generator, 3)
    images = _np(generator(z))
    set_noise_seed(generator, 3)
    ws = generator.map(latents) if space == "z" else generator.broadcast_w(latents)
    np.testing.assert_allclose(images, _np(generator.synthesize(ws)), atol=1e-5)
    # Random sampling ignores the fitted latents.
    generator.sampling = "random"
    set_noise_seed(generator, 3)
    assert np.abs(_np(generator(z)) - images).max() > 1e-3


def test_fitted_and_sampling_arguments_are_checked():
    with pytest.raises(ValueError, match="fitted_latents=0"):
        StyleGenerator(resolution=32, **TINY, sampling="interpolate")
    with pytest.raises(ValueError, match="sampling must be one of"):
        StyleGenerator(resolution=32, **TINY, sampling="walk")
    with pytest.raises(ValueError, match="fitted_space"):
        StyleGenerator(resolution=32, **TINY, fitted_latents=2, fitted_space="x")
    with pytest.raises(ValueError, match="latent_dim must be >= 3"):
        StyleGenerator(resolution=32, **dict(TINY, latent_dim=2), fitted_latents=2)
    with pytest.raises(ValueError, match="style_mixing"):
        StyleGenerator(resolution=32, **TINY, style_mixing=1.5)
    generator = StyleGenerator(resolution=32, **TINY)
    assert generator.fitted is None
    with pytest.raises(ValueError, match="fitted_latents >= 2"):
        generator.fitted_pairs(_z(2))
    generator.sampling = "interpolate"  # a plain attribute, checked when sampling
    with pytest.raises(ValueError, match="needs at least two"):
        generator(_z(2))


# ------------------------------------------------------- saving and loading


def test_get_config_round_trip():
    generator = StyleGenerator(
        resolution=64, channels=3, **TINY, style_mixing=0.5, w_avg_beta=0.99, truncation_psi=0.7,
        truncation_cutoff=4, fitted_latents=3, fitted_space="w", sampling="interpolate", seed=5,
    )  # fmt: skip
    config = generator.get_config()
    for key, value in dict(TINY, resolution=64, channels=3, truncation_psi=0.7, fitted_space="w", seed=5).items():
        assert config[key] == value
    clone = StyleGenerator.from_config(config)
    assert clone.get_config() == config
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in generator.weights]
    discriminator = StyleDiscriminator(resolution=64, channels=3, channel_base=256, channel_max=8, mbstd_group_size=2)
    config = discriminator.get_config()
    assert StyleDiscriminator.from_config(config).get_config() == config


def test_weights_round_trip_gives_identical_images(tmp_path):
    generator = _with_noise(_fitted_generator(k=3))
    generator.w_avg.assign(np.random.default_rng(12).normal(size=8).astype("float32"))
    generator.truncation_psi = 0.7
    path = str(tmp_path / "g.weights.h5")
    generator.save_weights(path)
    fresh = StyleGenerator.from_config(generator.get_config())
    fresh.load_weights(path)
    z = _z(3, seed=13)
    images = {}
    for name, model in (("saved", generator), ("loaded", fresh)):
        for sampling in ("interpolate", "random"):
            model.sampling = sampling
            set_noise_seed(model, 4)
            images[name, sampling] = _np(model(z))
    for sampling in ("interpolate", "random"):
        np.testing.assert_array_equal(images["saved", sampling], images["loaded", sampling])
    assert np.abs(images["saved", "interpolate"] - images["saved", "random"]).max() > 1e-3
    # tfgen.generate is reproducible and leaves the model as it was.
    first = tfgen.generate(fresh, 5, batch_size=2, seed=3)
    assert first.shape == (5, 32, 32, 1) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, tfgen.generate(fresh, 5, batch_size=2, seed=3))


def test_wrong_weights_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / "g32.weights.h5")
    StyleGenerator(resolution=32, **TINY).save_weights(path)
    with pytest.raises(ValueError, match=r"does not fit StyleGenerator\(resolution=64"):
        StyleGenerator(resolution=64, **TINY).load_weights(path)
    with pytest.raises(ValueError, match="does not fit StyleGenerator"):
        StyleGenerator(resolution=32, **TINY, fitted_latents=2).load_weights(path)  # one more variable
    with pytest.raises(ValueError, match="StyleDiscriminator"):
        StyleDiscriminator(resolution=32, channel_base=256, channel_max=8).load_weights(path)


@pytest.mark.parametrize(
    "make, inputs, shape",
    [
        (lambda: StyleGenerator(resolution=32, **TINY, seed=1), (2, 8), (2, 32, 32, 1)),
        (lambda: MappingNetwork(latent_dim=8, w_dim=6, num_layers=2), (2, 8), (2, 6)),
        (lambda: StyleAffine(channels=3), (2, 8), (2, 6)),
        (lambda: StyleDiscriminator(resolution=32, channels=1, channel_base=256, channel_max=8), (2, 32, 32, 1), (2, 1)),
        (lambda: DiscriminatorBlock(in_filters=3, filters=5), (2, 8, 8, 3), (2, 4, 4, 5)),
        (
            lambda: SynthesisNetwork(resolution=32, channels=3, w_dim=8, channel_base=256, channel_max=8, seed=2),
            (2, 8, 8),
            (2, 32, 32, 3),
        ),
    ],
)
def test_harness_round_trips(tmp_path, make, inputs, shape):
    x = np.random.default_rng(14).normal(size=inputs).astype("float32")
    run_layer_test(tmp_path, make, x, expected_shape=shape)


def test_synthesis_layer_harness(tmp_path):
    rng = np.random.default_rng(15)
    inputs = [rng.normal(size=(2, 4, 4, 3)).astype("float32"), rng.normal(size=(2, 10)).astype("float32")]
    run_layer_test(tmp_path, lambda: SynthesisLayer(filters=5, upsample=True, seed=1), inputs, expected_shape=(2, 8, 8, 5))


def test_mixed_bfloat16_training_call_is_finite():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        generator = _with_noise(StyleGenerator(resolution=32, **TINY, style_mixing=1.0))
        discriminator = StyleDiscriminator(resolution=32, channel_base=256, channel_max=8)
        images = generator(_z(3), training=True)
        logits = discriminator(images, training=True)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert images.dtype == "float32" and logits.dtype == "float32" and generator.w_avg.dtype == "float32"
    assert np.all(np.isfinite(_np(images))) and np.all(np.isfinite(_np(logits)))


# ----------------------------------------------------------------- training


def test_training_step_in_tf_function_gives_gradients_and_updates_w_avg():
    generator = _with_noise(StyleGenerator(resolution=32, **TINY, style_mixing=0.9, w_avg_beta=0.5))
    discriminator = StyleDiscriminator(resolution=32, channel_base=256, channel_max=8)
    affine_variables = [v for layer in generator.synthesis.affine_layers for v in layer.trainable_variables]
    assert len(affine_variables) == 2 * generator.num_ws

    @tf.function
    def step(z):
        with tf.GradientTape() as tape:
            ws = generator.mixed_ws(z, training=True)
            generator.update_w_avg(ws[:, 0])
            images = generator.synthesize(ws, training=True)
            loss = tf.reduce_mean(tf.nn.softplus(-discriminator(images, training=True)))
        return loss, tape.gradient(loss, generator.trainable_variables + affine_variables)

    z = _z(4)
    w = _np(generator.mapping(z))
    loss, grads = step(tf.constant(z))
    assert np.isfinite(float(loss))
    for variable, grad in zip(generator.trainable_variables + affine_variables, grads):
        assert grad is not None, variable.path
        assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).max() > 0, variable.path
    np.testing.assert_allclose(_np(generator.w_avg), 0.5 * w.mean(0), rtol=1e-5, atol=1e-6)
    step(tf.constant(_z(4, seed=1)))  # the traced step runs again


# ------------------------------------------------------------ discriminator


def _numpy_minibatch_stddev(x, group):
    b, h, w, c = x.shape
    y = x.reshape(group, b // group, h, w, c).astype("float64")
    std = np.sqrt(y.var(axis=0) + 1e-8).mean(axis=(1, 2, 3))  # [B / G]
    column = np.tile(std, group)[:, None, None, None] * np.ones((b, h, w, 1))
    return np.concatenate([x, column], axis=-1)


@pytest.mark.parametrize("batch, group", [(8, 4), (4, 4), (6, 3), (3, 3), (5, 1), (1, 1)])
def test_minibatch_stddev_matches_numpy(batch, group):
    x = np.random.default_rng(batch).normal(size=(batch, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(_np(minibatch_stddev(x, 4)), _numpy_minibatch_stddev(x, group), rtol=1e-5, atol=1e-6)
    # Unknown batch size inside a graph: the group is chosen at run time.
    graph = tf.function(lambda t: minibatch_stddev(t, 4), input_signature=[tf.TensorSpec([None, 4, 4, 3])])
    np.testing.assert_allclose(graph(x).numpy(), _numpy_minibatch_stddev(x, group), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch", [1, 3, 4, 8])
def test_discriminator_logits_for_any_batch_size(batch):
    discriminator = StyleDiscriminator(resolution=32, channels=3, channel_base=256, channel_max=8)
    images = np.random.default_rng(batch).uniform(-1, 1, size=(batch, 32, 32, 3)).astype("float32")
    logits = _np(discriminator(images))
    assert logits.shape == (batch, 1) and np.all(np.isfinite(logits))
