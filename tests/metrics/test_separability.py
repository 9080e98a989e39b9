"""Linear separability: the conditional entropy against hand-computed values,
the per-attribute work on synthetic latents (linear labels, random labels,
confidence pruning, skipped attributes), a tiny StyleGAN with an untrained
domain classifier in W and Z, a non-style generator in Z, errors, and the
registry entries."""

import math

import keras
import numpy as np
import pytest
from scipy.special import softmax

from tfgen.metrics.registry import GENERATOR, LATENT_CLASSES, MetricInputs, get_metric
from tfgen.metrics.separability import (
    conditional_entropy,
    generated_latents_and_probabilities,
    linear_separability,
    separability_from_latents,
    separability_measure,
)


def binary_entropy(p):
    return 0.0 if p in (0.0, 1.0) else -(p * math.log(p) + (1 - p) * math.log(1 - p))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


# ------------------------------------------------------ conditional entropy


def test_conditional_entropy_by_hand():
    # Predictions that determine the labels (even with the names swapped): 0.
    assert conditional_entropy([0, 1, 1, 0], [0, 1, 1, 0]) == 0.0
    assert conditional_entropy([0, 1, 1, 0], [1, 0, 0, 1]) == 0.0
    # Independent: every cell of the 2x2 table 1/4, so H(Y|X) = H(Y) = ln 2.
    assert conditional_entropy([0, 1, 0, 1], [0, 0, 1, 1]) == pytest.approx(math.log(2), abs=1e-12)
    # Independent, P(Y=1) = 1/4 in both halves of X: H(Y) = H(1/4).
    labels = [1, 0, 0, 0] * 2
    assert conditional_entropy(labels, [0] * 4 + [1] * 4) == pytest.approx(binary_entropy(0.25), abs=1e-12)
    # A constant prediction tells nothing: H(Y|X) = H(Y).
    assert conditional_entropy([1, 1, 1, 0, 0], [1] * 5) == pytest.approx(binary_entropy(0.4), abs=1e-12)
    # Table [[3, 1], [0, 4]] (rows X, columns Y): p(x=0) = 1/2 with Y|x=0 ~ (3/4, 1/4),
    # p(x=1) = 1/2 with Y|x=1 certain: H(Y|X) = 1/2 H(1/4).
    labels = [0, 0, 0, 1, 1, 1, 1, 1]
    predictions = [0, 0, 0, 0, 1, 1, 1, 1]
    assert conditional_entropy(labels, predictions) == pytest.approx(0.5 * binary_entropy(0.25), abs=1e-12)
    with pytest.raises(ValueError, match="same length"):
        conditional_entropy([0, 1], [0])


# ------------------------------------------- separability from arrays


def test_labels_linear_in_the_latent_are_perfectly_separable():
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((1000, 6))
    directions = rng.standard_normal((6, 3))
    probabilities = sigmoid(4.0 * (latents @ directions + 0.3))  # three linear attributes
    result = separability_from_latents(latents, probabilities, attribute_names=["a", "b", "c"])
    assert result["separability"] == pytest.approx(1.0, abs=1e-3)
    assert set(result["per_class_entropy"]) == {"a", "b", "c"} and result["skipped"] == []
    assert result["num_samples"] == 1000 and result["num_kept"] == 500


def test_two_class_softmax_of_linear_logits_is_separable():
    rng = np.random.default_rng(1)
    latents = rng.standard_normal((600, 4))
    logits = latents @ rng.standard_normal((4, 2))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert separability_from_latents(latents, probabilities)["separability"] == pytest.approx(1.0, abs=1e-3)


def test_random_labels_give_the_entropy_of_the_labels():
    rng = np.random.default_rng(2)
    num_samples, num_attributes = 4000, 3
    latents = rng.standard_normal((num_samples, 2))
    probabilities = rng.uniform(size=(num_samples, num_attributes))  # independent of the latents
    result = separability_from_latents(latents, probabilities)
    # The other way: each attribute's label entropy H(Y) on its kept half,
    # which a linear SVM on 2 unrelated dimensions cannot lower much.
    label_entropies = []
    for c in range(num_attributes):
        p = probabilities[:, c]
        kept = np.argsort(-np.maximum(p, 1 - p), kind="stable")[: num_samples // 2]
        label_entropies.append(binary_entropy(float(np.mean(p[kept] >= 0.5))))
    for c, h in enumerate(label_entropies):
        assert h - 0.01 <= result["per_class_entropy"][str(c)] <= h + 1e-12  # conditioning never adds
    assert math.log(result["separability"]) == pytest.approx(sum(label_entropies), abs=0.03)
    assert result["separability"] == pytest.approx(2.0**num_attributes, rel=0.05)  # H(Y) ~ ln 2 each


def test_the_least_confident_half_is_dropped():
    rng = np.random.default_rng(3)
    latents = rng.standard_normal((800, 3))
    latents[:, 0] += 0.5 * np.sign(latents[:, 0])  # a margin around the hyperplane x = 0
    x = latents[:, :1]
    probabilities = 0.5 + 0.5 * np.sign(x) * (0.2 + 0.8 * np.abs(np.tanh(x)))  # label: x > 0; confidence >= 0.6
    # Half the samples get labels unrelated to the latent, but less confident: the pruning drops them.
    noisy = rng.permutation(800)[:400]
    probabilities[noisy, 0] = 0.5 + rng.uniform(-0.09, 0.09, size=400)
    assert separability_from_latents(latents, probabilities)["separability"] == pytest.approx(1.0, abs=1e-3)
    # Keep everything and the noisy labels count.
    assert separability_from_latents(latents, probabilities, keep_fraction=1.0)["separability"] > 1.3


def test_an_attribute_with_one_label_is_skipped():
    rng = np.random.default_rng(4)
    latents = rng.standard_normal((400, 3))
    probabilities = np.stack([sigmoid(5.0 * latents[:, 0]), np.full(400, 0.02), rng.uniform(size=400)], axis=1)
    result = separability_from_latents(latents, probabilities, attribute_names=["x", "never", "noise"])
    assert result["skipped"] == ["never"] and set(result["per_class_entropy"]) == {"x", "noise"}
    assert result["separability"] == pytest.approx(math.exp(sum(result["per_class_entropy"].values())))
    with pytest.warns(RuntimeWarning, match="Every attribute was skipped"):
        only = separability_from_latents(latents, np.full((400, 2), 0.9))
    assert only["separability"] == 1.0 and only["skipped"] == ["0", "1"]
    with pytest.warns(RuntimeWarning, match="not finite"):
        assert np.isnan(separability_from_latents(latents, np.full((400, 1), np.nan))["separability"])


# ------------------------------------------------------- a real generator


@pytest.fixture(scope="module")
def style_generator():
    from tfgen.families.stylegan.config import StyleGANConfig
    from tfgen.registry import get_family

    config = StyleGANConfig(
        resolution=32, latent_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=4, truncation_psi=0.5
    )
    keras.utils.set_random_seed(0)  # the initial weights
    return get_family("stylegan").build_generator(config)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, style_generator):
    """An untrained 3-class domain classifier (random weights, shifted BN
    betas) whose logits layer is rescaled so that its classes split the tiny
    generator's images (untouched, its probabilities are all near 1/3: every
    class would be skipped and no SVM fitted)."""
    from tests.test_perceptual import save_random_classifier
    from tfgen.features.classifier import load_domain_classifier
    from tfgen.features.extractor import get_extractor
    from tfgen.sampling import generate
    from tfgen.weights import save_weights_atomic

    folder = save_random_classifier(tmp_path_factory.mktemp("classifier"), resolution=8)
    logits = get_extractor("classifier", path=folder)(generate(style_generator, 64, batch_size=64, seed=0))["logits"]
    model, info = load_domain_classifier(folder)
    kernel, bias = model.classify.get_weights()
    scale = 3.0 / logits.std(axis=0).mean()
    model.classify.set_weights([kernel * scale, (bias - logits.mean(axis=0)) * scale])
    save_weights_atomic(model, info.weights_path)
    return get_extractor("classifier", path=folder), folder


def test_a_tiny_stylegan_has_finite_separabilities(style_generator, classifier):
    extractor, _ = classifier
    G = style_generator
    results = {
        space: linear_separability(G, extractor, space=space, num_samples=128, batch_size=64, seed=5)
        for space in ("w", "z")
    }
    samples = generated_latents_and_probabilities(G, extractor, num_samples=128, batch_size=64, seed=5)
    for space, result in results.items():
        score = result[f"separability_{space}"]
        assert np.isfinite(score) and score >= 1.0, result
        assert result["space"] == space and result["num_samples"] == 128 and result["num_kept"] == 64
        assert set(result["per_class_entropy"]) | set(result["skipped"]) == {"a", "b", "c"}
        assert len(result["per_class_entropy"]) >= 2, result  # SVMs were fitted
        assert all(0.0 <= h <= math.log(2) + 1e-12 for h in result["per_class_entropy"].values())
        assert result["entropy_unit"] == "nats" and result["svm"] == "LinearSVC"
        # The same as the array function on the generated latents and probabilities.
        direct = separability_from_latents(samples[space], samples["probabilities"], attribute_names="abc", seed=5)
        assert score == direct["separability"]
    # Reproducible, whatever the batch size (the noise weights are 0 until trained).
    assert linear_separability(G, extractor, space="w", num_samples=128, batch_size=32, seed=5) == results["w"]
    # Not every point on its side: the SVMs' errors count.
    assert max(results["w"]["separability_w"], results["z"]["separability_z"]) > 1.0, results
    # The latents: z as tfgen.generate draws them, w = mapping(z); the images
    # without truncation (G.truncation_psi = 0.5 would change them).
    from tfgen.sampling import create_input_noise

    z = create_input_noise(128, 8, seed=5)
    np.testing.assert_allclose(samples["z"], z)
    np.testing.assert_allclose(samples["w"], np.asarray(G.mapping(z)), rtol=1e-6)
    assert samples["probabilities"].shape == (128, 3)
    np.testing.assert_allclose(samples["probabilities"].sum(axis=1), 1.0)
    from tfgen.sampling import postprocess_images

    images = postprocess_images(G.synthesize(G.map(z[:64], truncation_psi=1.0)))  # the first batch
    logits = extractor(images)["logits"].astype(np.float64)
    np.testing.assert_allclose(samples["probabilities"][:64], softmax(logits, axis=1), atol=1e-5)


@pytest.mark.filterwarnings("ignore:Every attribute was skipped")
def test_z_space_works_for_any_generator_and_w_needs_a_style_generator(classifier):
    from tfgen.families.transfer.networks import DCGANGenerator
    from tfgen.sampling import create_input_noise, postprocess_images

    extractor, _ = classifier
    G = DCGANGenerator(width=4, latent_dim=8, truncation_psi=0.5)
    result = linear_separability(G, extractor, space="z", num_samples=16, batch_size=16)
    assert np.isfinite(result["separability_z"]) and result["separability_z"] >= 1.0
    # G(z) without truncation, and the generator's truncation_psi left as it was.
    samples = generated_latents_and_probabilities(G, extractor, num_samples=4, batch_size=4, seed=0)
    assert G.truncation_psi == 0.5 and "w" not in samples
    G.truncation_psi = 1.0
    logits = extractor(postprocess_images(G(create_input_noise(4, 8, seed=0))))["logits"]
    np.testing.assert_allclose(samples["probabilities"], softmax(logits.astype(np.float64), axis=1), atol=1e-5)
    with pytest.raises(ValueError, match="style-based generator"):
        linear_separability(G, extractor, space="w", num_samples=16)
    with pytest.raises(ValueError, match="space must be one of"):
        linear_separability(G, extractor, space="s", num_samples=16)
    with pytest.raises(ValueError, match="num_samples"):
        linear_separability(G, extractor, space="z", num_samples=2)
    with pytest.raises(ValueError, match="class logits"):
        linear_separability(G, object(), space="z", num_samples=16)


# ---------------------------------------------------------------- registry


def test_the_registry_entries(style_generator, classifier):
    _, folder = classifier
    for space in ("w", "z"):
        metric = get_metric(f"separability_{space}")
        assert metric.needs == {GENERATOR, LATENT_CLASSES} and metric.lower_is_better
        assert metric.headline == f"separability_{space}"
        with pytest.raises(ValueError, match="did not supply"):
            metric.compute(MetricInputs(real_features=None, fake_features=None))
    measure = separability_measure(
        style_generator, "classifier", {"path": folder}, num_samples=16, batch_size=16, seed=1
    )
    inputs = MetricInputs(real_features=None, fake_features=None, separability=measure)
    values = get_metric("separability_w").compute(inputs)
    assert set(values) == {"separability_w", "separability_w_classes"} and values["separability_w"] >= 1.0
    assert values["separability_w"] == measure("w")["separability_w"]  # measured once per space
    with pytest.raises(ValueError, match="features='classifier'"):
        separability_measure(style_generator, "efficientnet_lite0")
    with pytest.raises(ValueError, match="--generator"):
        separability_measure(None, "classifier")
    from tfgen.families.transfer.networks import DCGANGenerator

    dcgan = DCGANGenerator(width=4, latent_dim=8)
    with pytest.raises(ValueError, match="style-based generator"):  # checked before any work
        separability_measure(dcgan, "classifier", {"path": folder}, names=["separability_w"])
    separability_measure(dcgan, "classifier", {"path": folder}, names=["separability_z"])
