"""The SLE-GAN reference's Python snippet runs verbatim with ``import tfgen as sle_gan``."""

import numpy as np
import pytest
import tensorflow as tf

import tfgen as sle_gan


@pytest.fixture
def weights_named_as_the_reference(tmp_path, monkeypatch):
    """A 512 px generator's weights saved by tfgen and renamed ``generator_weights.h5``."""
    G = sle_gan.Generator(output_resolution=512)
    G.save_weights(str(tmp_path / "saved.weights.h5"))
    (tmp_path / "saved.weights.h5").rename(tmp_path / "generator_weights.h5")
    monkeypatch.chdir(tmp_path)
    return G


def test_the_reference_snippet_runs_verbatim(weights_named_as_the_reference):
    # The reference README's snippet, unchanged:
    G = sle_gan.Generator(output_resolution=512)
    G.load_weights("generator_weights.h5")
    input_noise = sle_gan.create_input_noise(batch_size=1)
    generated_images = G(input_noise)
    generated_images = sle_gan.postprocess_images(generated_images, tf.uint8).numpy()

    assert type(generated_images) is np.ndarray and generated_images.dtype == np.uint8
    assert generated_images.shape == (1, 512, 512, 3)
    for loaded, saved in zip(G.get_weights(), weights_named_as_the_reference.get_weights()):
        np.testing.assert_array_equal(loaded, saved)


def test_a_reference_named_file_of_another_generator_is_refused(weights_named_as_the_reference):
    G = sle_gan.Generator(output_resolution=256)
    with pytest.raises(ValueError, match="does not fit"):
        G.load_weights("generator_weights.h5")


def test_postprocess_images_takes_tf_numpy_and_string_dtypes():
    images = np.array([[[[-1.0, 0.0, 1.0]]]], np.float32)
    for dtype in (tf.uint8, np.uint8, "uint8"):
        np.testing.assert_array_equal(sle_gan.postprocess_images(images, dtype), [[[[0, 128, 255]]]])
    np.testing.assert_allclose(sle_gan.postprocess_images(images, tf.float32), [[[[0.0, 0.5, 1.0]]]])
    with pytest.raises(ValueError, match="dtype must be"):
        sle_gan.postprocess_images(images, tf.int32)
