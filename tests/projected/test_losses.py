"""Projected GAN's hinge loss on hand values, and its DiffAugment (cutout 0.2)."""

import keras
import numpy as np
import pytest

from tfgen.augment import diff_augment as plain_diff_augment
from tfgen.errors import InputError
from tfgen.losses import hinge_generator_loss
from tfgen.projected import diff_augment, hinge_fake_loss, hinge_real_loss

LOGITS = np.array([[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]], "float32")


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_hinge_losses_have_the_hand_values():
    # relu(1 - x): 3, 1.5, 1, 0.5, 0, 0 -> mean 6 / 6; relu(1 + x): 0, 0.5, 1, 1.5, 2, 4 -> 9 / 6.
    assert float(hinge_real_loss(LOGITS)) == pytest.approx(1.0)
    assert float(hinge_fake_loss(LOGITS)) == pytest.approx(1.5)
    assert float(hinge_generator_loss(LOGITS)) == pytest.approx(-2 / 6)  # -mean, the generator's


def test_hinge_losses_are_float32_from_bfloat16_logits():
    logits = keras.ops.cast(LOGITS, "bfloat16")
    assert keras.backend.standardize_dtype(hinge_real_loss(logits).dtype) == "float32"
    assert float(hinge_fake_loss(logits)) == pytest.approx(1.5)


def test_cutout_zeroes_a_square_of_a_fifth_of_the_side():
    images = np.ones((16, 64, 64, 3), "float32")
    out = _np(diff_augment(images, "cutout", seed=0))
    side = int(64 * 0.2 + 0.5)  # 13
    zeros = (out[..., 0] == 0).sum(axis=(1, 2))
    assert zeros.max() == side * side and zeros.min() > 0
    # DiffAugment's own cutout is half the side.
    plain = _np(plain_diff_augment(images, "cutout", seed=0))
    assert (plain[..., 0] == 0).sum(axis=(1, 2)).max() == 32 * 32


def test_policy_order_seeds_and_the_empty_policy():
    images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    policy = "color,translation,cutout"
    np.testing.assert_array_equal(_np(diff_augment(images, policy, seed=5)), _np(diff_augment(images, policy, seed=5)))
    assert not np.array_equal(_np(diff_augment(images, policy, seed=5)), _np(diff_augment(images, policy, seed=6)))
    np.testing.assert_array_equal(_np(diff_augment(images, "", seed=5)), images)
    generator = keras.random.SeedGenerator(1)
    assert not np.array_equal(_np(diff_augment(images, policy, seed=generator)),
                              _np(diff_augment(images, policy, seed=generator)))  # fmt: skip
    with pytest.raises(InputError, match="Unknown DiffAugment policy"):
        diff_augment(images, "zoom")
