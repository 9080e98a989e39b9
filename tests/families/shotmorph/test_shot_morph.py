"""Shot morphing: registration (tfgen.morph), the Keras generator, the policy
fit on the training classes and the train.py / tfgen.adapt path."""

import dataclasses
import math
import os

import numpy as np
import pytest

import tfgen
from tfgen.config import RunConfig
from tfgen.families.shotmorph.config import ShotMorphConfig
from tfgen.runs import load_run_config
from tfgen.features.extractor import FeatureExtractor
from tfgen.families.shotmorph.networks import LATENT_DIM, Z_KIND, Z_PICK, Z_T, ShotMorphGenerator, warp as keras_warp
from tfgen.morph import ShotMorpher, ordered_pairs, register, registration_loss, shots_and_morphs, warp
from tfgen.families.shotmorph.restyle import StylePrior
from tfgen.families.shotmorph.policy import ShotPolicy, fit_policy, flow_bank, policy_generator


def blobs(count, side=32, seed=0):
    """Smooth random grey images in [-1, 1], [count, side, side, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    images = np.zeros((count, side, side), np.float32)
    for index in range(count):
        for _ in range(3):
            cy, cx = rng.uniform(8, side - 8, 2)
            images[index] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(2, 4) ** 2))
    return (np.clip(images, 0, 1) * 2 - 1)[..., None]


def to_uint8(images):
    return np.round((images + 1) * 127.5).clip(0, 255).astype(np.uint8)


# --- registration ------------------------------------------------------------


def test_registration_gradient_matches_finite_differences():
    images = blobs(3)
    rng = np.random.default_rng(1)
    coarse = rng.normal(0, 0.7, (3, 8, 8, 2)).astype(np.float32)
    fixed = np.roll(images, 1, axis=1)
    _, grad = registration_loss(images, fixed, coarse, 0.05)
    for _ in range(8):
        index = tuple(rng.integers(0, size) for size in coarse.shape)
        plus, minus = coarse.copy(), coarse.copy()
        plus[index] += 1e-3
        minus[index] -= 1e-3
        numeric = (registration_loss(images, fixed, plus, 0.05)[0] - registration_loss(images, fixed, minus, 0.05)[0]) / 2e-3
        assert grad[index] == pytest.approx(numeric, rel=0.05, abs=1e-6)


def test_register_recovers_a_shift():
    images = blobs(2)
    shifted = np.roll(images, 2, axis=2)  # shifted(p) = images(p - 2 columns)
    flow = register(images, shifted)
    centre = flow[:, 8:24, 8:24]
    np.testing.assert_allclose(centre[..., 1].mean(), -2.0, atol=0.1)
    np.testing.assert_allclose(centre[..., 0].mean(), 0.0, atol=0.1)
    assert np.mean((warp(images, flow) - shifted) ** 2) < 0.05 * np.mean((images - shifted) ** 2)


def test_warp_is_a_shift_for_a_constant_flow_and_keras_agrees_with_numpy():
    images = blobs(2)
    flow = np.zeros((2, 32, 32, 2), np.float32)
    flow[..., 0] = 3.0  # out(p) = in(p + 3 rows)
    np.testing.assert_allclose(warp(images, flow)[:, :29], images[:, 3:], atol=1e-6)
    random_flow = np.random.default_rng(2).normal(0, 4, (2, 32, 32, 2)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(keras_warp(images, random_flow)), warp(images, random_flow), atol=1e-5)


# --- the generator -----------------------------------------------------------


@pytest.fixture(scope="module")
def morpher():
    return ShotMorpher.from_shots(to_uint8(blobs(3, seed=5)))


def test_generator_without_morphs_or_augmentation_draws_the_shots(morpher):
    generator = policy_generator(morpher, ShotPolicy(morph_share=0.0, strength=0.0))
    images = tfgen.generate(generator, 30, seed=0)
    shots = to_uint8(morpher.shots)
    matches = (images[:, None] == shots[None]).all(axis=(2, 3, 4))
    assert matches.any(axis=1).all()  # every image is a shot ...
    assert matches.any(axis=0).all()  # ... and every shot is drawn


def test_morphs_start_at_the_first_shot_of_their_pair(morpher):
    generator = policy_generator(morpher, ShotPolicy(morph_share=1.0, strength=0.0))
    z = np.random.default_rng(0).standard_normal((12, LATENT_DIM)).astype(np.float32)
    z[:, Z_T] = -9.0  # t = Phi(-9) ~ 0: the first shot of the pair, unmoved
    z[:, Z_KIND] = -9.0
    images = np.asarray(generator(z))
    pairs = np.array(ordered_pairs(3))
    uniform = np.array([0.5 * (1 + math.erf(value / math.sqrt(2))) for value in z[:, Z_PICK]])
    picked = pairs[np.minimum((uniform * len(pairs)).astype(int), len(pairs) - 1)]
    np.testing.assert_allclose(images, morpher.shots[picked[:, 0]], atol=1e-4)


def test_generator_is_reproducible_and_round_trips_through_weights(morpher, tmp_path):
    generator = policy_generator(morpher, ShotPolicy(morph_share=0.5, strength=1.0, reach=0.5))
    first = tfgen.generate(generator, 40, batch_size=40, seed=7)
    np.testing.assert_array_equal(first, tfgen.generate(generator, 40, batch_size=16, seed=7))
    assert not np.array_equal(first, tfgen.generate(generator, 40, seed=8))
    path = str(tmp_path / "g.weights.h5")
    generator.save_weights(path)
    reloaded = ShotMorphGenerator(resolution=32, channels=1, num_shots=3, morph_share=0.5, strength=1.0, reach=0.5)
    reloaded.load_weights(path)
    np.testing.assert_array_equal(first, tfgen.generate(reloaded, 40, batch_size=40, seed=7))
    archive = str(tmp_path / "g.keras")
    generator.save(archive)
    np.testing.assert_array_equal(first, tfgen.generate(tfgen.load_generator(archive), 40, batch_size=40, seed=7))


def test_bank_flows_deform_the_shots(morpher):
    bank = np.zeros((2, 32, 32, 2), np.float32)
    bank[..., 1] = 4.0  # both flows: 4 pixels to the right
    generator = policy_generator(morpher, ShotPolicy(morph_share=0.0, strength=0.0, bank_scale=0.5), bank)
    z = np.random.default_rng(0).standard_normal((6, LATENT_DIM)).astype(np.float32)
    uniform = np.array([0.5 * (1 + math.erf(value / math.sqrt(2))) for value in z[:, Z_PICK]])
    shots = morpher.shots[np.minimum((uniform * 3).astype(int), 2)]
    np.testing.assert_allclose(np.asarray(generator(z)), warp(shots, 0.5 * bank[:1].repeat(6, 0)), atol=1e-5)
    with pytest.raises(ValueError, match="no bank was given"):
        policy_generator(morpher, ShotPolicy(0.0, 0.0, bank_scale=0.5))


def test_flow_bank_registers_pairs_within_each_class():
    images = to_uint8(np.concatenate([blobs(5, seed=1), blobs(5, seed=2)]))
    labels = np.repeat([3, 7], 5)
    flows, owners = flow_bank(images, labels, pairs_per_class=6)
    assert flows.shape == (12, 32, 32, 2) and list(owners) == [3] * 6 + [7] * 6
    assert np.abs(flows).max() > 0.5  # different images of a class: real deformations


def test_generator_rejects_bad_settings():
    with pytest.raises(ValueError, match="morph_share"):
        ShotMorphGenerator(resolution=32, morph_share=1.5)
    generator = ShotMorphGenerator(resolution=32, num_shots=2)
    with pytest.raises(ValueError, match="holds 2 shots"):
        generator.set_shots(ShotMorpher.from_shots(to_uint8(blobs(3))))


# --- the policy fit ----------------------------------------------------------


class CentroidExtractor(FeatureExtractor):
    """Features: the centre of mass of the image (a stand-in for a trained
    classifier that sees where things are)."""

    name, feature_dim, fingerprint = "centroid", 2, "centroid"

    def _extract(self, images):
        grey = images[..., 0].astype(np.float32) + 1e-3
        rows, cols = np.mgrid[: grey.shape[1], : grey.shape[2]]
        mass = grey.sum(axis=(1, 2))
        return {"features": np.stack([(grey * rows).sum(axis=(1, 2)) / mass, (grey * cols).sum(axis=(1, 2)) / mass], 1)}


def test_fit_policy_learns_from_the_classes_whether_they_vary():
    """Classes whose images are copies of one image want no augmentation;
    classes whose images are the image shifted about want it."""
    rng = np.random.default_rng(0)
    copies = np.repeat(blobs(8, seed=20), 60, axis=0)
    shifted = np.stack([np.roll(image, tuple(rng.integers(-3, 4, 2)), axis=(0, 1)) for image in copies])
    labels = np.repeat(np.arange(8), 60)
    candidates = (ShotPolicy(0.0, 0.0), ShotPolicy(0.0, 1.0))
    for images, expected in ((copies, candidates[0]), (shifted, candidates[1])):
        policy, scores = fit_policy(to_uint8(images), labels, CentroidExtractor(), seeds=(0, 1, 2), num_images=60,
                                    candidates=candidates)  # fmt: skip
        assert policy == expected, scores


def test_fit_policy_says_when_classes_are_too_small():
    with pytest.raises(ValueError, match="at least 24 images"):
        fit_policy(to_uint8(blobs(10)), np.zeros(10, int), CentroidExtractor())


# --- train.py's trainer and tfgen.adapt ---------------------------------------


def test_train_adapt_save_and_load(tmp_path):
    from tfgen.adaptation import adapt_run, save_adapted
    from tfgen.families.shotmorph.trainer import POLICY_FILE, ShotPolicyTrainer

    config = ShotMorphConfig(train_classes="1,2,3", test_classes="9", classifier_epochs=1, fit_seeds=1)
    run = RunConfig(name="morph", runs_dir=str(tmp_path), data="digits", steps=0)
    run_dir = ShotPolicyTrainer(config, run, quiet=True).fit()
    policy_path = os.path.join(run_dir, POLICY_FILE)
    assert os.path.isfile(policy_path)
    written = os.path.getmtime(policy_path)
    ShotPolicyTrainer(config, run, quiet=True).fit()  # finished: nothing to do
    assert os.path.getmtime(policy_path) == written

    adaptation = adapt_run(run_dir, "digits:9", num_shots=3, seed=1)
    generator = adaptation.generator
    _, fitted, _ = load_run_config(os.path.join(run_dir, "config.json"))
    assert ShotPolicy.of(generator) == ShotPolicy.of(fitted)
    assert generator.num_shots == 3
    with np.load(os.path.join(run_dir, "flow_bank.npz")) as bank:
        assert sorted(set(bank["labels"])) == [0, 1, 2]  # the three training classes, never the held-out 9
        assert generator.bank_size == (len(bank["flows"]) if fitted.bank_scale > 0 else 0)
    images = tfgen.generate(generator, 20, seed=4)
    saved = save_adapted(adaptation, str(tmp_path / "adapted"))
    np.testing.assert_array_equal(images, tfgen.generate(tfgen.load_generator(saved), 20, seed=4))
    with pytest.raises(ValueError, match="no adaptation steps"):
        adapt_run(run_dir, "digits:9", steps=5)
    prior = StylePrior.load(os.path.join(run_dir, "style_prior.npz"))  # of the training classes' images
    assert generator.style_size == (len(prior.deviations) if ShotPolicy.of(fitted).restyles else 0)
    assert adaptation.config == dataclasses.replace(
        fitted, num_shots=3, bank_size=generator.bank_size, style_size=generator.style_size
    )


def _ink_column(images):
    """Mean column of the ink of each image [n, H, W, 1] in [-1, 1]."""
    ink = (images[..., 0] + 1.0) / 2.0
    return (ink.sum(axis=1) * np.arange(images.shape[2])).sum(axis=1) / ink.sum(axis=(1, 2))


def test_shots_and_morphs_adds_in_betweens_of_the_shots():
    shots = np.zeros((2, 32, 32, 1), np.uint8)
    shots[0, 8:24, 6:12] = 255  # a bar at columns 6-11 (centre 8.5) ...
    shots[1, 8:24, 16:22] = 255  # ... and the same bar 10 px to the right (centre 18.5)
    images = shots_and_morphs(shots, count=32, seed=0)
    assert images.shape == (32, 32, 32, 1) and images.dtype == np.float32
    np.testing.assert_array_equal(images[:2], shots.astype(np.float32) / 127.5 - 1.0)
    morphs = images[2 : 2 + 10]  # (32 - 2) // 3 morphs, unaugmented, follow the shots
    columns = _ink_column(morphs)
    # Each slides the bar between its two positions (a cross-fade would leave two half-bright bars):
    # the ink's centre in between, and no column of the two bars at full brightness in one image.
    assert (columns > 8.0).all() and (columns < 19.0).all() and np.ptp(columns) > 3.0
    both = (morphs[:, 16, 8] > 0.9) & (morphs[:, 16, 19] > 0.9)
    assert not both.any()
    ink = ((morphs + 1) / 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(ink, 96.0, rtol=0.2)  # the bar's 16 x 6 pixels, moved not smeared
    np.testing.assert_array_equal(shots_and_morphs(shots, count=32, seed=0), images)
    np.testing.assert_array_equal(shots_and_morphs(shots[:1], count=4, seed=0)[:1], images[:1])  # one shot: no pair
    with pytest.raises(ValueError, match="count >= n"):
        shots_and_morphs(shots, count=1)
