"""Folder loading and the tf.data pipeline of tfgen.data."""

import os
import threading
import time
import warnings

import numpy as np
import pytest
from PIL import Image

from tfgen.data import load_image_dataset, load_images, load_labelled
from tfgen.data.images import find_image_files

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _solid(color, size=(12, 10)):
    return Image.new("RGB", size, color)


def _noise_images(folder, count, size=8, seed=0):
    """``count`` random RGB PNGs (no left-right symmetry); returns their arrays."""
    rng = np.random.default_rng(seed)
    arrays = rng.integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)
    os.makedirs(folder, exist_ok=True)
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(os.path.join(folder, f"{i:03d}.png"))
    return arrays


def _batches(data, count):
    return np.stack([b.numpy() for b in data.dataset.take(count)])


def test_every_format_is_read_recursively_and_other_files_ignored(tmp_path):
    _solid(RED).save(tmp_path / "a.png")
    _solid(GREEN).save(tmp_path / "b.JPG", quality=95)
    _solid(BLUE).convert("P").save(tmp_path / "c.gif")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _solid((200, 100, 50)).save(tmp_path / "sub" / "d.bmp")
    _solid((10, 20, 30)).save(tmp_path / "sub" / "e.webp", lossless=True)

    images = load_images(tmp_path, resolution=8)

    assert images.shape == (5, 8, 8, 3) and images.dtype == np.uint8
    expected = np.array([RED, GREEN, BLUE, (200, 100, 50), (10, 20, 30)], np.float64)
    np.testing.assert_allclose(images.mean(axis=(1, 2)), expected, atol=3)  # JPEG is lossy


def test_animated_gif_uses_its_first_frame(tmp_path):
    frames = [_solid(RED).convert("P"), _solid(BLUE).convert("P")]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    images = load_images(tmp_path, resolution=4)
    np.testing.assert_array_equal(images[0], np.broadcast_to(RED, (4, 4, 3)))


def test_grey_palette_rgba_and_16_bit_become_rgb(tmp_path):
    Image.new("L", (6, 6), 100).save(tmp_path / "a_grey.png")
    palette = Image.new("RGB", (6, 6), (30, 60, 90)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(tmp_path / "b_palette.png")
    rgba = np.zeros((6, 6, 4), np.uint8)
    rgba[:, :3] = (0, 0, 0, 0)  # fully transparent black -> white
    rgba[:, 3:] = (200, 10, 10, 255)  # opaque red stays red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c_rgba.png")
    Image.fromarray(np.full((6, 6), 65535, np.uint16)).save(tmp_path / "d_16bit.png")
    Image.new("LA", (6, 6), (0, 128)).save(tmp_path / "e_grey_alpha.png")

    images = load_images(tmp_path, resolution=6)

    assert images.shape == (5, 6, 6, 3)
    np.testing.assert_array_equal(images[0], np.full((6, 6, 3), 100))
    np.testing.assert_array_equal(images[1], np.broadcast_to((30, 60, 90), (6, 6, 3)))
    np.testing.assert_array_equal(images[2][:, :3], np.full((6, 3, 3), 255))
    np.testing.assert_array_equal(images[2][:, 3:], np.broadcast_to((200, 10, 10), (6, 3, 3)))
    np.testing.assert_array_equal(images[3], np.full((6, 6, 3), 255))
    # Black at alpha 128/255 over white: 255 * (1 - 128/255) = 127.
    np.testing.assert_allclose(images[4], np.full((6, 6, 3), 127), atol=1)


@pytest.mark.parametrize("landscape", [True, False])
def test_resize_keeps_the_centre_square(tmp_path, landscape):
    # Thirds red | green | blue along the long side: the crop is all green.
    thirds = np.zeros((30, 90, 3), np.uint8)
    thirds[:, :30], thirds[:, 30:60], thirds[:, 60:] = RED, GREEN, BLUE
    if not landscape:
        thirds = thirds.transpose(1, 0, 2)
    Image.fromarray(thirds).save(tmp_path / "thirds.png")
    crop = load_images(tmp_path, resolution=30)[0]
    np.testing.assert_array_equal(crop, np.broadcast_to(GREEN, (30, 30, 3)))


@pytest.mark.parametrize("landscape", [True, False])
def test_resize_and_crop_match_numpy_on_a_gradient(tmp_path, landscape):
    # A ramp 2 * x + 10 along the long side. Shrinking 3x with a symmetric
    # filter reproduces a linear ramp, so output pixel j of the centre crop
    # (source columns 30..59) must equal the ramp at its centre 31 + 3 j.
    ramp = 2.0 * np.arange(90) + 10.0
    image = np.zeros((30, 90, 3), np.uint8)
    image[..., 1] = ramp[None, :]
    if not landscape:
        image = image.transpose(1, 0, 2)
    Image.fromarray(image).save(tmp_path / "ramp.png")

    green = load_images(tmp_path, resolution=10)[0, ..., 1].astype(np.float64)

    expected = 2.0 * (31 + 3 * np.arange(10)) + 10.0
    expected = np.broadcast_to(expected[None, :] if landscape else expected[:, None], (10, 10))
    np.testing.assert_allclose(green, expected, atol=1.0)


def test_corrupt_and_truncated_files_are_skipped_with_a_warning(tmp_path):
    _noise_images(tmp_path, 2)
    (tmp_path / "garbage.png").write_bytes(b"this is not a png at all" * 10)
    good_bytes = (tmp_path / "000.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good_bytes[: len(good_bytes) // 2])

    with pytest.warns(UserWarning) as record:
        images = load_images(tmp_path, resolution=8)

    assert len(images) == 2
    messages = " ".join(str(w.message) for w in record)
    assert "garbage.png" in messages and "truncated.png" in messages


def test_missing_folder_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"(?s)does not exist.*digits"):
        load_image_dataset(tmp_path / "nowhere", resolution=8, batch_size=2)


def test_folder_without_readable_images_says_how_many_were_found(tmp_path):
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"Found 0 readable images"):
        load_image_dataset(tmp_path, resolution=8, batch_size=2)


def test_fewer_images_than_batch_size_is_an_error(tmp_path):
    _noise_images(tmp_path, 3)
    with pytest.raises(ValueError, match=r"Found 3 images .* fewer than batch_size=4"):
        load_image_dataset(tmp_path, resolution=8, batch_size=4)


@pytest.mark.parametrize("bad", [{"resolution": 0}, {"resolution": 8.5}, {"batch_size": 0}])
def test_bad_sizes_are_rejected(tmp_path, bad):
    _noise_images(tmp_path, 2)
    with pytest.raises(ValueError, match="Received"):
        load_image_dataset(tmp_path, **{"resolution": 8, "batch_size": 2, **bad})


def test_batches_are_float32_in_minus_one_one(tmp_path):
    arrays = _noise_images(tmp_path, 4)
    data = load_image_dataset(tmp_path, resolution=8, batch_size=2, shuffle=False, flip=False)

    batches = _batches(data, 4)

    assert data.num_images == 4 and data.steps_per_epoch == 2
    assert batches.dtype == np.float32 and batches.shape == (4, 2, 8, 8, 3)
    assert batches.min() >= -1.0 and batches.max() <= 1.0
    expected = arrays.astype(np.float32) / 127.5 - 1.0
    two_epochs = np.concatenate([expected, expected])
    np.testing.assert_allclose(batches.reshape(-1, 8, 8, 3), two_epochs, atol=1e-6)


def test_flip_mirrors_some_images_and_nothing_else(tmp_path):
    arrays = _noise_images(tmp_path, 4).astype(np.float32) / 127.5 - 1.0
    data = load_image_dataset(tmp_path, resolution=8, batch_size=4, shuffle=False, flip=True)

    images = _batches(data, 10).reshape(10, 4, 8, 8, 3)

    flipped = 0
    for batch in images:
        for image, original in zip(batch, arrays):
            same = np.allclose(image, original, atol=1e-6)
            mirrored = np.allclose(image, original[:, ::-1], atol=1e-6)
            assert same or mirrored
            flipped += mirrored
    assert 5 < flipped < 35  # 40 coin tosses


def test_shuffle_and_flip_are_deterministic_given_the_seed(tmp_path):
    _noise_images(tmp_path, 6)

    def first_batches(seed):
        return _batches(load_image_dataset(tmp_path, resolution=8, batch_size=3, seed=seed), 6)

    np.testing.assert_array_equal(first_batches(1), first_batches(1))
    assert not np.array_equal(first_batches(1), first_batches(2))


def test_one_shuffled_epoch_holds_every_image_once(tmp_path):
    arrays = _noise_images(tmp_path, 6).astype(np.float32) / 127.5 - 1.0
    data = load_image_dataset(
        tmp_path, resolution=8, batch_size=3, flip=False, repeat=False, seed=3
    )

    images = np.concatenate([b.numpy() for b in data.dataset])

    assert len(images) == 6
    order = [int(np.argmin(np.abs(arrays - image).sum(axis=(1, 2, 3)))) for image in images]
    assert sorted(order) == list(range(6)) and order != list(range(6))


def test_bundled_sets_give_the_same_pixels_cached_or_not():
    def batches(cache):
        data = load_image_dataset(
            "digits:3", resolution=16, batch_size=8, shuffle=False, flip=False, cache=cache
        )
        return _batches(data, 2)

    cached = batches(True)
    np.testing.assert_array_equal(cached, batches(False))
    reference = load_images("digits:3", resolution=16)[:16].astype(np.float32) / 127.5 - 1.0
    np.testing.assert_allclose(cached.reshape(16, 16, 16, 3), reference, atol=1e-6)


def test_class_subfolders_give_labels(tmp_path):
    _noise_images(tmp_path / "cats", 2)
    _noise_images(tmp_path / "dogs" / "puppies", 3, seed=1)

    images, labels, class_names = load_labelled(tmp_path, resolution=4)

    assert images.shape == (5, 4, 4, 3)
    assert class_names == ["cats", "dogs"]
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 1])


def test_labelled_loading_rejects_loose_images(tmp_path):
    _noise_images(tmp_path, 1)
    with pytest.raises(ValueError, match="one subfolder per class"):
        load_labelled(tmp_path)


def _small_image_warnings(record):
    return [w for w in record if "far smaller than the training resolution" in str(w.message)]


def _load_within(seconds, fifo, **kwargs):
    """load_image_dataset in a thread; a hang on ``fifo`` fails instead of blocking.

    On a timeout, opening the FIFO's write end and closing it hands the stuck
    reader an end-of-file, so the thread (and the test run) can finish.
    """
    result = {}

    def load():
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            result["data"] = load_image_dataset(**kwargs)
        result["warnings"] = record

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for _ in range(50):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                break
            except OSError:  # no reader yet
                time.sleep(0.1)
        thread.join(10)
        pytest.fail(f"load_image_dataset blocked on the FIFO {fifo}")
    return result["data"], result["warnings"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_with_an_image_name_is_skipped_not_read(tmp_path):
    _noise_images(tmp_path, 2)
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)

    data, record = _load_within(30, fifo, source=tmp_path, resolution=8, batch_size=2)

    assert data.num_images == 2
    skips = [w for w in record if "not regular files" in str(w.message)]
    assert len(skips) == 1
    assert "Skipping 1 entry" in str(skips[0].message) and "x.png" in str(skips[0].message)
    assert not any("unreadable" in str(w.message) for w in record)


def test_broken_symlink_is_skipped_and_good_symlink_kept(tmp_path):
    _noise_images(tmp_path / "real", 1)
    (tmp_path / "data").mkdir()
    os.symlink(tmp_path / "real" / "000.png", tmp_path / "data" / "good.png")
    os.symlink(tmp_path / "gone.png", tmp_path / "data" / "broken.png")

    with pytest.warns(UserWarning, match=r"Skipping 1 entry .*not regular files.*broken\.png"):
        paths = find_image_files(tmp_path / "data")

    assert paths == [os.path.join(tmp_path / "data", "good.png")]


def test_tiny_images_warn_once_per_load(tmp_path):
    _noise_images(tmp_path, 4, size=2)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data = load_image_dataset(tmp_path, resolution=64, batch_size=2)

    assert data.num_images == 4  # still used
    (warning,) = _small_image_warnings(record)
    message = str(warning.message)
    assert "4 of 4 images" in message and "2x2" in message and "000.png" in message
    assert "64" in message and "--resolution" in message


def test_images_a_few_times_smaller_do_not_warn(tmp_path):
    _noise_images(tmp_path, 2, size=32)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        load_images(tmp_path, resolution=64)

    assert _small_image_warnings(record) == []


@pytest.mark.parametrize("source", ["digits:3", "folder"])
def test_batches_from_a_step_equal_the_full_pipeline_skipped(tmp_path, source):
    """What a resumed run trains on: the same batches (order, flips, resizing)
    as an uninterrupted pipeline from that step on, across epoch ends."""
    if source == "folder":
        rng = np.random.default_rng(0)
        for i in range(7):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        source = str(tmp_path)
    data = load_image_dataset(source, resolution=16, batch_size=3, flip=True, seed=5)
    start = 5  # past the first epoch end for 7 images
    expected = [b.numpy() for b in data.dataset.take(start + 4)][start:]
    resumed = [b.numpy() for b in data.batches_from(start).take(4)]
    for a, b in zip(expected, resumed):
        np.testing.assert_array_equal(a, b)
