"""DAGAN's networks: shapes, round-trips, that G(x, z) depends on z (only
through its noise maps) and on x, that G(z) turns the held image z picks,
and the same outputs under the JAX backend."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from scipy.stats import chisquare

from tests.harness import run_layer_test
from tfgen.families.dagan.networks import (
    CriticBlock,
    DAGANCritic,
    DAGANGenerator,
    DAGANUNet,
    GeneratorBlock,
    level_channels,
    noise_channels_at,
    num_levels,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def images(count, seed=0, side=32, channels=1):
    return np.random.default_rng(seed).uniform(-1, 1, (count, side, side, channels)).astype(np.float32)


def noise(count, size, seed=0):
    return np.random.default_rng(seed).standard_normal((count, size)).astype(np.float32)


def folders(tmp_path, *names):
    for name in names:
        (tmp_path / name).mkdir()


def test_sizes_follow_the_levels():
    assert num_levels(32) == 3 and num_levels(64) == 4  # down to 4x4
    assert [level_channels(8, i) for i in range(4)] == [8, 16, 32, 32]  # doubling up to 4 x width
    assert [noise_channels_at(8, j) for j in range(4)] == [8, 4, 2, 1]
    unet = DAGANUNet(resolution=32, width=4, noise_dim=6, noise_channels=8)
    features = unet.encode(images(2))
    assert [tuple(f.shape) for f in features] == [(2, 16, 16, 4), (2, 8, 8, 8), (2, 4, 4, 16)]
    # z's maps: 4x4x8 at the bottleneck, 8x8x4, 16x16x2 (the official 8, 4, 2 channels).
    assert [dense.units for dense in unet.noise] == [4 * 4 * 8, 8 * 8 * 4, 16 * 16 * 2]
    big = DAGANUNet(resolution=64, channels=3, width=4, noise_dim=6)
    assert [tuple(f.shape[1:]) for f in big.encode(images(1, side=64, channels=3))] == [
        (32, 32, 4), (16, 16, 8), (8, 8, 16), (4, 4, 16)]  # fmt: skip
    assert len(big.noise) == 3  # z enters the first three decoder levels only


def test_layers_pass_the_harness(tmp_path):
    folders(tmp_path, "g", "gs", "c", "u")
    features = np.random.default_rng(1).standard_normal((2, 8, 8, 6)).astype(np.float32)
    run_layer_test(tmp_path / "g", lambda: GeneratorBlock(filters=6), features, expected_shape=(2, 8, 8, 6))
    run_layer_test(tmp_path / "gs", lambda: GeneratorBlock(filters=10, strides=2), features,
                   expected_shape=(2, 4, 4, 10))  # fmt: skip
    run_layer_test(tmp_path / "c", lambda: CriticBlock(filters=4), features, expected_shape=(2, 4, 4, 4))
    out = run_layer_test(tmp_path / "u", lambda: DAGANUNet(resolution=32, width=4, noise_dim=6),
                         (images(2), noise(2, 6)), expected_shape=(2, 32, 32, 1))  # fmt: skip
    assert np.abs(out).max() <= 1.0


def test_models_pass_the_harness(tmp_path):
    folders(tmp_path, "g", "c")
    make = lambda: DAGANGenerator(resolution=32, width=4, noise_dim=6, held_shots=3)  # noqa: E731
    assert make().latent_dim == 7  # the shot picker, then the noise
    run_layer_test(tmp_path / "g", make, noise(3, 7), expected_shape=(3, 32, 32, 1))
    pairs = images(3, channels=2)
    run_layer_test(tmp_path / "c", lambda: DAGANCritic(resolution=32, width=4), pairs, expected_shape=(3,))


def test_the_output_depends_on_z_through_the_noise_maps_and_on_x():
    unet = DAGANUNet(resolution=32, width=4, noise_dim=6)
    x = images(2)
    z = noise(2, 6)
    base = np.asarray(unet((x, z)))
    assert np.abs(np.asarray(unet((x, noise(2, 6, seed=1)))) - base).max() > 1e-3  # another z, another image
    assert np.abs(np.asarray(unet((images(2, seed=5), z))) - base).max() > 1e-3  # another x, another image
    # Each noise level matters on its own ...
    for j, dense in enumerate(unet.noise):
        kept = [w.copy() for w in dense.get_weights()]
        dense.set_weights([np.zeros_like(w) for w in kept])
        assert np.abs(np.asarray(unet((x, z))) - base).max() > 1e-4, j
        dense.set_weights(kept)
    # ... and they are z's only way in: without them z changes nothing.
    for dense in unet.noise:
        dense.set_weights([np.zeros_like(w) for w in dense.get_weights()])
    np.testing.assert_array_equal(np.asarray(unet((x, z))), np.asarray(unet((x, noise(2, 6, seed=1)))))


def test_the_generator_turns_the_held_image_z_picks():
    generator = DAGANGenerator(resolution=32, width=4, noise_dim=6, held_shots=4)
    shots = images(4, seed=3)
    generator.set_shots(shots)
    z = noise(2000, 7, seed=4)
    index = np.asarray(generator.shot_index(z))
    # floor(Phi(z0) * 4): the quartiles of the normal are -0.674, 0, 0.674.
    np.testing.assert_array_equal(index, np.searchsorted([-0.6744898, 0.0, 0.6744898], z[:, 0]))
    assert chisquare(np.bincount(index, minlength=4)).pvalue > 1e-3  # uniform over the shots
    made = np.asarray(generator(z[:6]))
    np.testing.assert_allclose(made, np.asarray(generator.transform(shots[index[:6]], z[:6, 1:])), atol=1e-6)
    np.testing.assert_array_equal(made, np.asarray(generator(z[:6])))  # a fixed z gives it again
    with pytest.raises(ValueError, match="holds 4 images"):
        generator.set_shots(shots[:3])


def test_inputs_and_sizes_are_checked():
    with pytest.raises(ValueError, match="resolutions"):
        DAGANUNet(resolution=48, width=4)
    unet = DAGANUNet(resolution=32, width=4, noise_dim=6)
    with pytest.raises(ValueError, match=r"z \[B, 6\]"):
        unet((images(2), noise(2, 5)))
    with pytest.raises(ValueError, match="2 channels"):
        DAGANCritic(resolution=32, width=4)(images(2))


def warp_unet(**kwargs):
    return DAGANUNet(resolution=32, width=4, noise_dim=6, output_mode="warp", **kwargs)


def set_constant_field(unet, value_y, value_x):
    """The last conv's kernel zeroed and its bias (value_y, value_x): tanh of it everywhere."""
    kernel, _ = unet.to_image.get_weights()
    unet.to_image.set_weights([np.zeros_like(kernel), np.array([value_y, value_x], np.float32)])


def test_warp_mode_starts_at_the_identity_and_shifts_along_its_field():
    unet = warp_unet()
    x, z = images(4), noise(4, 6)
    np.testing.assert_allclose(np.asarray(unet((x, z))), x, atol=1e-6)  # zero field: the shot itself
    # A constant field of tanh(b) * max_shift * 32 pixels: 2 down, 3 left (border repeated).
    set_constant_field(unet, np.arctanh(2 / 8), np.arctanh(-3 / 8))
    rows = np.minimum(np.arange(32) + 2, 31)
    cols = np.maximum(np.arange(32) - 3, 0)
    np.testing.assert_allclose(np.asarray(unet((x, z))), x[:, rows][:, :, cols], atol=1e-4)
    # The field is bounded: a huge bias moves by max_shift x side pixels and no more.
    set_constant_field(unet, 50.0, 0.0)
    rows = np.minimum(np.arange(32) + 8, 31)
    np.testing.assert_allclose(np.asarray(unet((x, z))), x[:, rows], atol=1e-4)


def test_warp_mode_resamples_x_on_a_field_averaged_over_the_coarse_grid():
    unet = warp_unet(flow_grid=4)
    x, z = images(4, seed=2), noise(4, 6, seed=2)
    kernel, bias = unet.to_image.get_weights()
    unet.to_image.set_weights([np.random.default_rng(3).normal(0, 0.3, kernel.shape).astype(np.float32), bias])
    made = np.asarray(unet((x, z)))
    assert np.abs(made - x).max() > 0.1  # it moved
    # Resampling never makes intensities outside the shot's range.
    assert made.min() >= x.min() - 1e-5 and made.max() <= x.max() + 1e-5
    # Another z, another deformation of the same shot.
    assert np.abs(np.asarray(unet((x, noise(4, 6, seed=9)))) - made).max() > 1e-3
    # The displacement depends on the field's 8x8-pixel block means only.
    field = np.random.default_rng(4).uniform(-1, 1, (2, 32, 32, 2)).astype(np.float32)
    means = field.reshape(2, 4, 8, 4, 8, 2).mean(axis=(2, 4))
    blocky = np.repeat(np.repeat(means, 8, axis=1), 8, axis=2)
    np.testing.assert_allclose(np.asarray(unet.smooth_flow(field)), np.asarray(unet.smooth_flow(blocky)), atol=1e-5)
    assert np.abs(np.asarray(unet.smooth_flow(field))).max() <= 0.25 * 32 + 1e-4


def test_warp_mode_round_trips_and_is_checked(tmp_path):
    folders(tmp_path, "u", "g")
    run_layer_test(tmp_path / "u", lambda: warp_unet(max_shift=0.1, flow_grid=4), (images(2), noise(2, 6)),
                   expected_shape=(2, 32, 32, 1))  # fmt: skip
    make = lambda: DAGANGenerator(resolution=32, width=4, noise_dim=6, held_shots=2, output_mode="warp")  # noqa: E731
    run_layer_test(tmp_path / "g", make, noise(2, 7), expected_shape=(2, 32, 32, 1))
    config = make().get_config()
    assert (config["output_mode"], config["max_shift"], config["flow_grid"]) == ("warp", 0.25, 8)
    with pytest.raises(ValueError, match="output_mode must be 'image' or 'warp'"):
        DAGANUNet(resolution=32, width=4, output_mode="flow")
    with pytest.raises(ValueError, match="flow_grid must divide 32"):
        warp_unet(flow_grid=5)


JAX_SCRIPT = """
import sys
import keras, numpy as np
assert keras.backend.backend() == "jax"
from tfgen.families.dagan.networks import DAGANCritic, DAGANGenerator
out = sys.argv[1]
keras.utils.set_random_seed(0)
G = DAGANGenerator(resolution=32, width=4, noise_dim=6, held_shots=3)
D = DAGANCritic(resolution=32, width=4)
rng = np.random.default_rng(0)
G.set_shots(rng.uniform(-1, 1, (3, 32, 32, 1)).astype("float32"))
z = rng.standard_normal((4, 7)).astype("float32")
x = rng.uniform(-1, 1, (4, 32, 32, 1)).astype("float32")
made = G.transform(x, z[:, 1:], training=True)  # batch statistics; moves the moving averages, saved next
G.save_weights(out + "/g.weights.h5")
D.save_weights(out + "/d.weights.h5")
np.savez(out + "/jax.npz", z=z, x=x, sampled=np.asarray(G(z)), made=np.asarray(made),
         scores=np.asarray(D.score_pairs(x, made)))
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_the_networks_give_the_same_outputs_under_jax(tmp_path):
    path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
    jax = np.load(tmp_path / "jax.npz")
    generator = DAGANGenerator(resolution=32, width=4, noise_dim=6, held_shots=3)
    critic = DAGANCritic(resolution=32, width=4)
    generator.load_weights(tmp_path / "g.weights.h5")
    critic.load_weights(tmp_path / "d.weights.h5")
    np.testing.assert_allclose(np.asarray(generator(jax["z"])), jax["sampled"], atol=1e-4)  # moving statistics
    made = np.asarray(generator.transform(jax["x"], jax["z"][:, 1:], training=True))
    np.testing.assert_allclose(made, jax["made"], atol=1e-4)  # batch statistics
    np.testing.assert_allclose(np.asarray(critic.score_pairs(jax["x"], made)), jax["scores"], atol=1e-4)
