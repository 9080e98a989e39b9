"""Cached real features (tfgen.metrics.cache): hits, and invalidation when inputs change."""

import os

import numpy as np
import pytest
from PIL import Image

from tfgen.metrics.cache import dataset_fingerprint, real_features

from .tiny_extractor import TinyPixelExtractor


def write_images(folder, count, seed=0, size=16):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"{seed}_{i:03d}.png")
        )


def test_second_call_reads_the_cache(tmp_path):
    folder, cache = tmp_path / "real", str(tmp_path / "cache")
    write_images(folder, 6)
    extractor = TinyPixelExtractor()
    first = real_features(str(folder), extractor, resolution=16, cache_dir=cache)
    assert extractor.calls == 6
    second = real_features(str(folder), extractor, resolution=16, cache_dir=cache)
    assert extractor.calls == 6  # nothing extracted again
    np.testing.assert_array_equal(first["features"], second["features"])
    np.testing.assert_array_equal(first["logits"], second["logits"])
    assert first["features"].shape == (6, 16)


@pytest.mark.parametrize(
    "change",
    ["add_image", "edit_image", "resolution", "extractor_weights", "num_images", "seed"],
)
def test_cache_invalidates_when_an_input_changes(tmp_path, change):
    folder, cache = tmp_path / "real", str(tmp_path / "cache")
    write_images(folder, 6)
    options = dict(resolution=16, num_images=4, seed=0, cache_dir=cache)
    extractor = TinyPixelExtractor()
    before = real_features(str(folder), extractor, **options)
    calls = extractor.calls
    if change == "add_image":
        write_images(folder, 1, seed=1)
    elif change == "edit_image":
        path = sorted(folder.iterdir())[0]
        Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
        os.utime(path, ns=(1, 1))  # a new mtime even on coarse file systems
    elif change == "resolution":
        options["resolution"] = 8
    elif change == "extractor_weights":
        extractor = TinyPixelExtractor(version="2")
        calls = 0
    elif change == "num_images":
        options["num_images"] = 5
    elif change == "seed":
        options["seed"] = 1
    after = real_features(str(folder), extractor, **options)
    assert extractor.calls > calls, "a changed input must not be served from the cache"
    assert len(os.listdir(cache)) == 2
    if change in ("resolution",):
        assert not np.array_equal(before["features"], after["features"])


def test_no_cache_never_writes(tmp_path):
    folder, cache = tmp_path / "real", tmp_path / "cache"
    write_images(folder, 3)
    real_features(str(folder), TinyPixelExtractor(), resolution=16, cache_dir=str(cache), use_cache=False)
    assert not cache.exists()


def test_damaged_cache_entry_is_recomputed(tmp_path):
    folder, cache = tmp_path / "real", tmp_path / "cache"
    write_images(folder, 3)
    extractor = TinyPixelExtractor()
    good = real_features(str(folder), extractor, resolution=16, cache_dir=str(cache))
    (entry,) = cache.iterdir()
    entry.write_bytes(b"not an npz file")
    again = real_features(str(folder), extractor, resolution=16, cache_dir=str(cache))
    np.testing.assert_array_equal(good["features"], again["features"])
    assert extractor.calls == 6


def test_subset_is_seeded_and_of_the_asked_size(tmp_path):
    folder = tmp_path / "real"
    write_images(folder, 10)
    extractor = TinyPixelExtractor()
    a = real_features(str(folder), extractor, resolution=16, num_images=5, seed=3, use_cache=False)
    b = real_features(str(folder), extractor, resolution=16, num_images=5, seed=3, use_cache=False)
    full = real_features(str(folder), extractor, resolution=16, use_cache=False)
    assert len(a["features"]) == 5 and len(full["features"]) == 10
    np.testing.assert_array_equal(a["features"], b["features"])
    # Every subset row is one of the full set's rows.
    for row in a["features"]:
        assert np.any(np.all(np.isclose(full["features"], row), axis=1))


def test_bundled_datasets_are_keyed_by_name():
    assert dataset_fingerprint("digits:3") != dataset_fingerprint("digits:4")


def test_clear_errors_for_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        real_features(str(tmp_path / "nope"), TinyPixelExtractor(), resolution=16, use_cache=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="0 readable images"):
        real_features(str(tmp_path / "empty"), TinyPixelExtractor(), resolution=16, use_cache=False)
