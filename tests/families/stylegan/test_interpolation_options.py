"""The AdaIN adaptation's interpolation-loss options 1 and 2 (a k-shot
discriminator; content of x_i, style of x_j) beside option 3 (L1): the loss
terms against NumPy, the discriminator's two directions on a toy, where the
adversarial gradients go, the config's refusals, and adaptations of a tiny
StyleGAN base with each option, through the API and generate.py."""

import dataclasses
import importlib.util
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tests.harness import run_layer_test
from tests.scripts import REPO, run_script
from tests.test_train_cli import error_message
from tfgen import losses
from tfgen.adaptation import adapt_run, read_meta_run
from tfgen.families.stylegan.adapt import (
    AdaINAdaptation,
    KShotDiscriminator,
    adapt_adain,
    adapted_generator,
    affine_variables,
    content_and_style_maps,
)
from tfgen.families.stylegan.config import AdaINAdaptConfig
from tfgen.runs import load_generator
from tfgen.sampling import set_noise_seed

BASE = AdaINAdaptConfig(steps=2, perceptual_features="none")
DISCRIMINATOR = dataclasses.replace(BASE, interpolation_loss="discriminator", interpolation_d_width=4)


class ToyFeatures:
    """A fixed stand-in for the perceptual feature network: three maps
    ([B, 16, 16, 3], [B, 8, 8, 5], [B, 4, 4, 6]) of 2x2-pooled images through
    fixed per-channel affine maps and tanh; ``__call__`` is a mean squared
    difference, as the adaptation's perceptual distance is called."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.scales = [rng.standard_normal(c).astype("float32") for c in (3, 5, 6)]
        self.shifts = [rng.standard_normal(c).astype("float32") * 0.3 for c in (3, 5, 6)]

    def feature_maps(self, images):
        maps, x = [], ops.cast(images, "float32")
        for scale, shift in zip(self.scales, self.shifts):
            x = ops.average_pool(x, 2, 2)  # [B, h/2, w/2, 1]
            maps.append(ops.tanh(x * scale + shift))
        return maps

    def __call__(self, a, b):
        return ops.mean(ops.square(a - b), axis=(1, 2, 3))


def numpy_unit(x):
    return x / np.sqrt((x**2).sum(-1, keepdims=True) + 1e-10)


def numpy_mean_std(x):
    mean = x.mean(axis=(1, 2))
    return mean, np.sqrt(x.var(axis=(1, 2)) + 1e-5)


def numpy_gatys_style(f, t):
    """Gatys et al.'s E_l = sum (G - A)^2 / (4 N^2 M^2), G = F^T F unnormalised, by loops."""
    b, h, w, c = f.shape
    total = 0.0
    for n in range(b):
        ff, tt = f[n].reshape(h * w, c).astype(np.float64), t[n].reshape(h * w, c).astype(np.float64)
        total += ((ff.T @ ff - tt.T @ tt) ** 2).sum() / (4 * c**2 * (h * w) ** 2)
    return total / b


# --- the loss functions -------------------------------------------------------


def test_content_and_style_losses_match_numpy():
    rng = np.random.default_rng(0)
    f = [rng.standard_normal((3, 8, 8, 4)).astype("float32"), rng.standard_normal((3, 4, 4, 6)).astype("float32")]
    t = [rng.standard_normal(m.shape).astype("float32") * 2 + 0.5 for m in f]
    content = float(losses.feature_content_loss(f[1], t[1]))
    assert content == pytest.approx(((f[1] - t[1]) ** 2).sum(-1).mean(), rel=1e-5)
    expected = 0.0
    for a, b in zip(f, t):
        (ma, sa), (mb, sb) = numpy_mean_std(a), numpy_mean_std(b)
        expected += (((ma - mb) ** 2).sum(-1) + ((sa - sb) ** 2).sum(-1)).mean()
    assert float(losses.feature_style_loss(f, t)) == pytest.approx(expected, rel=1e-5)
    gram = sum(numpy_gatys_style(a, b) for a, b in zip(f, t))
    assert float(losses.feature_style_loss(f, t, statistics="gram")) == pytest.approx(gram, rel=1e-4)
    # Same statistics, different layout: no style loss, but a content loss.
    shuffled = f[0][:, ::-1, ::-1, :]
    assert float(losses.feature_style_loss([f[0]], [shuffled])) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.feature_style_loss([f[0]], [shuffled], statistics="gram")) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.feature_content_loss(f[0], shuffled)) > 1.0
    with pytest.raises(ValueError, match="statistics must be one of"):
        losses.feature_style_loss(f, t, statistics="histogram")


def test_content_and_style_maps_split_shallow_and_deep():
    maps = ["m0", "m1", "m2", "m3", "m4"]  # EfficientNet-Lite0's five
    assert content_and_style_maps(maps) == ("m3", ["m0", "m1", "m2"])
    assert content_and_style_maps(maps[:3]) == ("m1", ["m0"])
    assert content_and_style_maps(maps[:2]) == ("m1", ["m0"])
    assert content_and_style_maps(maps[:1]) == ("m0", ["m0"])


# --- option 2 in the adaptation -----------------------------------------------


def fresh_adaptation(style_run, shots, config, *, distance=None, seed=0):
    source = load_generator(style_run, ema=True)
    model_config = read_meta_run(style_run).model_config
    generator = adapted_generator(source, model_config, num_latents=len(shots), latent_space="z", sampling="interpolate")
    set_noise_seed(generator, 0)  # the same injected noise in every fresh adaptation
    return AdaINAdaptation(generator, shots, config, distance=distance, seed=seed)


@pytest.mark.parametrize("statistics", ["mean_std", "gram"])
def test_content_of_x_i_style_of_x_j_against_numpy(style_run, shots, statistics):
    toy = ToyFeatures()
    config = dataclasses.replace(
        BASE, perceptual_features="efficientnet_lite0", perceptual_weight=0.0, interpolation_loss="content_style",
        content_weight=0.7, style_weight=2.5, style_statistics=statistics,
    )  # fmt: skip
    adaptation = fresh_adaptation(style_run, shots, config, distance=toy)
    rng = np.random.default_rng(1)
    images = rng.uniform(-1, 1, (3, 32, 32, 1)).astype("float32")
    i, j, t = np.array([0, 2, 3]), np.array([1, 0, 2]), np.full((3, 1), 0.5, "float32")
    loss, parts = adaptation.interpolation_term(ops.convert_to_tensor(images), i, j, t)

    maps = [numpy_unit(ops.convert_to_numpy(m)) for m in toy.feature_maps(images)]
    shot_maps = [numpy_unit(ops.convert_to_numpy(m)) for m in toy.feature_maps(shots.astype("float32") / 127.5 - 1)]
    content = ((maps[1] - shot_maps[1][i]) ** 2).sum(-1).mean()  # the content of x_i
    if statistics == "gram":
        style = numpy_gatys_style(maps[0], shot_maps[0][j])  # the style of x_j
    else:
        (mf, sf), (mt, st) = numpy_mean_std(maps[0]), numpy_mean_std(shot_maps[0][j])
        style = (((mf - mt) ** 2).sum(-1) + ((sf - st) ** 2).sum(-1)).mean()
    assert float(parts["content"]) == pytest.approx(content, rel=1e-4)
    assert float(parts["style"]) == pytest.approx(style, rel=1e-4)
    assert float(loss) == pytest.approx(0.7 * content + 2.5 * style, rel=1e-4)
    # The image of x_i itself has its content; with x_j's own style the style term is 0.
    x = ops.convert_to_tensor(shots.astype("float32") / 127.5 - 1)
    _, parts = adaptation.interpolation_term(x[:2], np.array([0, 1]), np.array([2, 3]), t[:2])
    assert float(parts["content"]) == pytest.approx(0.0, abs=1e-6) and float(parts["style"]) > 1e-4
    _, parts = adaptation.interpolation_term(x[:2], np.array([2, 3]), np.array([0, 1]), t[:2])
    assert float(parts["style"]) == pytest.approx(0.0, abs=1e-6) and float(parts["content"]) > 1e-3


def test_content_style_steps_record_their_parts(style_run, shots):
    config = dataclasses.replace(BASE, steps=3, perceptual_features="efficientnet_lite0",
                                 interpolation_loss="content_style")  # fmt: skip
    run = read_meta_run(style_run)  # adapt_adain takes the run read and the shots checked, as adapt_run passes them
    losses_ = adapt_adain(run, shots, config=config, distance=ToyFeatures()).losses
    for name in ("content", "style", "interpolation", "perceptual"):
        assert len(losses_[name]) == 3 and all(np.isfinite(losses_[name])), name
    np.testing.assert_allclose(losses_["interpolation"], np.add(losses_["content"], losses_["style"]), rtol=1e-5)
    assert min(losses_["content"]) > 0 and min(losses_["style"]) > 0
    with pytest.raises(ValueError, match="feature_maps"):
        adapt_adain(run, shots, config=config, distance=lambda a, b: ops.mean(ops.abs(a - b), axis=(1, 2, 3)))


# --- option 1: the k-shot discriminator ----------------------------------------


def test_kshot_discriminator_harness(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 1)).astype("float32")
    run_layer_test(
        tmp_path, lambda: KShotDiscriminator(resolution=16, channels=1, width=4, seed=3), images, expected_shape=(2, 1)
    )
    with pytest.raises(ValueError, match="power-of-two"):
        KShotDiscriminator(resolution=24, channels=1)


def test_discriminator_losses_move_the_logit_gap_on_a_toy():
    """D's loss widens the gap between its logits on the shots and on the
    fakes; the option's generator loss, minimised by the fakes against a
    fixed D, narrows it again."""
    rng = np.random.default_rng(0)
    real = ops.convert_to_tensor(rng.uniform(-1, 1, (4, 8, 8, 1)).astype("float32"))
    fake = keras.Variable(rng.uniform(-1, 1, (6, 8, 8, 1)).astype("float32"))
    D = KShotDiscriminator(resolution=8, channels=1, width=4, seed=0)
    D.build((None, 8, 8, 1))

    def gap():
        return float(ops.mean(D(real)) - ops.mean(D(fake)))

    start = gap()
    d_optimizer = keras.optimizers.Adam(0.01, beta_1=0.0, beta_2=0.99)
    for _ in range(20):
        with tf.GradientTape() as tape:
            real_loss, fake_loss = losses.stylegan_discriminator_loss(D(real), D(fake))
            d_loss = real_loss + fake_loss
        d_optimizer.apply_gradients(zip(tape.gradient(d_loss, D.trainable_variables), D.trainable_variables))
    trained = gap()
    assert trained > start + 1.0
    g_optimizer = keras.optimizers.Adam(0.05)
    g_losses = []
    for _ in range(20):
        with tf.GradientTape() as tape:
            g_loss = losses.stylegan_generator_loss(D(fake))
        g_optimizer.apply_gradients([(tape.gradient(g_loss, fake), fake)])
        g_losses.append(float(g_loss))
    assert gap() < trained - 1.0
    assert g_losses[-1] < g_losses[0]


def test_adversarial_gradients_reach_the_adain_maps_only_with_the_option(style_run, shots):
    config = dataclasses.replace(DISCRIMINATOR, interpolation_d_augment="")
    adaptation = fresh_adaptation(style_run, shots, config)
    assert adaptation.discriminator is not None
    i, j, t = np.array([0, 1, 2]), np.array([3, 2, 0]), np.array([[0.2], [0.5], [0.9]], "float32")
    adain = affine_variables(adaptation.generator)
    with tf.GradientTape() as tape:
        loss, _ = adaptation.interpolation_term(adaptation.interpolation_images(i, j, t), i, j, t)
    gradients = tape.gradient(loss, [adaptation.latents, *adain])
    assert all(g is not None for g in gradients)
    gradients = [np.asarray(tf.convert_to_tensor(g)) for g in gradients]  # the latents' are IndexedSlices
    assert all(np.all(np.isfinite(g)) and np.abs(g).max() > 0 for g in gradients)

    # D's opinion steers the AdaIN maps: the same step against a discriminator
    # with the opposite logits moves them differently.
    def adain_after_one_step(flip):
        adaptation = fresh_adaptation(style_run, shots, config)
        if flip:
            kernel = adaptation.discriminator.logit.kernel
            kernel.assign(-kernel)
        adaptation.step_function()
        return [np.array(v) for v in affine_variables(adaptation.generator)]

    same, again, flipped = adain_after_one_step(False), adain_after_one_step(False), adain_after_one_step(True)
    for a, b in zip(same, again):
        np.testing.assert_array_equal(a, b)  # a fresh adaptation's step is reproducible ...
    assert any(not np.allclose(a, b) for a, b in zip(same, flipped))  # ... and D's logits change it

    # Off (no interpolation weight): no discriminator, the step is the L1 option's.
    off = fresh_adaptation(style_run, shots, dataclasses.replace(config, interpolation_weight=0.0))
    assert off.discriminator is None
    l1_off = fresh_adaptation(style_run, shots, dataclasses.replace(BASE, interpolation_weight=0.0))
    values, l1_values = off.step_function(), l1_off.step_function()
    assert set(values) == set(l1_values) and float(values["total"]) == float(l1_values["total"])
    for a, b in zip(affine_variables(off.generator), affine_variables(l1_off.generator)):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_discriminator_trains_and_a_frozen_one_stays(style_run, shots):
    config = dataclasses.replace(DISCRIMINATOR, steps=15, interpolation_d_learning_rate=0.01)
    trained = adapt_run(style_run, shots, adain=config, seed=2).losses
    gaps = np.subtract(trained["d_real"], trained["d_fake"])
    assert np.mean(gaps[-3:]) > np.mean(gaps[:3]) + 0.5  # it learns to tell the shots from the in-betweens
    assert np.mean(trained["d_loss"][-3:]) < np.mean(trained["d_loss"][:3])
    np.testing.assert_allclose(
        trained["total"], np.add(trained["reconstruction"], trained["interpolation"]), rtol=1e-5
    )

    frozen = fresh_adaptation(style_run, shots, dataclasses.replace(config, interpolation_d_learning_rate=0.0))
    before = [np.array(v) for v in frozen.discriminator.weights]
    adain_before = [np.array(v) for v in affine_variables(frozen.generator)]
    for _ in range(3):
        frozen.step_function()
    for a, b in zip(before, frozen.discriminator.weights):
        np.testing.assert_array_equal(a, np.array(b))  # the generator's loss never trains D
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(adain_before, affine_variables(frozen.generator)))


# --- the config -----------------------------------------------------------------


def test_config_refuses_unknown_options():
    with pytest.raises(ValueError, match=r"interpolation_loss must be one of l1, discriminator, content_style.*'gan'"):
        AdaINAdaptConfig(interpolation_loss="gan").validate()
    with pytest.raises(ValueError, match="perceptual_features efficientnet_lite0 or classifier"):
        AdaINAdaptConfig(interpolation_loss="content_style", perceptual_features="none").validate()
    with pytest.raises(ValueError, match="DiffAugment policy 'flip'"):
        AdaINAdaptConfig(interpolation_d_augment="flip").validate()
    with pytest.raises(ValueError, match="style_statistics must be"):
        AdaINAdaptConfig(style_statistics="histogram").validate()
    with pytest.raises(ValueError, match="interpolation_d_width"):
        AdaINAdaptConfig(interpolation_d_width=0).validate()
    assert AdaINAdaptConfig().interpolation_loss == "l1"  # existing users keep option 3


def test_the_l1_default_is_the_loss_it_was(style_run, shots):
    """interpolation_loss="l1" is option 3 as before: the same step, the
    distance-weighted L1 of tfgen.losses.interpolation_loss on the same pairs."""
    adaptation = fresh_adaptation(style_run, shots, BASE)
    i, j, t = adaptation.draw_pairs()
    images = adaptation.interpolation_images(i, j, t)
    loss, parts = adaptation.interpolation_term(images, i, j, t)
    x = shots.astype("float32") / 127.5 - 1
    g, i, j, t = ops.convert_to_numpy(images), np.asarray(i), np.asarray(j), np.asarray(t)[:, 0]
    expected = np.mean(t * np.abs(g - x[j]).mean(axis=(1, 2, 3)) + (1 - t) * np.abs(g - x[i]).mean(axis=(1, 2, 3)))
    assert parts == {} and float(loss) == pytest.approx(expected, rel=1e-5)


# --- end to end -------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"interpolation_loss": "l1"},
        {"interpolation_loss": "discriminator", "interpolation_d_width": 4},
        {"interpolation_loss": "content_style", "perceptual_features": "efficientnet_lite0", "style_statistics": "gram"},
    ],
    ids=["l1", "discriminator", "content_style"],
)
def test_each_option_adapts_a_tiny_base(style_run, shots, options):
    # A dict of settings, as a benchmark method passes them (JSON), through tfgen's adapt path.
    adaptation = adapt_run(style_run, shots, steps=3, seed=1, adain={"perceptual_features": "none", **options})
    assert len(adaptation.losses["total"]) == 3 and all(np.isfinite(adaptation.losses["total"]))
    generator = adaptation.generator
    assert generator.sampling == "interpolate"
    images = ops.convert_to_numpy(generator(keras.random.normal((6, 8), seed=0)))
    assert images.shape == (6, 32, 32, 1) and np.all(np.isfinite(images))
    assert np.abs(images).max() > 0


def test_unknown_adain_settings_are_refused(style_run, shots):
    with pytest.raises(ValueError, match=r"Unknown AdaIN adaptation settings \['interpolation_los'\]"):
        adapt_run(style_run, shots, adain={"interpolation_los": "discriminator"})


def test_generate_cli_takes_the_options(style_run, tmp_path):
    common = ("--adapt-from", str(style_run), "--shots", "digits:9", "--num-shots", "3", "--adapt-steps", "2",
              "--perceptual-features", "none")  # fmt: skip
    out = tmp_path / "out"
    completed = run_script(
        "generate.py", *common, "--interpolation-loss", "discriminator", "--interpolation-d-width", "4",
        "--num-images", "3", "--output-dir", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list(out.glob("*.png"))) == 3
    completed = run_script("generate.py", *common, "--interpolation-loss", "content_style",
                           "--output-dir", str(tmp_path / "o2"))  # fmt: skip
    assert "perceptual_features efficientnet_lite0 or classifier" in error_message(completed)


JAX_SCRIPT = """
import jax, keras, numpy as np
assert keras.backend.backend() == "jax"
from tfgen.losses import feature_content_loss, feature_style_loss, stylegan_generator_loss
from tfgen.families.stylegan.adapt import KShotDiscriminator
rng = np.random.default_rng(0)
D = KShotDiscriminator(resolution=16, channels=1, width=4, seed=0)
images = rng.uniform(-1, 1, (3, 16, 16, 1)).astype("float32")
assert D(images).shape == (3, 1)
def g_loss(x):
    logits, _ = D.stateless_call([v.value for v in D.trainable_variables],
                                 [v.value for v in D.non_trainable_variables], x)
    return stylegan_generator_loss(logits)
grad = np.asarray(jax.jit(jax.grad(g_loss))(images))
assert grad.shape == images.shape and np.isfinite(grad).all() and np.abs(grad).max() > 0
f, t = rng.standard_normal((2, 4, 4, 3)).astype("float32"), rng.standard_normal((2, 4, 4, 3)).astype("float32")
assert abs(float(feature_content_loss(f, t)) - ((f - t) ** 2).sum(-1).mean()) < 1e-4
mf, mt = f.mean((1, 2)), t.mean((1, 2))
sf, st = np.sqrt(f.var((1, 2)) + 1e-5), np.sqrt(t.var((1, 2)) + 1e-5)
expected = (((mf - mt) ** 2).sum(-1) + ((sf - st) ** 2).sum(-1)).mean()
assert abs(float(feature_style_loss([f], [t])) - expected) < 1e-4
style_grad = np.asarray(jax.grad(lambda x: feature_style_loss([x], [t], "gram"))(f))
assert np.isfinite(style_grad).all() and np.abs(style_grad).max() > 0
print("ok")
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_discriminator_and_losses_run_under_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
