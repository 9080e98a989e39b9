import keras
import numpy as np
import pytest

from tests.harness import run_layer_test
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.families.fastgan.networks import (
    GENERATOR_COMP_SIZES,
    GENERATOR_SLE,
    GENERATOR_WIDTHS,
    FastGANDiscriminator,
    FastGANGenerator,
    build_fastgan,
    crop_image_by_part,
)


def _trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def _official_generator_params(resolution, ngf=64, nz=256):
    """Parameters of the official PyTorch Generator, counted from its layer list
    (models.py): bias-free convs, BatchNorm (2 per channel), NoiseInjection (1)."""
    nfc = {s: int(m * ngf) for s, m in GENERATOR_WIDTHS.items()}
    total = nz * 2 * nfc[4] * 16 + 2 * 2 * nfc[4]  # InitLayer: ConvTranspose + BN
    prev = nfc[4]
    for size in (8, 16, 32, 64, 128, 256, 512, 1024):
        if size > resolution:
            break
        out = nfc[size]
        total += 9 * prev * 2 * out + 2 * 2 * out  # conv3x3 + BN
        if size in GENERATOR_COMP_SIZES:
            total += 9 * out * 2 * out + 2 * 2 * out + 2  # second conv + BN, two noise scalars
        prev = out
    for source, target in GENERATOR_SLE.items():
        if target <= resolution:
            total += 16 * nfc[source] * nfc[target] + nfc[target] ** 2  # SEBlock
    total += nfc[128] * 3 + 9 * nfc[resolution] * 3  # to_128 (1x1), to_big (3x3)
    return total


@pytest.mark.parametrize("resolution", [256, 512, 1024])
def test_generator_parameter_count_matches_official(resolution):
    generator = FastGANGenerator(output_resolution=resolution)
    expected = _official_generator_params(resolution)
    assert _trainable_count(generator) == expected
    if resolution == 256:  # the official model's published count, 29.13 M
        assert abs(expected - 29.13e6) / 29.13e6 < 0.005


@pytest.mark.parametrize("resolution", [256, 512, 1024])
def test_discriminator_parameter_count_matches_official(resolution):
    # Official 11.53 M at 256; the 512/1024 stems are tiny (3->16 / 3->8->16 convs).
    count = _trainable_count(FastGANDiscriminator(input_resolution=resolution))
    assert abs(count - 11.53e6) / 11.53e6 < 0.01


@pytest.mark.parametrize("resolution", [64, 128, 256, 512, 1024])
def test_shapes_at_every_resolution(resolution):
    generator = FastGANGenerator(output_resolution=resolution, ngf=8, latent_dim=16)
    discriminator = FastGANDiscriminator(input_resolution=resolution, ndf=8)
    z = np.random.default_rng(0).normal(size=(2, 16)).astype("float32")
    small_size = min(resolution, 128)
    image = generator(z)
    assert image.shape == (2, resolution, resolution, 3)
    big, small = generator(z, training=True, return_small=True)
    assert big.shape == (2, resolution, resolution, 3)
    assert small.shape == (2, small_size, small_size, 3)
    values = keras.ops.convert_to_numpy(big)
    assert values.min() >= -1.0 and values.max() <= 1.0  # tanh
    logits = discriminator([big, small], training=True)
    assert logits.shape == (2, 50)  # two 5x5 maps
    logits, recs = discriminator([big, small], training=True, part=3)
    assert [r.shape for r in recs] == [(2, small_size, small_size, 3)] * 3


def test_crop_image_by_part_matches_numpy_slicing():
    images = np.arange(2 * 4 * 4 * 1, dtype="float32").reshape(2, 4, 4, 1)
    expected = [images[:, :2, :2], images[:, :2, 2:], images[:, 2:, :2], images[:, 2:, 2:]]
    for part, want in enumerate(expected):
        got = keras.ops.convert_to_numpy(crop_image_by_part(images, part))
        np.testing.assert_array_equal(got, want)
        got = keras.ops.convert_to_numpy(crop_image_by_part(images, keras.ops.convert_to_tensor(part)))
        np.testing.assert_array_equal(got, want)


def test_unsupported_resolution_is_a_clear_error():
    with pytest.raises(ValueError, match="Received: resolution=100"):
        FastGANGenerator(output_resolution=100)
    with pytest.raises(ValueError, match="resolutions"):
        FastGANDiscriminator(input_resolution=96)


def test_models_are_built_on_construction_so_weights_load(tmp_path):
    generator = FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16)
    path = str(tmp_path / "g.weights.h5")
    generator.save_weights(path)
    fresh = FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16)
    fresh.load_weights(path)  # no forward pass needed first
    for a, b in zip(generator.weights, fresh.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_generator_harness_round_trips(tmp_path):
    z = np.random.default_rng(1).normal(size=(2, 16)).astype("float32")
    run_layer_test(
        tmp_path,
        lambda: FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16),
        z,
        expected_shape=(2, 64, 64, 3),
        # Training mode: an untrained generator's inference output is ~0
        # everywhere (fresh BatchNorm statistics), which would prove nothing.
        call_kwargs={"training": True},
    )


def test_discriminator_harness_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    images = [rng.uniform(-1, 1, size=(2, 64, 64, 3)).astype("float32")] * 2
    run_layer_test(
        tmp_path,
        lambda: FastGANDiscriminator(input_resolution=64, ndf=8),
        images,
        expected_shape=(2, 50),
        call_kwargs={"training": True},
    )


def test_generator_is_deterministic_in_inference_given_seed_state():
    generator = FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16)
    for layer in generator._flatten_layers():
        if hasattr(layer, "seed_generator"):
            layer.weight.assign(0.5)  # make noise matter
    z = np.random.default_rng(3).normal(size=(2, 16)).astype("float32")
    a = keras.ops.convert_to_numpy(generator(z))
    b = keras.ops.convert_to_numpy(generator(z))
    assert not np.array_equal(a, b)  # noise injection draws fresh noise each call


def test_build_fastgan_from_config():
    config = FastGANConfig(resolution=64, ngf=8, ndf=8, latent_dim=16)
    generator, discriminator = build_fastgan(config)
    assert generator.output_resolution == 64 and generator.latent_dim == 16
    assert discriminator.input_resolution == 64
    with pytest.raises(ValueError, match="resolution"):
        build_fastgan(FastGANConfig(resolution=48))


def test_load_weights_of_another_resolution_fails_clearly_and_loads_nothing(tmp_path):
    path = str(tmp_path / "g64.weights.h5")
    FastGANGenerator(output_resolution=64, ngf=8, latent_dim=16).save_weights(path)
    target = FastGANGenerator(output_resolution=128, ngf=8, latent_dim=16)
    before = [keras.ops.convert_to_numpy(v).copy() for v in target.weights]
    with pytest.raises(ValueError, match=r"does not fit FastGANGenerator\(output_resolution=128"):
        target.load_weights(path)
    for old, variable in zip(before, target.weights):
        np.testing.assert_array_equal(old, keras.ops.convert_to_numpy(variable))
    with pytest.raises(ValueError, match="FastGANDiscriminator"):
        FastGANDiscriminator(input_resolution=64, ndf=8).load_weights(path)
