"""Few-shot data of tfgen.data.episodes: class splits, tasks, shots, augmentation."""

import os

import numpy as np
import pytest
from PIL import Image

from tfgen.data import builtin, load_images, load_labelled
from tfgen.data.episodes import (
    DEFAULT_SPLITS,
    ClassSplit,
    augment_shots,
    labelled_batches,
    load_few_shot_data,
    load_shots,
    resolve_class_split,
    shot_dataset,
    task_dataset,
    to_channels,
)

DIGITS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def digits():
    return load_few_shot_data("digits", resolution=32, channels=1)


def _tagged(counts):
    """A LabelledImages whose image i is filled with the value i: rows decode
    back to the image index they came from. counts[k] images in class k."""
    labels = np.repeat(np.arange(len(counts)), counts)
    tags = np.arange(len(labels), dtype=np.uint8)[:, None, None, None]
    images = np.broadcast_to(tags, (len(labels), 4, 4, 1))
    return builtin.LabelledImages(images.copy(), labels, [f"c{k}" for k in range(len(counts))])


def _indices(batch):
    """float rows in [-1, 1] -> the uint8 tag each row was made from."""
    values = np.round((np.asarray(batch) + 1.0) * 127.5)
    assert (values == values[:, :1, :1, :1]).all()  # the float conversion is exact
    return values[:, 0, 0, 0].astype(int)


def _batches(data, n):
    def as_numpy(b):
        return tuple(x.numpy() for x in b) if isinstance(b, tuple) else b.numpy()

    return [as_numpy(b) for b in data.dataset.take(n)]


# --- splits -------------------------------------------------------------------


def test_default_splits():
    assert resolve_class_split("digits", DIGITS) == ClassSplit(tuple(DIGITS[:9]), ("9",))
    fashion = builtin.FASHION_MNIST_CLASSES
    split = resolve_class_split("fashion_mnist@/somewhere", fashion)
    assert split.test == ("ankle_boot",) and split.train == fashion[:9]
    assert DEFAULT_SPLITS["digits"].test == ("9",)
    animals = builtin.ANIMALS_CLASSES
    split = resolve_class_split("animals", animals)
    assert split.test == ("horse",) and set(split.train) == set(animals) - {"horse"} and len(split.train) == 9
    # A bundled class selection is respected: the default split is restricted to it.
    assert resolve_class_split("digits:3,9", ["3", "9"]) == ClassSplit(("3",), ("9",))
    with pytest.raises(ValueError, match="no held-out .*--test-classes"):
        resolve_class_split("digits:0,1,2", ["0", "1", "2"])


def test_glyphs_default_split_holds_out_each_scripts_last_fifth():
    from tfgen.data import glyphs

    names = [f"{s}/{c}" for s in ("latin", "greek") for c in glyphs.script_characters(s)]
    split = resolve_class_split("glyphs:latin,greek", names)
    latin_test = [n for n in split.test if n.startswith("latin/")]
    assert latin_test == [f"latin/{c}" for c in "pqrstuvwxyz"]
    assert sum(n.startswith("greek/") for n in split.test) == 10  # ceil(0.2 * 49)
    assert set(split.train) | set(split.test) == set(names)
    assert not set(split.train) & set(split.test)
    # The same character is held out whatever the selection.
    split = resolve_class_split("glyphs:latin/az", ["latin/a", "latin/z"])
    assert split == ClassSplit(("latin/a",), ("latin/z",))


def test_explicit_splits_and_spellings():
    # Test given, train empty: train = all others. Indices work; order follows class_names.
    assert resolve_class_split("digits", DIGITS, test_classes="7, 3") == ClassSplit(
        tuple(d for d in DIGITS if d not in "37"), ("3", "7")
    )
    split = resolve_class_split("digits", DIGITS, train_classes="0,1", test_classes="2")
    assert split == ClassSplit(("0", "1"), ("2",))
    assert resolve_class_split("digits", DIGITS, train_classes="0,1,2").test == tuple(DIGITS[3:])
    fashion = builtin.FASHION_MNIST_CLASSES
    split = resolve_class_split("fashion_mnist", fashion, test_classes="Ankle-Boot,8")
    assert split.test == ("bag", "ankle_boot")
    split = resolve_class_split("glyphs:greek", ["greek/Ω", "greek/ω"], test_classes="ω")
    assert split.test == ("greek/ω",)


def test_split_errors():
    with pytest.raises(ValueError, match="both meta-trained on and held out.*3"):
        resolve_class_split("digits", DIGITS, train_classes="1,3", test_classes="3,4")
    with pytest.raises(ValueError, match="Unknown class 'eleven'.*Classes: 0, 1"):
        resolve_class_split("digits", DIGITS, test_classes="9,eleven")
    with pytest.raises(ValueError, match="No meta-training class"):
        resolve_class_split("digits", DIGITS, test_classes=",".join(DIGITS))
    with pytest.raises(ValueError, match="no default class split.*--test-classes.*cats, dogs"):
        resolve_class_split("/data/pets", ["cats", "dogs"])


# --- loading ------------------------------------------------------------------


def test_load_few_shot_data_digits(digits):
    reference = load_labelled("digits", resolution=32)
    assert digits.split.test == ("9",)
    assert digits.train.images.shape == (np.sum(reference.labels != 9), 32, 32, 1)
    assert digits.train.images.dtype == np.uint8 and digits.test.class_names == ["9"]
    nines = reference.images[reference.labels == 9]
    np.testing.assert_array_equal(digits.test.images[..., 0], nines[..., 0])
    np.testing.assert_array_equal(digits.train.labels, reference.labels[reference.labels != 9])
    assert not digits.test.labels.any()
    # Labels are re-indexed per side.
    data = load_few_shot_data("digits:2,5,7", resolution=8, channels=3, test_classes="5")
    assert data.split == ClassSplit(("2", "7"), ("5",)) and data.train.images.shape[-1] == 3
    assert set(data.train.labels) == {0, 1}
    assert len(data.train.labels) == np.sum(np.isin(reference.labels, [2, 7]))


def _write_pngs(folder, count, size=20, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(folder, f"{i:02d}.png"))


def test_class_folder_needs_split_flags(tmp_path):
    for name, count in (("ants", 3), ("bees", 2)):
        _write_pngs(str(tmp_path / name), count, seed=count)
    with pytest.raises(ValueError, match="--test-classes.*ants, bees"):
        load_few_shot_data(str(tmp_path), resolution=16, channels=1)
    data = load_few_shot_data(str(tmp_path), resolution=16, channels=1, test_classes="bees")
    assert data.train.images.shape == (3, 16, 16, 1) and data.test.images.shape == (2, 16, 16, 1)


def test_to_channels():
    rgb = np.array([[[[255, 0, 0], [10, 200, 30], [0, 0, 255], [7, 7, 7]]]], np.uint8)  # [1,1,4,3]
    grey = to_channels(rgb, 1)
    # 0.299 R + 0.587 G + 0.114 B, rounded: 76.245, 123.81, 29.07, 7.
    np.testing.assert_array_equal(grey[0, 0, :, 0], [76, 124, 29, 7])
    assert grey.dtype == np.uint8 and grey.shape == (1, 1, 4, 1)
    np.testing.assert_array_equal(to_channels(to_channels(grey, 3), 1), grey)
    assert to_channels(rgb, 3) is rgb
    with pytest.raises(ValueError, match="channels must be 1 \\(grey\\) or 3"):
        to_channels(rgb, 2)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        to_channels(np.zeros((2, 4, 4, 4), np.uint8), 3)


def test_load_shots_from_folder(tmp_path):
    _write_pngs(str(tmp_path), 6)
    everything = load_images(str(tmp_path), resolution=16)
    shots = load_shots(str(tmp_path), shots=4, resolution=16, channels=3, seed=1)
    assert shots.shape == (4, 16, 16, 3) and shots.dtype == np.uint8
    chosen = [int(np.flatnonzero((everything == s).all(axis=(1, 2, 3)))[0]) for s in shots]
    assert len(set(chosen)) == 4 and chosen == sorted(chosen)
    def draw(seed):
        return load_shots(str(tmp_path), shots=4, resolution=16, channels=3, seed=seed)

    np.testing.assert_array_equal(draw(1), shots)
    draws = {draw(seed).tobytes() for seed in range(6)}
    assert len(draws) > 1
    grey = load_shots(str(tmp_path), shots=6, resolution=16, channels=1)  # exactly n: all, in order
    np.testing.assert_array_equal(grey, to_channels(everything, 1))
    with pytest.raises(ValueError, match="Found 6 images in .*need --num-shots 7"):
        load_shots(str(tmp_path), shots=7, resolution=16, channels=1)


def test_load_shots_from_bundled_class():
    nines = load_images("digits:9", resolution=32)[..., :1]
    shots = load_shots("digits:9", shots=4, resolution=32, channels=1, seed=3)
    assert shots.shape == (4, 32, 32, 1)
    for shot in shots:
        assert (nines == shot).all(axis=(1, 2, 3)).any()
    again = load_shots("digits:9", shots=4, resolution=32, channels=1, seed=3)
    other = load_shots("digits:9", shots=4, resolution=32, channels=1, seed=4)
    np.testing.assert_array_equal(again, shots)
    assert not np.array_equal(other, shots)


# --- tasks --------------------------------------------------------------------


def test_held_out_classes_never_appear_in_tasks(digits):
    train_keys = {image.tobytes() for image in digits.train.images}
    test_keys = {image.tobytes() for image in digits.test.images}
    assert not train_keys & test_keys  # so a match below can only be a leak
    tasks = task_dataset(digits.train, shots=4, tasks_per_batch=5, seed=0)
    assert tasks.dataset.element_spec.shape == (20, 32, 32, 1)
    label_of = {im.tobytes(): label for im, label in zip(digits.train.images, digits.train.labels)}
    seen = set()
    for batch in _batches(tasks, 60):
        assert batch.dtype == np.float32 and batch.min() >= -1.0 and batch.max() <= 1.0
        images = np.round((batch + 1.0) * 127.5).astype(np.uint8)
        keys = [image.tobytes() for image in images]
        assert not set(keys) & test_keys
        # A KeyError here: a row that is no meta-training image.
        labels = np.array([label_of[key] for key in keys]).reshape(5, 4)
        assert (labels == labels[:, :1]).all()  # one class per task
        seen.update(labels[:, 0])
    assert seen == set(range(9))


def test_task_blocks_are_distinct_images_of_one_eligible_class():
    data = _tagged([10, 3, 6])  # class 1 has fewer images than a task needs
    tasks = task_dataset(data, shots=4, tasks_per_batch=3, seed=5)
    assert tasks.batch_size == 12 and tasks.num_images == 19
    drawn = []
    for batch in _batches(tasks, 200):
        blocks = data.labels[_indices(batch)].reshape(3, 4)
        assert (blocks == blocks[:, :1]).all()
        for block in _indices(batch).reshape(3, 4):
            assert len(set(block)) == 4
        drawn.extend(blocks[:, 0])
    counts = np.bincount(drawn, minlength=3)
    assert counts[1] == 0 and abs(counts[0] - counts[2]) < 0.2 * len(drawn)  # uniform over 0 and 2
    # Images within a class are all reached.
    reached = set(np.concatenate([_indices(b) for b in _batches(tasks, 50)]))
    assert reached == set(range(10)) | set(range(13, 19))


def test_tasks_are_deterministic_per_seed():
    data = _tagged([8, 8, 8, 8])
    first = _batches(task_dataset(data, shots=2, tasks_per_batch=2, seed=7), 5)
    again = _batches(task_dataset(data, shots=2, tasks_per_batch=2, seed=7), 5)
    other = _batches(task_dataset(data, shots=2, tasks_per_batch=2, seed=8), 5)
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))
    assert len({tuple(_indices(b)) for b in first}) > 1  # batches differ along the stream


def test_task_dataset_errors():
    with pytest.raises(ValueError, match="No meta-training class has the 5 images.*c0: 4, c1: 2"):
        task_dataset(_tagged([4, 2]), shots=5)
    with pytest.raises(ValueError, match="tasks_per_batch must be a positive integer"):
        task_dataset(_tagged([4, 2]), shots=2, tasks_per_batch=0)


# --- batches of labelled images and of shots ----------------------------------


def test_labelled_batches_labels_match_images():
    data = _tagged([5, 7, 3])  # 15 images
    batches = labelled_batches(data, batch_size=5, seed=2)
    assert batches.steps_per_epoch == 3 and batches.num_images == 15
    epoch = []
    for images, labels in _batches(batches, 6):
        assert images.shape == (5, 4, 4, 1) and labels.dtype == np.int32
        np.testing.assert_array_equal(labels, data.labels[_indices(images)])
        epoch.append(_indices(images))
    assert sorted(np.concatenate(epoch[:3])) == list(range(15))  # every image once per epoch
    assert not np.array_equal(np.concatenate(epoch[:3]), np.concatenate(epoch[3:]))  # reshuffled
    small = labelled_batches(_tagged([2, 1]), batch_size=4)  # fewer images than a batch
    images, labels = _batches(small, 1)[0]
    assert images.shape[0] == 4 and small.steps_per_epoch == 1


def test_shot_dataset_batches_hold_every_shot():
    levels = np.linspace(-1, 1, 4, dtype=np.float32)[:, None, None, None]
    shots = levels * np.ones((4, 3, 3, 2), np.float32)
    data = shot_dataset(shots, batch_size=4, seed=1)
    orders = []
    for batch in _batches(data, 8):
        order = [int(np.flatnonzero((shots == row).all(axis=(1, 2, 3)))[0]) for row in batch]
        assert sorted(order) == [0, 1, 2, 3]
        orders.append(tuple(order))
    assert len(set(orders)) > 1


# --- augmentation -------------------------------------------------------------


def test_augment_shots():
    shots = load_shots("digits:9", shots=4, resolution=32, channels=1)
    augmented = augment_shots(shots, count=40, seed=0)
    assert augmented.shape == (40, 32, 32, 1) and augmented.dtype == np.float32
    assert augmented.min() >= -1.0 and augmented.max() <= 1.0
    originals = shots.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(augmented[:4], originals)
    sources = originals[np.arange(36) % 4]
    per_image = np.abs(augmented[4:] - sources).mean(axis=(1, 2, 3))
    assert per_image.min() > 0.01  # every augmentation changed its shot
    # ... but stays much closer to it than to other digits.
    others = load_images("digits:0,1,2,3,4,5,6,7,8:100", resolution=32)[..., :1]
    others = others.astype(np.float32) / 127.5 - 1.0
    to_others = np.abs(augmented[4:, None] - others[None]).mean()
    assert per_image.mean() < 0.4 and per_image.mean() < 0.8 * to_others
    np.testing.assert_array_equal(augment_shots(shots, count=40, seed=0), augmented)
    assert not np.array_equal(augment_shots(shots, count=40, seed=1), augmented)
    np.testing.assert_array_equal(augment_shots(shots, count=4), originals)
    with pytest.raises(ValueError, match="count must be at least the number of shots"):
        augment_shots(shots, count=3)




def test_augment_shots_colour_jitter_is_small_and_no_mirroring():
    bar = np.zeros((1, 32, 32, 1), np.uint8)
    bar[:, 8:24, 2:10] = 255  # a bar on the left
    columns = np.arange(32)[None, :, None]

    def centre_x(images):
        mass = images[..., 0] + 1.0
        return (mass.sum(axis=1) * columns[..., 0]).sum(axis=1) / mass.sum(axis=(1, 2))

    assert (centre_x(augment_shots(bar, count=50, seed=0)) < 12).all()
    mirrored = centre_x(augment_shots(bar, count=50, seed=0, flip=True))
    assert (mirrored > 20).sum() > 10
    # Without geometry only brightness (+-0.1) and contrast (x 1 +- 0.1) move pixels.
    still = augment_shots(
        bar, count=50, seed=0, max_translation=0, max_rotation_degrees=0, max_zoom=0
    )
    change = np.abs(still[1:] - still[:1])
    assert change.max() <= 0.1 + 0.1 * 2 + 1e-6 and change.max() > 0.02
