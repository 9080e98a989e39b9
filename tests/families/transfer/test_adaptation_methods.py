"""The transfer families' other adaptation methods (tfgen/families/transfer/adapt.py):
batch statistics adaptation (``bsa``) and fine-tuning with the cross-domain
distance consistency loss (``cdc``), against NumPy references and on tiny
bases trained here, through ``tfgen.adaptation.adapt_run`` (what generate.py
and the benchmark call) and generate.py itself."""

import json

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from tests.families.transfer.test_trainer import TRAINERS, run_config, tiny_config
from tests.scripts import run_script
from tfgen.adaptation import adapt_methods, adapt_run, save_adapted
from tfgen.data.episodes import load_shots
from tfgen.families.transfer.adapt import (
    BatchStatisticsAdaptation,
    DistanceConsistency,
    chamfer_to_prior,
    distance_consistency_loss,
    off_diagonal,
)
from tfgen.families.transfer.config import BSAConfig, CDCConfig
from tfgen.families.transfer.networks import DCGANGenerator, InfoGANGenerator, fitted_gaussian
from tfgen.families.transfer.trainer import CDCGANTrainer
from tfgen.registry import get_family
from tfgen.runs import load_generator
from tfgen.sampling import generate

# The bases trained here are a few steps old: their collapse warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore:The trained generator.*failed the health check")

NO_PERCEPTUAL = BSAConfig(perceptual_features="none", steps=3)

# ----------------------------------------------------------------- the CDC loss


def reference_cdc(source_layers, target_layers):
    """The loss written out with loops: per layer, for every anchor i the
    cosine similarities to every j != i, softmaxed; KL(source || target)
    entry by entry, averaged over the N (N - 1) entries, then over layers."""
    per_layer = []
    for source, target in zip(source_layers, target_layers):
        n = len(source)
        rows_p, rows_q = [], []
        for i in range(n):
            sims_p, sims_q = [], []
            for j in range(n):
                if i == j:
                    continue
                a, b = source[i].ravel().astype(np.float64), source[j].ravel().astype(np.float64)
                sims_p.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                a, b = target[i].ravel().astype(np.float64), target[j].ravel().astype(np.float64)
                sims_q.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            rows_p.append(log_softmax(sims_p))
            rows_q.append(log_softmax(sims_q))
        log_p, log_q = np.array(rows_p), np.array(rows_q)
        per_layer.append(np.mean(np.exp(log_p) * (log_p - log_q)))
    return float(np.mean(per_layer))


def fixed_features(seed, n=5):
    rng = np.random.default_rng(seed)
    # Two layers of different shapes, like a 4x4 and an 8x8 map; a shared
    # component makes the similarities far from 0 so that the softmax is not flat.
    common = [rng.standard_normal((1, 4, 4, 6)), rng.standard_normal((1, 8, 8, 3))]
    return [(c + rng.standard_normal((n, *c.shape[1:])) * s).astype(np.float32)
            for c, s in zip(common, (0.7, 1.3))]  # fmt: skip


def test_off_diagonal_drops_the_diagonal_in_order():
    matrix = np.arange(16, dtype=np.float32).reshape(4, 4)
    expected = np.array([[1, 2, 3], [4, 6, 7], [8, 9, 11], [12, 13, 14]], np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(off_diagonal(matrix)), expected)


def test_cdc_loss_matches_the_numpy_reference():
    source, target = fixed_features(0), fixed_features(1)
    got = float(distance_consistency_loss(source, target))
    expected = reference_cdc(source, target)
    assert expected > 1e-4  # the two sets of features really disagree (cosines in [-1, 1]: a soft softmax)
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    # KL is not symmetric: the direction is the official code's, KL(source || target).
    np.testing.assert_allclose(float(distance_consistency_loss(target, source)), reference_cdc(target, source), rtol=1e-4)
    assert abs(reference_cdc(target, source) - expected) > 1e-6


def test_cdc_loss_is_zero_when_source_and_target_agree():
    features = fixed_features(2)
    assert float(distance_consistency_loss(features, features)) == pytest.approx(0.0, abs=1e-7)
    # Cosine similarities do not see a positive scale of a sample's features.
    scaled = [f * np.array([2.0, 0.5, 1.0, 3.0, 1.5], np.float32).reshape(-1, *([1] * (f.ndim - 1))) for f in features]
    assert float(distance_consistency_loss(features, scaled)) == pytest.approx(0.0, abs=1e-6)


def test_cdc_loss_differentiates_the_target_only():
    import tensorflow as tf

    source, target = fixed_features(3), fixed_features(4)
    source_v, target_v = [tf.Variable(f) for f in source], [tf.Variable(f) for f in target]
    with tf.GradientTape() as tape:
        loss = distance_consistency_loss(source_v, target_v)
    gradients = tape.gradient(loss, [*source_v, *target_v])
    assert all(g is None or not np.any(g.numpy()) for g in gradients[:2])
    assert all(g is not None and np.any(g.numpy()) for g in gradients[2:])


def test_cdc_loss_refuses_mismatched_features():
    features = fixed_features(0)
    with pytest.raises(ValueError, match="one source and one target feature map per layer"):
        distance_consistency_loss(features, features[:1])
    with pytest.raises(ValueError, match="N >= 2"):
        distance_consistency_loss([features[0][:1]], [features[0][:1]])
    with pytest.raises(ValueError, match="one shape"):
        distance_consistency_loss([features[0]], [features[0][:4]])


def test_distance_consistency_term_is_zero_for_the_base_itself():
    G = DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=3)
    copy = DCGANGenerator(resolution=32, latent_dim=8, width=4, num_classes=3)
    copy.set_weights(G.get_weights())
    term = DistanceConsistency(copy, CDCConfig(batch_size=5), labels=2)
    seeds = keras.random.SeedGenerator(0)
    assert float(term(G, seeds)) == pytest.approx(0.0, abs=1e-6)
    # A changed generator is penalised, the weight scaling the term.
    G.trunk.up_convs[0].kernel.assign(np.random.default_rng(0).normal(0, 0.05, G.trunk.up_convs[0].kernel.shape))
    assert float(term(G, seeds)) > 1e-3


# --------------------------------------------------- the BSA parameterisation


def randomised_generator(cls=DCGANGenerator, **kwargs):
    """A tiny generator whose norms have non-trivial statistics, gammas and betas."""
    G = cls(resolution=32, width=4, **kwargs)
    rng = np.random.default_rng(0)
    for bn in G.trunk.norm_layers:
        shape = bn.gamma.shape
        bn.gamma.assign(rng.uniform(0.5, 1.5, shape))
        bn.beta.assign(rng.normal(0, 0.3, shape))
        bn.moving_mean.assign(rng.normal(0, 0.05, shape))
        bn.moving_variance.assign(rng.uniform(0.001, 0.01, shape))
    return G


def uint8_shots(count=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 1)).astype(np.uint8)


@pytest.mark.parametrize("conditional", [False, True])
def test_identity_scale_and_shift_reproduce_the_base_exactly(conditional):
    G = randomised_generator(latent_dim=8, num_classes=4 if conditional else 0)
    fit = BatchStatisticsAdaptation(G, uint8_shots(), NO_PERCEPTUAL, labels=3 if conditional else None)
    z = np.random.default_rng(1).standard_normal((6, 8)).astype(np.float32)
    labels = np.full(6, 3, np.int32) if conditional else None
    base = keras.ops.convert_to_numpy(G((z, labels) if conditional else z, training=False))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(fit.images(z, labels)), base)
    # ... and a scale of 2 on the first norm is not the base.
    fit.scales[0].assign(2.0 * np.ones(fit.scales[0].shape, np.float32))
    assert np.abs(keras.ops.convert_to_numpy(fit.images(z, labels)) - base).max() > 1e-3


@pytest.mark.parametrize("cls", [DCGANGenerator, InfoGANGenerator])
def test_bsa_trains_only_its_scales_shifts_and_latents(cls):
    kwargs = dict(latent_dim=8) if cls is DCGANGenerator else dict(noise_dim=6, num_categories=3, num_continuous=1)
    G = randomised_generator(cls, **kwargs)
    before = {v.path: np.array(v.numpy()) for v in G.variables}
    fit = BatchStatisticsAdaptation(G, uint8_shots(), NO_PERCEPTUAL)
    history = fit.run(5)
    assert set(history) == {"total", "l1", "perceptual", "latent", "statistics"} and len(history["total"]) == 5
    assert np.all(np.isfinite(history["total"]))
    for v in G.variables:  # every pre-trained weight, the batch statistics included
        np.testing.assert_array_equal(v.numpy(), before[v.path], err_msg=f"{v.path} changed")
    assert len(before) >= 12
    assert all(np.any(a.numpy() != 1.0) for a in fit.scales)
    assert all(np.any(b.numpy() != 0.0) for b in fit.shifts)
    assert np.any(fit.latents.numpy() != 0.0)
    assert history["l1"][-1] < history["l1"][0]


def test_the_exported_generator_folds_the_fit_exactly():
    """The adapted DCGANGenerator: gamma, beta folded, z -> mean + std * psi * z."""
    G = randomised_generator(latent_dim=8, num_classes=4)
    fit = BatchStatisticsAdaptation(G, uint8_shots(4), NO_PERCEPTUAL, labels=3)
    fit.run(4)
    config = tiny_config("cdcgan", num_classes=4, sample_class=3, fitted_latents=4, truncation_psi=0.7)
    adapted = fit.export(get_family("cdcgan").build_generator, config)
    latents = fit.latents.numpy()
    mean, std = (keras.ops.convert_to_numpy(t) for t in fitted_gaussian(latents))
    np.testing.assert_allclose(mean, latents.mean(0), rtol=1e-6)
    np.testing.assert_allclose(std, latents.std(0, ddof=1), rtol=1e-5)
    z = np.random.default_rng(2).standard_normal((5, 8)).astype(np.float32)
    expected = fit.images(mean + std * 0.7 * z, keras.ops.full((5,), 3, "int32"))
    np.testing.assert_allclose(adapted(z, training=False), expected, atol=2e-5)
    np.testing.assert_array_equal(adapted.fitted.numpy(), latents)


def test_fitted_gaussian_of_one_latent_has_the_priors_spread():
    mean, std = fitted_gaussian(np.array([[1.0, -2.0]], np.float32))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(mean), [1.0, -2.0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(std), [1.0, 1.0])


def test_chamfer_to_prior_matches_numpy():
    rng = np.random.default_rng(0)
    latents, draws = rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((7, 5)).astype(np.float32)
    squared = ((latents[:, None] - draws[None]) ** 2).sum(-1)
    expected = squared.min(0).mean() + squared.min(1).mean()
    np.testing.assert_allclose(float(chamfer_to_prior(latents, draws)), expected, rtol=1e-5)


# ---------------------------------------------------------- end to end, tiny bases


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Tiny DCGAN, cDCGAN (9 held out) and InfoGAN bases, 2 steps each."""
    runs_dir = tmp_path_factory.mktemp("adaptation_methods")
    folders = {}
    for family in ("dcgan", "cdcgan", "infogan"):
        extra = {"test_classes": "9"} if family == "cdcgan" else {}
        trainer = TRAINERS[family](tiny_config(family, **extra), run_config(runs_dir, family), quiet=True)
        folders[family] = trainer.fit()
    return folders


@pytest.fixture(scope="module")
def shots():
    return load_shots("digits:9", shots=4, resolution=32, channels=1, seed=0)


def test_every_transfer_family_offers_the_three_methods():
    for family in ("dcgan", "cdcgan", "infogan"):
        assert adapt_methods(get_family(family)) == ("finetune", "bsa", "cdc")
    assert adapt_methods(get_family("figr")) == ("reptile",)


@pytest.mark.parametrize("family", ["dcgan", "cdcgan", "infogan"])
@pytest.mark.parametrize("method", ["bsa", "cdc"])
def test_methods_end_to_end(bases, shots, family, method, tmp_path):
    options = {"bsa": NO_PERCEPTUAL} if method == "bsa" else {"cdc": CDCConfig(batch_size=3)}
    adaptation = adapt_run(bases[family], shots, steps=2, seed=0, method=method, **options)
    images = generate(adaptation.generator, 6, seed=0)
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
    raw = keras.ops.convert_to_numpy(adaptation.generator(np.zeros((2, adaptation.generator.latent_dim), "float32")))
    assert np.all(np.isfinite(raw))
    if method == "bsa":
        assert adaptation.config.fitted_latents == 4 and adaptation.generator.fitted_latents == 4
        assert len(adaptation.losses["total"]) == 2
    if family == "cdcgan":
        assert adaptation.config.sample_class == 9
    # Saved as a run folder, it loads and draws the same images.
    folder = save_adapted(adaptation, tmp_path / "adapted")
    np.testing.assert_array_equal(generate(load_generator(folder), 6, seed=0), images)


def test_bsa_with_the_default_perceptual_features(bases, shots):
    adaptation = adapt_run(bases["cdcgan"], shots, steps=2, method="bsa")
    assert adaptation.losses["perceptual"][0] > 0
    assert generate(adaptation.generator, 2).shape == (2, 32, 32, 1)


def test_the_base_run_is_never_changed_by_bsa(bases, shots):
    before = load_generator(bases["dcgan"]).get_weights()
    adapt_run(bases["dcgan"], shots, steps=3, method="bsa", bsa=NO_PERCEPTUAL)
    after = load_generator(bases["dcgan"]).get_weights()
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def trainers(monkeypatch):
    built = []
    original = CDCGANTrainer.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        built.append(self)

    monkeypatch.setattr(CDCGANTrainer, "__init__", recording_init)
    return built


def test_cdc_fine_tuning_adds_the_term_to_g(bases, shots, trainers):
    adapt_run(bases["cdcgan"], shots, steps=1, method="cdc", cdc=CDCConfig(batch_size=4))
    (trainer,) = trainers
    assert isinstance(trainer.consistency, DistanceConsistency)
    assert trainer.consistency.labels == 9  # the new class's slot, for the base and the adapted G
    losses = trainer.train_function(next(iter(trainer.distribute(trainer.data.dataset))))
    assert "cdc" in losses and np.isfinite(float(losses["cdc"])) and float(losses["cdc"]) >= 0.0
    # Plain fine-tuning has no such term.
    adapt_run(bases["cdcgan"], shots, steps=1, method="finetune")
    assert trainers[1].consistency is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "bsa", "base_mix": 0.5}, r"Adapt method 'bsa' takes the options \['bsa'\]"),
        ({"method": "finetune", "cdc": CDCConfig()}, "Adapt method 'finetune' takes the options"),
        ({"method": "adain"}, "adapts with method 'finetune' or 'bsa' or 'cdc'"),
        ({"method": "bsa", "bsa": CDCConfig()}, "bsa takes a BSAConfig"),
        ({"method": "cdc", "cdc": BSAConfig()}, "cdc takes a CDCConfig"),
        ({"method": "bsa", "bsa": {"temperatur": 0.5}}, r"bsa takes the fields of BSAConfig. Received: \['temperatur'\]"),
        ({"method": "bsa", "bsa": BSAConfig(latent_weight=-1.0)}, "latent_weight"),
    ],
)
def test_bad_method_options_raise(bases, shots, kwargs, message):
    with pytest.raises(ValueError, match=message):
        adapt_run(bases["cdcgan"], shots, steps=1, **kwargs)


def test_method_settings_may_be_a_dict_of_fields(bases, shots):
    """As the benchmark's JSON-written Method.adapt holds them; the temperature reaches the generator."""
    adaptation = adapt_run(bases["dcgan"], shots, steps=1, method="bsa",
                           bsa={"perceptual_features": "none", "temperature": 0.5})  # fmt: skip
    assert adaptation.generator.truncation_psi == 0.5 and adaptation.config.truncation_psi == 0.5
    assert generate(adaptation.generator, 2).shape == (2, 32, 32, 1)


def test_bsa_temperature_is_refused_for_infogan(bases, shots):
    with pytest.raises(ValueError, match="temperature applies to DCGAN and cDCGAN runs"):
        adapt_run(bases["infogan"], shots, steps=1, method="bsa", bsa=BSAConfig(perceptual_features="none",
                                                                                temperature=0.5))  # fmt: skip


@pytest.mark.parametrize("method", ["bsa", "cdc"])
def test_generate_py_adapts_with_the_method(bases, tmp_path, method):
    completed = run_script(
        "generate.py", "--adapt-from", bases["cdcgan"], "--shots", "digits:9", "--method", method,
        "--adapt-steps", "2", "--num-images", "3", "--output-dir", str(tmp_path / "out"),
        "--save-adapted", str(tmp_path / "adapted"),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("*.png"))) == 3
    model = json.loads((tmp_path / "adapted" / "config.json").read_text())["model"]
    assert model["sample_class"] == 9 and model["fitted_latents"] == (4 if method == "bsa" else 0)
