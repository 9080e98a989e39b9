"""Style moments (tfgen.families.shotmorph.restyle): measured, moved, and the prior learnt from
the training classes; and the shot-morphing generator that draws them."""

import numpy as np
import pytest
from keras import ops

from tfgen.morph import ShotMorpher
from tfgen.families.shotmorph.restyle import CX, CY, LOG_LEVEL, LOG_SX, LOG_SY, StylePrior, moments, moments_of_uint8, move_moments
from tfgen.families.shotmorph.policy import ShotPolicy, policy_generator


def gaussian_blob(cy, cx, sy, sx, corr=0.0, side=48, level=1.0, light_background=False):
    """A [side, side, 1] image in [-1, 1]: a Gaussian of ink with the given
    centroid, spreads and correlation (its exact second moments, when it fits
    well inside the image) on a dark or light background."""
    yy, xx = np.mgrid[:side, :side].astype(np.float64)
    covariance = np.array([[sy * sy, corr * sy * sx], [corr * sy * sx, sx * sx]])
    d = np.stack([yy - cy, xx - cx], -1)
    ink = level * np.exp(-0.5 * np.einsum("...i,ij,...j->...", d, np.linalg.inv(covariance), d))
    image = 1.0 - 2.0 * ink if light_background else -1.0 + 2.0 * ink
    return image[..., None].astype(np.float32)


@pytest.mark.parametrize("light_background", [False, True])
def test_moments_of_a_gaussian_are_its_parameters(light_background):
    image = gaussian_blob(20.0, 26.0, 4.0, 3.0, corr=0.4, light_background=light_background)
    found = ops.convert_to_numpy(moments(image[None]))[0]
    np.testing.assert_allclose(found[[CY, CX]], [20.0, 26.0], atol=1e-3)
    np.testing.assert_allclose(np.exp(found[[LOG_SY, LOG_SX]]), [4.0, 3.0], rtol=1e-3)
    assert found[4] == pytest.approx(0.4, abs=1e-3)
    # Ink-weighted mean ink of a Gaussian of peak 2 (in [-1, 1] units): 2 / 2.
    assert np.exp(found[LOG_LEVEL]) == pytest.approx(1.0, rel=1e-3)


def test_moving_to_the_moments_of_another_gaussian_draws_that_gaussian():
    source = gaussian_blob(20.0, 22.0, 3.0, 5.0, corr=-0.3, level=0.8)
    wanted = gaussian_blob(26.0, 24.0, 5.0, 4.0, corr=0.5, level=0.5)
    targets = moments(wanted[None])
    moved = ops.convert_to_numpy(move_moments(source[None], targets))[0]
    # Bilinear resampling blurs a little: compared pixel by pixel with the Gaussian drawn directly.
    assert np.abs(moved - wanted).max() < 0.02
    np.testing.assert_allclose(ops.convert_to_numpy(moments(moved[None]))[0], ops.convert_to_numpy(targets)[0],
                               atol=0.02)  # fmt: skip


def test_slant_is_a_horizontal_shear():
    """A new correlation with the same vertical spread and the same
    L22 = sx sqrt(1 - corr^2) moves every row of ink sideways only: the ink
    per row is unchanged (the T's bar stays level), as in an italic or a
    slanted hand."""
    ink = np.zeros((48, 48))
    ink[10:38, 22:27] = 1.0  # an upright T: a stem and a bar across its top
    ink[10:14, 13:36] = 1.0
    upright = (ink * 2.0 - 1.0)[..., None].astype(np.float32)
    current = ops.convert_to_numpy(moments(upright[None]))
    target = current.copy()
    corr = 0.6
    target[0, 4] = corr
    target[0, 3] = current[0, 3] - 0.5 * np.log(1 - corr**2)  # sx grows so that sx sqrt(1 - corr^2) stays
    slanted = ops.convert_to_numpy(move_moments(upright[None], target))[0]
    ink_rows = lambda image: (image[..., 0] + 1.0).sum(axis=1)  # noqa: E731
    np.testing.assert_allclose(ink_rows(slanted), ink_rows(upright), atol=0.02 * ink_rows(upright).max())
    assert np.abs(slanted - upright).max() > 0.3  # it did move
    assert ops.convert_to_numpy(moments(slanted[None]))[0, 4] == pytest.approx(corr, abs=0.02)


def test_colour_images_keep_their_background_and_scale_their_ink():
    blob = gaussian_blob(24.0, 24.0, 5.0, 4.0)[..., 0]  # ink in [-1, 1]
    ink = (blob + 1.0) / 2.0
    background, colour = np.array([0.6, -0.2, -0.8]), np.array([-0.9, 0.5, 0.1])
    image = (background + ink[..., None] * (colour - background))[None].astype(np.float32)
    target = ops.convert_to_numpy(moments(image))
    target[0, LOG_LEVEL] += np.log(0.5)  # half as much ink, nothing else
    moved = ops.convert_to_numpy(move_moments(image, target))[0]
    expected = background + 0.5 * ink[..., None] * (colour - background)
    np.testing.assert_allclose(moved, expected, atol=2e-3)


def test_moving_to_the_own_moments_changes_nothing():
    images = np.stack([gaussian_blob(24.0, 20.0, 4.0, 6.0, 0.2), gaussian_blob(18.0, 30.0, 3.0, 3.0, -0.5)])
    moved = ops.convert_to_numpy(move_moments(images, moments(images)))
    np.testing.assert_allclose(moved, images, atol=1e-4)


def test_style_prior_trusts_the_shots_for_moments_that_tell_classes_apart():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(8), 200)
    class_means = np.zeros((8, 6))
    class_means[:, 0] = rng.normal(0.0, 5.0, 8)  # moment 0 tells classes apart, the others do not
    styles = class_means[labels] + rng.normal(0.0, 1.0, (len(labels), 6))
    prior = StylePrior.fit(styles, labels, shots=4, max_deviations=300)
    assert prior.shot_weight[0] > 0.95 and np.all(prior.shot_weight[1:] < 0.2)
    assert prior.deviations.shape == (300, 6)
    expected_deviations = styles - np.stack([styles[labels == c].mean(0) for c in range(8)])[labels]
    assert np.abs(prior.deviations.mean(0)).max() < 0.2 and expected_deviations.std() == pytest.approx(
        prior.deviations.std(), rel=0.1)  # fmt: skip
    shot_styles = np.array([[10.0, 3.0, 3.0, 3.0, 3.0, 3.0]] * 4)
    np.testing.assert_allclose(
        prior.class_mean(shot_styles), prior.shot_weight * shot_styles[0] + (1 - prior.shot_weight) * prior.domain_mean,
        rtol=1e-5,
    )  # fmt: skip


def test_style_prior_round_trips_through_a_file(tmp_path):
    rng = np.random.default_rng(1)
    prior = StylePrior.fit(rng.normal(size=(60, 6)), np.repeat(np.arange(3), 20))
    prior.save(tmp_path / "prior.npz")
    loaded = StylePrior.load(tmp_path / "prior.npz")
    for name in ("deviations", "domain_mean", "shot_weight"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(prior, name))
    with pytest.raises(ValueError, match="at least 2 images"):
        StylePrior.fit(rng.normal(size=(3, 6)), np.arange(3))


def test_generator_draws_the_ink_level_and_pose_of_the_prior():
    side = 48
    shots = np.stack([gaussian_blob(20.0 + i, 22.0, 3.0 + i, 4.0, 0.1 * i, level=0.9) for i in range(3)])
    shots_uint8 = np.round((shots + 1) * 127.5).astype(np.uint8)
    # A prior whose deviations are all zero: every image gets the class's mean style exactly.
    prior = StylePrior(np.zeros((5, 6), np.float32), np.array([25.0, 23.0, 1.5, 1.2, 0.0, -0.4], np.float32),
                       np.zeros(6, np.float32))  # fmt: skip
    made = policy_generator(ShotMorpher.from_shots(shots_uint8), ShotPolicy(0.0, 0.0, 0.0, 0.0, 1.0, 1.0),
                            style_prior=prior)  # fmt: skip
    assert made.style_size == 5
    images = ops.convert_to_numpy(made(np.random.default_rng(2).normal(size=(6, made.latent_dim)).astype("float32")))
    assert images.shape == (6, side, side, 1)
    np.testing.assert_allclose(moments_of_uint8(np.round((images + 1) * 127.5).astype(np.uint8)),
                               np.tile(prior.domain_mean, (6, 1)), atol=0.05)  # fmt: skip
    # Ink only: the pose of each shot is kept, its ink level is the prior's.
    ink_only = policy_generator(ShotMorpher.from_shots(shots_uint8), ShotPolicy(0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
                                style_prior=prior)  # fmt: skip
    z = np.random.default_rng(3).normal(size=(6, ink_only.latent_dim)).astype("float32")
    found = ops.convert_to_numpy(moments(ink_only(z)))
    own = ops.convert_to_numpy(moments(shots))
    assert np.all(np.min(np.abs(found[:, None, CY] - own[None, :, CY]), axis=1) < 1e-3)
    np.testing.assert_allclose(found[:, LOG_LEVEL], prior.domain_mean[LOG_LEVEL], atol=0.02)
    with pytest.raises(ValueError, match="no style prior"):
        policy_generator(ShotMorpher.from_shots(shots_uint8), ShotPolicy(0.0, 0.0, 0.0, 0.0, 0.0, 1.0))
