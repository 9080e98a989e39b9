"""Tests for tfgen.sampling: noise, postprocessing, generation, grids, GIFs, loading."""

import os
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from tfgen import runs, sampling
from tfgen.config import RunConfig
from tfgen.families.fastgan.config import FastGANConfig
from tfgen.runs import save_run_config
from tfgen.families.fastgan.networks import FastGANDiscriminator, FastGANGenerator
from tfgen.weights import save_weights_atomic

LATENT_DIM = 16


def _tiny_generator(resolution=64, seed=0):
    """A tiny generator whose images use the whole [-1, 1] range.

    Freshly initialised, FastGAN's inference-mode output is ~1e-10 (all pixels
    128), which would make image comparisons vacuous: one training-mode call
    with BN momentum 0 sets the moving statistics to real batch statistics.
    """
    generator = FastGANGenerator(output_resolution=resolution, latent_dim=LATENT_DIM, ngf=8)
    norms = [l for l in generator._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in norms]
    for layer in norms:
        layer.momentum = 0.0
    generator(np.random.default_rng(seed).standard_normal((16, LATENT_DIM), dtype=np.float32), training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return generator


def _with_noise_weights(generator, value=0.5):
    """Turn on the injected noise (trained models have non-zero strengths)."""
    from tfgen.layers import NoiseInjection

    layers = [l for l in generator._flatten_layers() if isinstance(l, NoiseInjection)]
    assert layers
    for layer in layers:
        layer.weight.assign(np.float32(value))
    return generator


@pytest.fixture(scope="module")
def generator():
    return _tiny_generator()


def _tiny_config(resolution=64):
    return FastGANConfig(resolution=resolution, latent_dim=LATENT_DIM, ngf=8, ndf=8)


def _fake_run(folder, generator, *, ema=True, raw=True):
    os.makedirs(folder, exist_ok=True)
    save_run_config(os.path.join(folder, "config.json"), "fastgan", _tiny_config(), RunConfig(name="fake"))
    if ema:
        save_weights_atomic(generator, os.path.join(folder, "generator_ema.weights.h5"))
    if raw:
        save_weights_atomic(generator, os.path.join(folder, "generator.weights.h5"))
    return str(folder)


# ------------------------------------------------------------------ noise


def test_create_input_noise_is_seeded_numpy_standard_normal():
    noise = sampling.create_input_noise(4, 16, seed=7)
    assert isinstance(noise, np.ndarray)
    assert noise.shape == (4, 16) and noise.dtype == np.float32
    expected = np.random.default_rng(7).standard_normal((4, 16), dtype=np.float32)
    np.testing.assert_array_equal(noise, expected)
    assert not np.array_equal(noise, sampling.create_input_noise(4, 16, seed=8))
    big = sampling.create_input_noise(20000, 16, seed=0)
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01


# --------------------------------------------------------- postprocessing


def test_postprocess_images_uint8_matches_hand_values():
    x = np.array([-1.0, -1.5, 0.0, 0.5, 1.0, 1.2, -0.99], np.float32).reshape(1, 1, 7, 1)
    out = sampling.postprocess_images(x)
    assert out.dtype == np.uint8 and out.shape == x.shape
    # (x+1)*127.5 = 0, -63.75, 127.5, 191.25, 255, 280.5, 1.275 -> rounded, clipped
    np.testing.assert_array_equal(out.ravel(), [0, 0, 128, 191, 255, 255, 1])


def test_postprocess_images_float32_and_tensors():
    import tensorflow as tf

    x = np.array([[-1.0, 0.0], [0.5, 2.0]], np.float32).reshape(1, 2, 2, 1)
    np.testing.assert_allclose(sampling.postprocess_images(x, dtype="float32").ravel(), [0, 0.5, 0.75, 1])
    bf16 = tf.constant(x, dtype=tf.bfloat16)
    np.testing.assert_array_equal(sampling.postprocess_images(bf16), sampling.postprocess_images(x))
    with pytest.raises(ValueError, match="dtype"):
        sampling.postprocess_images(x, dtype="int8")


# ------------------------------------------------------------- generation


def test_generate_matches_direct_call_on_seeded_noise(generator):
    images = sampling.generate(generator, 5, batch_size=2, seed=3)
    assert images.shape == (5, 64, 64, 3) and images.dtype == np.uint8
    assert images.std() > 5  # real images, not a flat grey
    z = sampling.create_input_noise(5, LATENT_DIM, seed=3)
    # A fresh generator's noise strengths are 0, so the direct call is the reference.
    expected = sampling.postprocess_images(generator(z, training=False))
    np.testing.assert_array_equal(images, expected)
    assert not np.array_equal(images, sampling.generate(generator, 5, batch_size=2, seed=4))


def test_generate_is_independent_of_batch_size(generator):
    a = sampling.generate(generator, 5, batch_size=2, seed=11)
    b = sampling.generate(generator, 5, batch_size=5, seed=11)
    c = np.concatenate(list(sampling.iter_generate(generator, 5, batch_size=3, seed=11)))
    # Batched convolutions may differ in the last float bit, which can move a
    # rounded pixel by one level; anything more would be a different image.
    assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(a.astype(int) - c).max() <= 1


def test_generate_with_injected_noise_is_repeatable_and_side_effect_free():
    generator = _with_noise_weights(_tiny_generator())
    states = [v.numpy().copy() for v in sampling.seed_state_variables(generator)]
    assert len(states) == 4  # one per NoiseInjection layer at 64 px
    a = sampling.generate(generator, 3, batch_size=2, seed=1)
    b = sampling.generate(generator, 3, batch_size=2, seed=1)
    np.testing.assert_array_equal(a, b)
    for before, variable in zip(states, sampling.seed_state_variables(generator)):
        np.testing.assert_array_equal(before, variable.numpy())
    # Unlike generate(), raw calls advance the noise: the images differ.
    z = sampling.create_input_noise(2, LATENT_DIM, seed=0)
    assert not np.array_equal(generator(z), generator(z))


def test_generate_rejects_bad_counts(generator):
    with pytest.raises(ValueError, match="num_images"):
        sampling.generate(generator, 0)
    with pytest.raises(ValueError, match="batch_size"):
        list(sampling.iter_generate(generator, 3, batch_size=0))


# ------------------------------------------------------------ grids, files


def test_make_grid_layout_matches_numpy_reference():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 3, 4, 3), dtype=np.uint8)
    grid = sampling.make_grid(images, nrow=3, padding=1)
    # 2 rows x 3 columns of 3x4 cells, 1-pixel black borders.
    expected = np.zeros((2 * 4 + 1, 3 * 5 + 1, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, 3)
        expected[1 + 4 * r : 4 + 4 * r, 1 + 5 * c : 5 + 5 * c] = image
    np.testing.assert_array_equal(grid, expected)


def test_make_grid_defaults_and_errors():
    images = np.full((4, 2, 2, 1), 200, np.uint8)
    grid = sampling.make_grid(images, padding=0)  # nrow = ceil(sqrt(4)) = 2
    np.testing.assert_array_equal(grid, np.full((4, 4, 1), 200, np.uint8))
    with pytest.raises(ValueError, match="postprocess_images"):
        sampling.make_grid(images.astype(np.float32))


def test_save_image_round_trip_creates_dirs_atomically(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    path = tmp_path / "a" / "b" / "img.png"
    sampling.save_image(str(path), image)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), image)
    assert os.listdir(path.parent) == ["img.png"]  # no temp file left
    gray = image[..., :1]
    sampling.save_image(str(path), gray)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), gray[..., 0])
    with pytest.raises(ValueError, match="format"):
        sampling.save_image(str(tmp_path / "img.unknownext"), image)


def test_save_gif_frame_count_and_loop(tmp_path):
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    for i in range(5):
        frames[i, :, : i + 1] = 255  # distinct frames (Pillow merges equal ones)
    path = tmp_path / "anim.gif"
    sampling.save_gif(str(path), frames, duration_ms=50)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        assert gif.info["loop"] == 0 and gif.info["duration"] == 50


# ---------------------------------------------------------- interpolation


def test_slerp_endpoints_are_exact():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal((2, 32)).astype(np.float32)
    np.testing.assert_array_equal(sampling.slerp(z0, z1, 0.0), z0)
    np.testing.assert_array_equal(sampling.slerp(z0, z1, 1.0), z1)


def test_slerp_orthogonal_unit_vectors_midpoint_is_45_degrees():
    e0, e1 = np.eye(2, dtype=np.float32)
    mid = sampling.slerp(e0, e1, 0.5)
    np.testing.assert_allclose(mid, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(mid), 1.0, atol=1e-7)


def test_slerp_keeps_norm_of_equal_norm_vectors_unlike_lerp():
    rng = np.random.default_rng(1)
    z0, z1 = rng.standard_normal((2, 64))
    z1 *= np.linalg.norm(z0) / np.linalg.norm(z1)
    t = np.linspace(0, 1, 9)
    path = sampling.slerp(z0, z1, t)
    assert path.shape == (9, 64)
    np.testing.assert_allclose(np.linalg.norm(path, axis=-1), np.linalg.norm(z0), rtol=1e-5)
    lerp_mid = 0.5 * (z0 + z1)
    assert np.linalg.norm(lerp_mid) < 0.9 * np.linalg.norm(z0)


def test_slerp_near_parallel_falls_back_to_lerp():
    z0 = np.array([1.0, 0.0, 0.0])
    z1 = np.array([2.0, 1e-6, 0.0])
    np.testing.assert_allclose(sampling.slerp(z0, z1, 0.25), 0.75 * z0 + 0.25 * z1, atol=1e-6)
    assert np.all(np.isfinite(sampling.slerp(z0, z0, 0.5)))


def test_interpolation_latents_walk_through_seed_noise():
    seeds, steps = [3, 9, 4], 5
    latents = sampling.interpolation_latents(seeds, steps, LATENT_DIM)
    assert latents.shape == (len(seeds) * steps, LATENT_DIM) and latents.dtype == np.float32
    for k, seed in enumerate(seeds):
        np.testing.assert_array_equal(latents[k * steps], sampling.create_input_noise(1, LATENT_DIM, seed)[0])
    # Loop: the last segment heads back to the first seed.
    np.testing.assert_allclose(
        latents[-1],
        sampling.slerp(latents[(len(seeds) - 1) * steps], latents[0], (steps - 1) / steps),
        atol=1e-6,
    )
    open_walk = sampling.interpolation_latents(seeds, steps, LATENT_DIM, loop=False)
    assert len(open_walk) == (len(seeds) - 1) * steps + 1
    np.testing.assert_array_equal(open_walk[-1], sampling.create_input_noise(1, LATENT_DIM, 4)[0])
    with pytest.raises(ValueError, match="at least 2 seeds"):
        sampling.interpolation_latents([1], steps, LATENT_DIM)


def test_interpolation_frames_and_gif(generator, tmp_path):
    frames = sampling.interpolation_frames(generator, [0, 1], steps_per_segment=3)
    assert frames.shape == (6, 64, 64, 3) and frames.dtype == np.uint8
    latents = sampling.interpolation_latents([0, 1], 3, LATENT_DIM)
    np.testing.assert_array_equal(frames[0], sampling.postprocess_images(generator(latents[:1]))[0])
    path = tmp_path / "walk.gif"
    sampling.save_gif(str(path), frames)
    with Image.open(path) as gif:
        assert 1 < gif.n_frames <= 6


# ------------------------------------------------------------------ loading


def test_load_generator_from_run_folder(tmp_path):
    source = _with_noise_weights(_tiny_generator(), 0.1)
    run = _fake_run(tmp_path / "run", source)
    loaded = runs.load_generator(run)
    assert isinstance(loaded, FastGANGenerator)
    assert (loaded.output_resolution, loaded.latent_dim, loaded.ngf) == (64, LATENT_DIM, 8)
    np.testing.assert_array_equal(sampling.generate(loaded, 2, seed=0), sampling.generate(source, 2, seed=0))


def test_load_generator_ema_and_raw_files_are_distinct(tmp_path):
    ema_source, raw_source = _tiny_generator(seed=1), _tiny_generator(seed=2)
    run = _fake_run(tmp_path / "run", ema_source, raw=False)
    save_weights_atomic(raw_source, os.path.join(run, "generator.weights.h5"))
    ema = runs.load_generator(run)
    raw = runs.load_generator(run, ema=False)
    np.testing.assert_array_equal(sampling.generate(ema, 1), sampling.generate(ema_source, 1))
    np.testing.assert_array_equal(sampling.generate(raw, 1), sampling.generate(raw_source, 1))
    assert not np.array_equal(sampling.generate(ema, 1), sampling.generate(raw, 1))


def test_load_generator_falls_back_to_raw_weights_with_warning(tmp_path, generator):
    run = _fake_run(tmp_path / "run", generator, ema=False)
    with pytest.warns(UserWarning, match="generator_ema.weights.h5"):
        runs.load_generator(run)


def test_load_generator_weights_file_with_config_beside_and_bare(tmp_path, generator):
    run = _fake_run(tmp_path / "run", generator, ema=False)
    loaded = runs.load_generator(os.path.join(run, "generator.weights.h5"))
    assert loaded.latent_dim == LATENT_DIM

    bare = tmp_path / "bare" / "g.weights.h5"
    save_weights_atomic(generator, str(bare))
    with pytest.raises(FileNotFoundError, match="--resolution"):
        runs.load_generator(str(bare))
    # --resolution builds default widths (ngf=64, latent 256): this file does not fit.
    with pytest.raises(ValueError, match=r"output_resolution=64, latent_dim=256, ngf=64"):
        runs.load_generator(str(bare), resolution=64)


def test_load_generator_keras_archive(tmp_path, generator):
    path = str(tmp_path / "g.keras")
    generator.save(path)
    loaded = runs.load_generator(path)
    np.testing.assert_allclose(sampling.generate(loaded, 2), sampling.generate(generator, 2), atol=1)

    discriminator_path = str(tmp_path / "d.keras")
    FastGANDiscriminator(input_resolution=64, ndf=8).save(discriminator_path)
    with pytest.raises(ValueError, match="not a generator"):
        runs.load_generator(discriminator_path)


def test_load_generator_missing_things_say_what_was_expected(tmp_path, generator):
    with pytest.raises(FileNotFoundError, match="expected a run folder"):
        runs.load_generator(str(tmp_path / "nothing"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        runs.load_generator(str(empty))
    run = _fake_run(tmp_path / "run", generator, ema=False, raw=False)
    with pytest.raises(FileNotFoundError, match="generator_ema.weights.h5"):
        runs.load_generator(run)
    legacy = tmp_path / "legacy.h5"
    legacy.write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.weights\.h5 file"):
        runs.load_generator(str(legacy))


def test_load_generator_wrong_resolution_weights_raise_clearly(tmp_path):
    run = _fake_run(tmp_path / "run", _tiny_generator(), raw=False)
    ema_path = os.path.join(run, "generator_ema.weights.h5")
    save_weights_atomic(_tiny_generator(128), ema_path)  # config.json says 64
    with pytest.raises(ValueError) as info:
        runs.load_generator(run)
    message = str(info.value)
    assert ema_path in message
    assert "FastGANGenerator(output_resolution=64, latent_dim=16, ngf=8)" in message
    assert "config.json" in message


def test_load_generator_discriminator_weights_raise_clearly(tmp_path):
    run = _fake_run(tmp_path / "run", _tiny_generator(), raw=False)
    discriminator = FastGANDiscriminator(input_resolution=64, ndf=8, name="discriminator")
    save_weights_atomic(discriminator, os.path.join(run, "generator_ema.weights.h5"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no half-load warnings either
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        with pytest.raises(ValueError, match="saved from a model named 'discriminator'"):
            runs.load_generator(run)
