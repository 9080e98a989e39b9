"""The base health check: collapse is reported, healthy sets are not."""

import json
import os

import numpy as np
import pytest

from tfgen.training.health import HEALTH_FILE, base_health, collapse_message, pooled_pixels, write_health


def _digits_32(count):
    from tfgen.data.images import load_labelled

    data = load_labelled("digits", resolution=32)
    return data.images[:count, :, :, :1]


def test_pooled_pixels_is_the_block_mean():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 32, 32, 1), dtype=np.uint8)
    expected = np.array([[images[n, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, 0].mean() / 255.0
                          for i in range(16) for j in range(16)] for n in range(3)])  # fmt: skip
    np.testing.assert_allclose(pooled_pixels(images), expected, atol=1e-12)
    # floats in [-1, 1] map to the same features as their uint8 values
    np.testing.assert_allclose(pooled_pixels(images.astype(np.float32) / 127.5 - 1.0), expected, atol=1e-6)


def test_real_images_against_other_real_images_are_healthy():
    images = _digits_32(600)
    health = base_health(images[:300], images[300:])
    assert not health["collapsed"]
    assert health["recall"] > 0.5 and 0.8 < health["diversity_ratio"] < 1.25


def test_a_few_repeated_images_are_reported_collapsed():
    images = _digits_32(600)
    collapsed = np.repeat(images[:3], 100, axis=0)  # three modes
    health = base_health(collapsed, images[300:])
    assert health["collapsed"]
    assert health["recall"] < 0.05


def test_samples_unlike_the_training_images_fail_on_recall_and_precision():
    images = _digits_32(600)
    drifted = np.roll(images[:300], 12, axis=2)  # as varied as digits, but none where digits are
    health = base_health(drifted, images[300:])
    assert health["collapsed"] and health["diversity_ratio"] >= 0.6  # caught by recall alone
    assert health["recall"] < 0.05 and health["precision"] < 0.05
    message = collapse_message(health, "runs/x")
    assert "failed the health check" in message and "recall" in message and "precision" in message


def test_health_file_is_written_atomically(tmp_path):
    write_health(str(tmp_path), {"recall": 0.5})
    with open(os.path.join(tmp_path, HEALTH_FILE)) as f:
        assert json.load(f) == {"recall": 0.5}
    assert os.listdir(tmp_path) == [HEALTH_FILE]


def test_collapse_warning_from_check_base(tmp_path):
    from tfgen.training.health import check_base

    images = _digits_32(200)

    import keras

    first = images[:1].astype(np.float32) / 127.5 - 1.0

    class Constant(keras.Model):  # a "generator" that always draws the first image
        latent_dim = 4

        def call(self, z, training=False):
            return keras.ops.zeros_like(z[:, :1, None, None]) + first

    with pytest.warns(UserWarning, match="failed the health check"):
        health = check_base(Constant(), images, str(tmp_path), num_images=100)
    assert health["collapsed"] and os.path.isfile(os.path.join(tmp_path, HEALTH_FILE))
