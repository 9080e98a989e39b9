"""AdaIN adaptation (tfgen.families.stylegan.adapt) of a tiny StyleGAN run to
shots of the held-out digit."""

import dataclasses
import hashlib
import os

import numpy as np
import pytest
from keras import ops

import tfgen
from tfgen.config import RunConfig
from tfgen.families.stylegan.config import AdaINAdaptConfig
from tfgen.runs import load_generator
from tfgen.sampling import generate
from tfgen.adaptation import adapt_run, read_meta_run, save_adapted
from tfgen.families.stylegan.adapt import adapt_adain, affine_variables

L1_ONLY = AdaINAdaptConfig(steps=2, perceptual_features="none")


def by_path(model):
    return {v.path.split("/", 1)[-1]: np.array(v.numpy()) for v in model.variables}


def file_digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_only_the_adain_maps_and_latents_change(style_run, shots):
    source = load_generator(style_run)
    before = by_path(source)
    result = adapt_run(style_run, shots, adain=dataclasses.replace(L1_ONLY, steps=3), seed=0)
    adapted = result.generator
    affine = {v.path.split("/", 1)[-1] for v in affine_variables(adapted)}
    assert affine, "the generator exposes its AdaIN affine maps"
    after = by_path(adapted)
    changed = {name for name, value in before.items() if name in after and not np.array_equal(value, after[name])}
    seed_states = {name for name in changed if "seed_generator" in name}
    # Bit-identical frozen weights; every affine map trained.
    assert changed - seed_states <= affine
    assert affine <= changed
    assert np.asarray(adapted.fitted).shape == (4, 8)


def test_latents_alone_leave_every_weight_frozen(style_run, shots):
    before = by_path(load_generator(style_run))
    config = dataclasses.replace(L1_ONLY, steps=3, update_adain=False)
    adapted = adapt_run(style_run, shots, adain=config).generator
    after = by_path(adapted)
    for name, value in before.items():
        if "seed_generator" not in name and name in after:
            np.testing.assert_array_equal(after[name], value, err_msg=name)


def test_the_loss_decreases(style_run, shots):
    config = dataclasses.replace(L1_ONLY, steps=40, latent_learning_rate=0.05, adain_learning_rate=0.01)
    losses = adapt_run(style_run, shots, adain=config, seed=1).losses
    assert len(losses["total"]) == 40
    assert np.mean(losses["total"][-5:]) < 0.9 * np.mean(losses["total"][:5])
    assert all(v > 0 for v in losses["interpolation"])


def test_interpolation_loss_can_be_switched_off(style_run, shots):
    config = dataclasses.replace(L1_ONLY, interpolation_weight=0.0)
    losses = adapt_run(style_run, shots, adain=config).losses
    assert losses["interpolation"] == [0.0, 0.0]
    np.testing.assert_allclose(losses["total"], losses["l1"], rtol=1e-6)


def test_the_perceptual_term_weighs_alpha(style_run, shots):
    def squared(a, b):  # a stand-in distance: per-image mean squared difference
        return ops.mean(ops.square(a - b), axis=(1, 2, 3))

    config = dataclasses.replace(L1_ONLY, steps=1, perceptual_weight=0.25, perceptual_features="efficientnet_lite0")
    # A distance of the test's own: adapt_adain, on the run read and the shots checked as adapt_run does.
    losses = adapt_adain(read_meta_run(style_run), shots, config=config, distance=squared).losses
    assert losses["perceptual"][0] > 0
    expected = 0.25 * losses["perceptual"][0] + 0.75 * losses["l1"][0]
    assert losses["reconstruction"][0] == pytest.approx(expected, rel=1e-5)


def test_adapted_generator_round_trips_through_weights_h5(style_run, shots, tmp_path):
    weights_before = file_digest(style_run / "generator_ema.weights.h5")
    adaptation = adapt_run(style_run, shots, adain=L1_ONLY)
    generator = adaptation.generator
    assert len(adaptation.losses["total"]) == 2
    assert file_digest(style_run / "generator_ema.weights.h5") == weights_before  # the run is read only
    # tfgen.adapt is the same fit (to float rounding: a pixel may differ by one level).
    again = generate(tfgen.adapt(style_run, shots, adain=L1_ONLY), 2).astype(int)
    np.testing.assert_allclose(again, generate(generator, 2).astype(int), atol=1)
    folder = save_adapted(adaptation, tmp_path / "adapted")
    reloaded = load_generator(folder)
    assert reloaded.sampling == "interpolate"
    np.testing.assert_array_equal(generate(reloaded, 6, seed=3), generate(generator, 6, seed=3))
    reloaded.sampling = generator.sampling = "random"
    np.testing.assert_array_equal(generate(reloaded, 3, seed=4), generate(generator, 3, seed=4))


def test_steps_override_and_random_sampling(style_run, shots):
    adaptation = adapt_run(style_run, shots, steps=3, adain=dataclasses.replace(L1_ONLY, sampling="random"))
    assert len(adaptation.losses["total"]) == 3 and adaptation.generator.sampling == "random"


def test_errors(style_run, shots, tmp_path):
    with pytest.raises(ValueError, match="at least 2 shots"):
        adapt_run(style_run, shots[:1], adain=L1_ONLY)
    adapt_run(style_run, shots[:1], adain=dataclasses.replace(L1_ONLY, sampling="random"))  # fine
    with pytest.raises(ValueError, match="adapts with method 'adain'"):
        adapt_run(style_run, shots, method="reptile")
    with pytest.raises(ValueError, match=r"\[n, 32, 32, 1\]"):
        adapt_run(style_run, np.zeros((3, 32, 32, 3), np.uint8), adain=L1_ONLY)
    with pytest.raises(ValueError, match="feature_weights"):
        AdaINAdaptConfig(perceptual_features="classifier").validate()
    with pytest.raises(ValueError, match="perceptual_weight"):
        AdaINAdaptConfig(perceptual_weight=1.5).validate()


def test_a_non_stylegan_run_is_refused(tmp_path, shots):
    from tfgen.families.figr.config import FIGRConfig
    from tfgen.runs import save_run_config

    os.makedirs(tmp_path / "figr")
    save_run_config(str(tmp_path / "figr" / "config.json"), "figr", FIGRConfig(), RunConfig())
    with pytest.raises(ValueError, match="A figr run's adaptation takes the options"):
        adapt_run(tmp_path / "figr", shots, adain=L1_ONLY)
