import keras
import numpy as np
import pytest

from tests.harness import run_layer_test
from tfgen.families.l2l.networks import GEM, L2LCritic, L2LGenerator

LATENT = 8


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def _generator(resolution=32, channels=1, **kwargs):
    kwargs.setdefault("width", 8)
    kwargs.setdefault("noise_channels", 2)
    return L2LGenerator(resolution=resolution, channels=channels, latent_dim=LATENT, **kwargs)


def _inputs(resolution=32, channels=1, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(batch, resolution, resolution, channels)).astype("float32")
    z = rng.normal(size=(batch, LATENT)).astype("float32")
    return images, z


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _set_gammas(generator, value):
    for gem in generator.gems:
        gem.gamma.assign(value)


# ------------------------------------------------------------------- GEM


@pytest.mark.parametrize("resolution", [32, 64])
def test_gem_keeps_the_shape_and_starts_as_the_identity(resolution):
    shapes = _generator(resolution).decoder_shapes
    rng = np.random.default_rng(0)
    for gem_type in (1, 2, 3):
        for s, c in shapes:
            gem = GEM(gem_type=gem_type, channels=c)
            x = rng.normal(size=(2, s, s, c)).astype("float32")
            out = _np(gem(x))
            assert out.shape == x.shape
            np.testing.assert_array_equal(out, x)  # gamma = 0: exactly the identity
            gem.gamma.assign(1.0)
            assert np.abs(_np(gem(x)) - x).max() > 1e-4


def test_gem_types_grow_and_validate():
    counts = []
    for gem_type in (1, 2, 3):
        gem = GEM(gem_type=gem_type, channels=4)
        gem.build((None, 8, 8, 4))
        counts.append(len(gem.trainable_variables))
    assert counts[0] < counts[1] < counts[2]
    with pytest.raises(ValueError, match="gem_type"):
        GEM(gem_type=4, channels=4)
    with pytest.raises(ValueError, match="channels"):
        GEM(gem_type=1, channels=4).build((None, 8, 8, 5))


def test_gem_harness_round_trips(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    run_layer_test(tmp_path, lambda: GEM(gem_type=3, channels=4), x, expected_shape=(2, 8, 8, 4))


# ------------------------------------------------------------- generator


@pytest.mark.parametrize("gem_type", [1, 2, 3])
def test_generator_shapes_for_every_slot(gem_type):
    images, z = _inputs()
    for layers in ((1,), (2,), (3,), (4,), (5,), (1, 2, 3, 4, 5)):
        generator = _generator(gem_type=gem_type, gem_layers=layers)
        assert generator.gem_slots == layers
        _set_gammas(generator, 0.5)  # the GEM branches take part
        out = _np(generator((images, z), training=True))
        assert out.shape == (2, 32, 32, 1) and out.dtype == np.float32
        assert np.all(np.abs(out) <= 1.0)


@pytest.mark.parametrize("resolution, channels", [(32, 3), (48, 1), (48, 3), (64, 1)])
def test_generator_resolutions_channels_and_decoder_features(resolution, channels):
    generator = _generator(resolution, channels, gem_layers="1,2,3,4,5")
    images, z = _inputs(resolution, channels)
    assert _np(generator((images, z))).shape == (2, resolution, resolution, channels)
    r, w = resolution, 8
    assert generator.decoder_shapes == ((r // 8, 2 * w), (r // 4, 2 * w), (r // 2, w), (r, w), (r, w))
    features = generator.decoder_features(images, z, training=False)
    assert [tuple(f.shape) for f in features] == [(2, s, s, c) for s, c in generator.decoder_shapes]
    assert all(f.dtype == "float32" for f in features)


def test_gem_layers_forms():
    assert _generator(gem_layers="").gem_slots == ()
    assert _generator(gem_layers=()).gem_slots == ()
    assert _generator(gem_layers=[4, 3]).gem_slots == (3, 4)
    assert _generator(gem_layers=" 3, 4").gem_slots == (3, 4)
    with pytest.raises(ValueError, match="gem_layers"):
        _generator(gem_layers="6")
    with pytest.raises(ValueError, match="resolution"):
        _generator(resolution=40)


def test_untrained_gems_and_gems_none_are_the_plain_network():
    images, z = _inputs()
    with_gems = _generator(gem_type=2, gem_layers="2,3,4")
    plain = _generator(gem_type=2)
    assert len(plain.base_variables()) == len(with_gems.base_variables())
    for target, source in zip(plain.base_variables(), with_gems.base_variables()):
        target.assign(source)
    expected = _np(plain((images, z)))
    np.testing.assert_array_equal(_np(with_gems((images, z), gems="all")), expected)  # gamma = 0
    _set_gammas(with_gems, 1.0)
    np.testing.assert_array_equal(_np(with_gems((images, z), gems="none")), expected)
    everything = _np(with_gems((images, z)))
    only_3 = _np(with_gems((images, z), gems=(3,)))
    assert np.abs(everything - expected).max() > 1e-5 and np.abs(only_3 - expected).max() > 1e-5
    assert np.abs(everything - only_3).max() > 1e-5
    # decoder features before block 3 do not see the GEM at block 3.
    plain_f = with_gems.decoder_features(images, z, gems="none")
    gem_f = with_gems.decoder_features(images, z, gems=(3,))
    for i in range(2):
        np.testing.assert_array_equal(_np(gem_f[i]), _np(plain_f[i]))
    assert np.abs(_np(gem_f[2]) - _np(plain_f[2])).max() > 1e-5


def test_bad_gems_argument_raises():
    generator = _generator(gem_layers="3,4")
    images, z = _inputs()
    for bad in ("some", (5,), (3, 9), 3, (3.0,), None):
        with pytest.raises(ValueError, match="gems"):
            generator((images, z), gems=bad)
    with pytest.raises(ValueError, match="gems"):
        generator.gem_variables((1,))
    with pytest.raises(ValueError, match="gems"):
        _generator()((images, z), gems=(1,))  # no slots at all


def test_noise_varies_the_output():
    generator = _generator(gem_layers="3")
    images, z = _inputs()
    same_image = np.repeat(images[:1], 2, axis=0)
    out = _np(generator((same_image, z)))
    assert np.abs(out[0] - out[1]).max() > 1e-4  # different z, same image
    np.testing.assert_array_equal(_np(generator((same_image, z))), out)  # same z, same output
    same_z = np.repeat(z[:1], 2, axis=0)
    twice = _np(generator((same_image, same_z)))
    np.testing.assert_allclose(twice[0], twice[1], atol=1e-6)


def test_gem_and_base_variables_partition_the_trainable_variables():
    generator = _generator(gem_type=3, gem_layers="1,3,5")
    trainable = {id(v) for v in generator.trainable_variables}
    gem = [id(v) for v in generator.gem_variables()]
    base = [id(v) for v in generator.base_variables()]
    assert len(set(gem)) == len(gem) and len(set(base)) == len(base)
    assert not set(gem) & set(base)
    assert set(gem) | set(base) == trainable
    assert len(gem) == 3 * 7  # per type-3 GEM: gamma and three (kernel, bias) pairs
    # Slot order and subsets.
    per_slot = [generator.gem_variables((k,)) for k in (1, 3, 5)]
    assert [id(v) for group in per_slot for v in group] == gem
    assert [id(v) for v in generator.gem_variables((5, 1))] == [id(v) for v in per_slot[0] + per_slot[2]]
    assert [id(v) for v in generator.gem_variables(3)] == [id(v) for v in per_slot[1]]
    assert _generator().gem_variables() == []


# ----------------------------------------------------------- conditioning


def test_conditioning_round_trip_and_sampling():
    n = 3
    generator = _generator(channels=3, gem_layers="4", conditioning_images=n)
    assert generator.conditioning_count == n
    stored = np.random.default_rng(0).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    generator.set_conditioning(stored)
    np.testing.assert_allclose(_np(generator.conditioning), stored / 127.5 - 1.0, atol=1e-6)
    floats = np.random.default_rng(1).uniform(-1, 1, size=(n, 32, 32, 3)).astype("float32")
    generator.set_conditioning(floats)
    np.testing.assert_array_equal(_np(generator.conditioning), floats)

    z = np.random.default_rng(2).normal(size=(4, LATENT)).astype("float32")
    out = _np(generator(z))
    assert out.shape == (4, 32, 32, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(_np(generator(z)), out)  # deterministic in z
    index = _np(generator.conditioning_index(z))
    np.testing.assert_array_equal(out, _np(generator((floats[index], z))))

    many = np.random.default_rng(3).normal(size=(3000, LATENT)).astype("float32")
    counts = np.bincount(_np(generator.conditioning_index(many)), minlength=n)
    assert len(counts) == n and counts.min() > 800  # every image, about uniformly


def test_conditioning_errors():
    generator = _generator(conditioning_images=2)
    with pytest.raises(ValueError, match="conditioning_images=2"):
        generator.set_conditioning(np.zeros((3, 32, 32, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        generator.set_conditioning(np.full((2, 32, 32, 1), 255.0, dtype="float32"))
    _, z = _inputs()
    with pytest.raises(ValueError, match=r"conditioning_images=0.*\(images, z\)"):
        _generator()(z)
    with pytest.raises(ValueError, match="conditioning_images=0"):
        _generator().set_conditioning(np.zeros((1, 32, 32, 1), dtype=np.uint8))


def test_weights_round_trip_with_conditioning(tmp_path):
    def make():
        return _generator(channels=3, gem_type=2, gem_layers="3,4", conditioning_images=2)

    generator = make()
    _set_gammas(generator, 0.3)
    generator.set_conditioning(np.random.default_rng(0).integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8))
    images, z = _inputs(channels=3)
    generator((images, z), training=True)  # moves the batch-norm statistics
    path = str(tmp_path / "g.weights.h5")
    generator.save_weights(path)
    fresh = make()
    fresh.load_weights(path)
    np.testing.assert_array_equal(_np(fresh(z)), _np(generator(z)))
    np.testing.assert_array_equal(_np(fresh((images, z))), _np(generator((images, z))))
    with pytest.raises(ValueError):
        _generator(channels=3, gem_type=2, gem_layers="3").load_weights(path)  # another network


def test_generator_harness_round_trips(tmp_path):
    images, z = _inputs(channels=3)
    run_layer_test(
        tmp_path,
        lambda: _generator(channels=3, gem_type=3, gem_layers=(2, 5)),
        (images, z),
        expected_shape=(2, 32, 32, 3),
    )


# ---------------------------------------------------------------- critic


@pytest.mark.parametrize("resolution, channels", [(32, 1), (64, 3), (96, 3)])
def test_critic_shapes(resolution, channels):
    critic = L2LCritic(resolution=resolution, channels=channels, width=8)
    pairs = np.random.default_rng(0).uniform(-1, 1, size=(2, resolution, resolution, 2 * channels))
    scores = _np(critic(pairs.astype("float32")))
    assert scores.shape == (2, 1) and scores.dtype == np.float32 and np.all(np.isfinite(scores))
    with pytest.raises(ValueError, match="channels"):
        critic(pairs[..., :channels].astype("float32"))


def test_critic_is_per_example_and_round_trips(tmp_path):
    pairs = np.random.default_rng(1).uniform(-1, 1, size=(3, 32, 32, 2)).astype("float32")
    critic = L2LCritic(resolution=32, channels=1, width=8)
    np.testing.assert_allclose(_np(critic(pairs[:1])), _np(critic(pairs))[:1], atol=1e-5)
    run_layer_test(tmp_path, lambda: L2LCritic(resolution=32, channels=1, width=8), pairs, expected_shape=(3, 1))
