"""LoFGAN's networks and its local fusion module (LFM), the LFM checked
against NumPy loops and against references made by moving the base's
features to known places."""

import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.harness import run_layer_test
from tfgen.families.lofgan.fusion import draw_fusion, fuse_local, latent_size, match_positions, take_images
from tfgen.families.lofgan.networks import (
    ActFirstResBlock,
    LoFGANDecoder,
    LoFGANDiscriminator,
    LoFGANEncoder,
    LoFGANGenerator,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(autouse=True)
def _seeded():
    keras.utils.set_random_seed(0)  # fixed initial weights


def numpy_match_and_fuse(maps, positions, coefficients):
    """The LFM written as the paper says it, with loops: for each selected base
    position, each reference's position of largest cosine similarity; then the
    weighted sum put in place of the base's feature."""
    batch, m, num_positions, _ = maps.shape
    matched = np.zeros((batch, m, positions.shape[1]), np.int64)
    out = maps[:, 0].copy()
    for b in range(batch):
        for i, p in enumerate(positions[b]):
            query = maps[b, 0, p]
            matched[b, 0, i] = p
            total = coefficients[b, 0] * query
            for j in range(1, m):
                scores = [np.dot(query, maps[b, j, q]) / (np.linalg.norm(query) * np.linalg.norm(maps[b, j, q]))
                          for q in range(num_positions)]  # fmt: skip
                matched[b, j, i] = int(np.argmax(scores))
                total = total + coefficients[b, j] * maps[b, j, matched[b, j, i]]
            out[b, p] = total
    return matched, out


def test_matching_and_fusion_agree_with_numpy_loops():
    rng = np.random.default_rng(0)
    batch, m, num_positions, channels, n = 2, 3, 16, 5, 6
    maps = rng.standard_normal((batch, m, num_positions, channels)).astype(np.float32)
    positions = np.stack([rng.choice(num_positions, n, replace=False) for _ in range(batch)]).astype(np.int32)
    coefficients = rng.uniform(size=(batch, m)).astype(np.float32)
    coefficients /= coefficients.sum(axis=1, keepdims=True)
    expected_matched, expected = numpy_match_and_fuse(maps, positions, coefficients)
    matched = np.asarray(match_positions(maps, positions))
    np.testing.assert_array_equal(matched, expected_matched)
    fused = np.asarray(fuse_local(maps, positions, matched, coefficients))
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    # Positions not selected keep the base's features exactly.
    for b in range(batch):
        keep = np.setdiff1d(np.arange(num_positions), positions[b])
        np.testing.assert_array_equal(fused[b, keep], maps[b, 0, keep])


def test_matching_finds_the_base_features_where_a_reference_moved_them():
    # Each reference is the base's features permuted (and scaled: cosine
    # similarity ignores the scale) plus small noise: the match of base
    # position p in reference j is where reference j put it.
    rng = np.random.default_rng(1)
    num_positions, channels = 64, 16
    base = rng.standard_normal((num_positions, channels)).astype(np.float32)
    moves = [rng.permutation(num_positions) for _ in range(2)]  # reference j holds base[p] at moves[j][p]
    refs = []
    for move in moves:
        ref = np.empty_like(base)
        ref[move] = base * rng.uniform(0.5, 2.0)
        refs.append(ref + 0.01 * rng.standard_normal(ref.shape).astype(np.float32))
    maps = np.stack([base, *refs])[None]
    positions = rng.choice(num_positions, 20, replace=False).astype(np.int32)[None]
    matched = np.asarray(match_positions(maps, positions))
    np.testing.assert_array_equal(matched[0, 0], positions[0])
    for j, move in enumerate(moves, start=1):
        np.testing.assert_array_equal(matched[0, j], move[positions[0]])


def test_draws_are_valid_and_the_base_is_uniform():
    positions, held, fused, selected = 16, 5, 3, 8
    z = np.random.default_rng(2).standard_normal((4000, latent_size(positions, held, fused))).astype(np.float32)
    chosen, where, coefficients = (np.asarray(t) for t in draw_fusion(
        z, positions=positions, held=held, fused=fused, selected=selected))  # fmt: skip
    assert chosen.shape == (4000, fused) and where.shape == (4000, selected)
    assert all(len(set(row)) == fused for row in chosen) and chosen.min() >= 0 and chosen.max() < held
    assert all(len(set(row)) == selected for row in where) and where.max() < positions
    np.testing.assert_allclose(coefficients.sum(axis=1), 1.0, atol=1e-5)
    assert coefficients.min() > 0
    # Every held image is the base (chosen[:, 0]) about equally often: 800 +- 4 sigma (sigma ~ 25).
    counts = np.bincount(chosen[:, 0], minlength=held)
    assert np.all(np.abs(counts - 800) < 100), counts
    # Every position is replaced about equally often: 2000 of 4000 (sigma ~ 32).
    assert np.all(np.abs(np.bincount(where.ravel(), minlength=positions) - 2000) < 160)


def test_take_images_picks_each_samples_own_images():
    values = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)
    chosen = np.array([[3, 0], [1, 2]], np.int32)
    np.testing.assert_array_equal(np.asarray(take_images(values, chosen)), values[np.arange(2)[:, None], chosen])


def folders(tmp_path, *names):
    for name in names:
        (tmp_path / name).mkdir()


def test_layers_pass_the_harness(tmp_path):
    folders(tmp_path, "e", "d", "r")
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    run_layer_test(tmp_path / "e", lambda: LoFGANEncoder(width=4, downsamples=2), images,
                   expected_shape=(2, 8, 8, 16))  # fmt: skip
    features = np.random.default_rng(0).standard_normal((2, 8, 8, 16)).astype(np.float32)
    out = run_layer_test(tmp_path / "d", lambda: LoFGANDecoder(width=4, upsamples=2, channels=1), features,
                         expected_shape=(2, 32, 32, 1))  # fmt: skip
    assert np.abs(out).max() <= 1.0
    run_layer_test(tmp_path / "r", lambda: ActFirstResBlock(filters=8), features, expected_shape=(2, 8, 8, 8))


def test_models_pass_the_harness(tmp_path):
    folders(tmp_path, "g", "d")
    make = lambda: LoFGANGenerator(resolution=32, width=4, fused_shots=3, held_shots=4)  # noqa: E731
    z = np.random.default_rng(0).standard_normal((3, make().latent_dim)).astype(np.float32)
    run_layer_test(tmp_path / "g", make, z, expected_shape=(3, 32, 32, 1))
    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    run_layer_test(tmp_path / "d", lambda: LoFGANDiscriminator(resolution=32, width=4, num_classes=5), images,
                   expected_shape=[(3,), (3, 5)])  # fmt: skip


def test_the_generator_samples_from_the_shots_it_holds():
    generator = LoFGANGenerator(resolution=32, width=4, fused_shots=3, held_shots=5)
    assert generator.latent_dim == 64 + 5 + 3
    shots = np.random.default_rng(3).uniform(-1, 1, (5, 32, 32, 1)).astype(np.float32)
    generator.set_shots(shots)
    z = np.random.default_rng(4).standard_normal((4, generator.latent_dim)).astype(np.float32)
    held = np.asarray(generator(z))
    # The same z on the shots given per sample: the same images.
    given, fusion = generator.fuse_shots(np.broadcast_to(shots, (4,) + shots.shape), z)
    np.testing.assert_allclose(held, np.asarray(given), atol=1e-5)
    assert np.asarray(fusion["chosen"]).shape == (4, 3)
    # z changes the image; a fixed z gives it again.
    assert np.abs(held[0] - held[1]).max() > 1e-4
    np.testing.assert_array_equal(held, np.asarray(generator(z)))
    with pytest.raises(ValueError, match="holds 5 images"):
        generator.set_shots(shots[:3])


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="divisible"):
        LoFGANGenerator(resolution=36, width=4, encoder_downsamples=3)
    with pytest.raises(ValueError, match="fusion_rate"):
        LoFGANGenerator(resolution=32, width=4, fusion_rate=0.0)
    with pytest.raises(ValueError, match="training classes"):
        LoFGANDiscriminator(resolution=32, width=4, num_classes=0)


JAX_SCRIPT = """
import sys
import keras, numpy as np
assert keras.backend.backend() == "jax"
from tfgen.families.lofgan.losses import local_reconstruction_loss
from tfgen.families.lofgan.networks import LoFGANDiscriminator, LoFGANGenerator
out = sys.argv[1]
keras.utils.set_random_seed(0)
G = LoFGANGenerator(resolution=32, width=4, fused_shots=3, held_shots=4)
D = LoFGANDiscriminator(resolution=32, width=4, num_classes=5)
rng = np.random.default_rng(0)
G.set_shots(rng.uniform(-1, 1, (4, 32, 32, 1)).astype("float32"))
z = rng.standard_normal((3, G.latent_dim)).astype("float32")
shots = rng.uniform(-1, 1, (3, 3, 32, 32, 1)).astype("float32")
z3 = rng.standard_normal((3, 64 + 3 + 3)).astype("float32")
fused, fusion = G.fuse_shots(shots, z3)
adversarial, classes = D(fused)
G.save_weights(out + "/g.weights.h5")
D.save_weights(out + "/d.weights.h5")
np.savez(out + "/jax.npz", z=z, shots=shots, z3=z3, sampled=np.asarray(G(z)), fused=np.asarray(fused),
         matched=np.asarray(fusion["matched"]), adversarial=np.asarray(adversarial), classes=np.asarray(classes),
         lrl=np.asarray(local_reconstruction_loss(shots, fused, fusion, side=8)))
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_the_networks_give_the_same_outputs_under_jax(tmp_path):
    from tfgen.families.lofgan.losses import local_reconstruction_loss

    path = os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)], env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
    jax = np.load(tmp_path / "jax.npz")
    generator = LoFGANGenerator(resolution=32, width=4, fused_shots=3, held_shots=4)
    discriminator = LoFGANDiscriminator(resolution=32, width=4, num_classes=5)
    generator.load_weights(tmp_path / "g.weights.h5")
    discriminator.load_weights(tmp_path / "d.weights.h5")
    np.testing.assert_allclose(np.asarray(generator(jax["z"])), jax["sampled"], atol=1e-4)
    fused, fusion = generator.fuse_shots(jax["shots"], jax["z3"])
    np.testing.assert_array_equal(np.asarray(fusion["matched"]), jax["matched"])
    np.testing.assert_allclose(np.asarray(fused), jax["fused"], atol=1e-4)
    adversarial, classes = discriminator(jax["fused"])
    np.testing.assert_allclose(np.asarray(adversarial), jax["adversarial"], atol=1e-4)
    np.testing.assert_allclose(np.asarray(classes), jax["classes"], atol=1e-4)
    lrl = float(local_reconstruction_loss(jax["shots"], jax["fused"], fusion, side=8))
    assert lrl == pytest.approx(float(jax["lrl"]), abs=1e-5)
