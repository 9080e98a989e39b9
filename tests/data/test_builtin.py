"""Bundled offline datasets of tfgen.data."""

import gzip
import importlib.util
import os
import pickle
import sys
import types

import numpy as np
import pytest

from tfgen.data import builtin, glyphs, list_builtin_datasets, load_images, load_labelled

GREEK = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩαβγδεζηθικλμνξοπρςστυφχψω"
DEBIAN_FASHION_MNIST = os.path.join(builtin.FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")
ANIMAL_MNIST = importlib.util.find_spec("animal_mnist") is not None  # not imported: it imports tensorflow.keras
needs_animal_mnist = pytest.mark.skipif(
    not ANIMAL_MNIST, reason="animal-mnist is not installed (pip install --no-deps animal-mnist==0.4)"
)


def _check_rgb(images, shape):
    assert images.dtype == np.uint8 and images.shape == shape
    np.testing.assert_array_equal(images[..., 0], images[..., 1])  # grey replicated
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_names_and_source_detection():
    assert list_builtin_datasets() == ["digits", "fashion_mnist", "animals", "faces", "glyphs", "tfds"]
    assert builtin.is_builtin("digits") and builtin.is_builtin("glyphs:greek/α")
    assert builtin.is_builtin("fashion_mnist@/data:bag") and builtin.is_builtin("animals@/data:cat:5")
    assert not builtin.is_builtin("./digits") and not builtin.is_builtin("digits_folder")


def test_digits_match_scikit_learn():
    from sklearn.datasets import load_digits

    reference = load_digits()
    images, labels, class_names = load_labelled("digits")

    _check_rgb(images, (1797, 8, 8, 3))
    np.testing.assert_array_equal(images[..., 0], np.round(reference.images * 255 / 16))
    np.testing.assert_array_equal(labels, reference.target)
    assert class_names == [str(d) for d in range(10)]


def test_digit_class_filter_and_limit():
    from sklearn.datasets import load_digits

    target = load_digits().target
    images, labels, class_names = load_labelled("digits:3")
    assert len(images) == np.sum(target == 3) and class_names == ["3"] and not labels.any()

    images, labels, class_names = load_labelled("digits:5,3:20")
    assert len(images) == 20 and class_names == ["5", "3"]
    expected_order = target[np.isin(target, [3, 5])][:20]
    np.testing.assert_array_equal(labels, np.where(expected_order == 5, 0, 1))

    assert load_images("digits:3", resolution=32).shape == (np.sum(target == 3), 32, 32, 3)


def test_faces_are_the_lfw_faces():
    from skimage.data import lfw_subset

    images, labels, class_names = load_labelled("faces")
    _check_rgb(images, (100, 25, 25, 3))
    np.testing.assert_array_equal(images[..., 0], np.round(lfw_subset()[:100] * 255))
    assert class_names == ["face"] and len(load_labelled("faces:7").images) == 7


@pytest.mark.parametrize(
    "source, message",
    [
        ("digits:11", "Unknown class '11'"),
        ("digits:3:many", "positive integer"),
        ("faces:3:4", "Too many ':' fields"),
        ("digits@/tmp", "Only fashion_mnist and animals take an @DIR"),
        ("fashion_mnist@/tmp:boots", "Unknown class 'boots'"),
        ("animals@/tmp:unicorn", "Unknown class 'unicorn'"),
        ("animals@/tmp:cat:2:3", "Too many ':' fields"),
    ],
)
def test_bad_syntax_is_explained(source, message, tmp_path):
    if source.startswith("fashion_mnist"):
        _write_idx_files(tmp_path, np.zeros((2, 28, 28), np.uint8), np.array([0, 9]), gzipped=True)
        source = source.replace("/tmp", str(tmp_path))
    if source.startswith("animals"):
        _write_animal_files(tmp_path, np.zeros((2, 28, 28), np.uint8), np.array([0, 9]))
        source = source.replace("/tmp", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        load_labelled(source)


# --- Fashion-MNIST --------------------------------------------------------------


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx_files(folder, images, labels, *, gzipped):
    for stem, array in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        data = _idx_bytes(np.asarray(array))
        if gzipped:
            with gzip.open(os.path.join(folder, stem + ".gz"), "wb") as f:
                f.write(data)
        else:
            with open(os.path.join(folder, stem), "wb") as f:
                f.write(data)


@pytest.mark.parametrize("gzipped", [True, False])
def test_fashion_mnist_reads_idx_files_from_a_given_folder(tmp_path, gzipped):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.array([9, 0, 9, 3, 9, 9, 1, 9, 2, 9, 9, 4])
    _write_idx_files(tmp_path, images, labels, gzipped=gzipped)

    got, got_labels, names = load_labelled(f"fashion_mnist@{tmp_path}")
    _check_rgb(got, (12, 28, 28, 3))
    np.testing.assert_array_equal(got[..., 0], images)
    np.testing.assert_array_equal(got_labels, labels)
    assert names[9] == "ankle_boot" and len(names) == 10

    boots, boot_labels, boot_names = load_labelled(f"fashion_mnist@{tmp_path}:ankle_boot:3")
    np.testing.assert_array_equal(boots[..., 0], images[labels == 9][:3])
    assert boot_names == ["ankle_boot"] and not boot_labels.any()
    same, _, _ = load_labelled(f"fashion_mnist@{tmp_path}:9:3")
    np.testing.assert_array_equal(same, boots)


def test_fashion_mnist_folder_from_the_environment(tmp_path, monkeypatch):
    _write_idx_files(tmp_path, np.full((2, 28, 28), 7, np.uint8), np.array([8, 8]), gzipped=True)
    monkeypatch.setenv(builtin.FASHION_MNIST_ENV, str(tmp_path))
    images, _, names = load_labelled("fashion_mnist:bag")
    assert images.shape == (2, 28, 28, 3) and names == ["bag"]


def test_missing_fashion_mnist_says_how_to_install_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_labelled(f"fashion_mnist@{tmp_path}")


@pytest.mark.skipif(
    not os.path.exists(DEBIAN_FASHION_MNIST),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_debian_fashion_mnist():
    images, labels, names = load_labelled("fashion_mnist")
    _check_rgb(images, (60000, 28, 28, 3))
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 6000))
    boots = load_labelled("fashion_mnist:ankle_boot:100").images
    np.testing.assert_array_equal(boots, images[labels == 9][:100])


# --- animals (the data files of animal-mnist) ------------------------------------


def _write_animal_files(folder, images, labels):
    for name, array in zip(builtin.ANIMALS_FILES, (images, labels)):
        with gzip.open(os.path.join(folder, name), "wb") as f:
            pickle.dump(np.asarray(array), f, protocol=4)


def _package_animals():
    """The package's own arrays, read with plain pickle (trusted: the installed wheel)."""
    folder = builtin._animals_package_folder()
    arrays = []
    for name in builtin.ANIMALS_FILES:
        with gzip.open(os.path.join(folder, name), "rb") as f:
            arrays.append(pickle.load(f))
    return arrays


def _bounding_boxes(grey):
    """Height and width of the pixels > 127 of each [N, H, W] image."""
    mask = grey > 127
    heights, widths = [], []
    for axis in (2, 1):
        rows = mask.any(axis=axis)
        first, last = rows.argmax(axis=1), rows.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
        (heights if axis == 2 else widths).append(last - first + 1)
    return heights[0], widths[0]


@pytest.fixture(autouse=True)
def _no_animals_dir_from_the_user(monkeypatch):
    monkeypatch.delenv(builtin.ANIMALS_ENV, raising=False)  # tests set it themselves


@needs_animal_mnist
def test_animals_shapes_classes_and_package_arrays():
    images, labels, names = load_labelled("animals")
    _check_rgb(images, (10000, 28, 28, 3))
    assert labels.dtype == np.int64 and labels.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 1000))
    assert names == list(builtin.ANIMALS_CLASSES) and len(names) == 10
    package_images, package_labels = _package_animals()
    np.testing.assert_array_equal(images[..., 0], package_images)
    np.testing.assert_array_equal(labels, package_labels)
    assert "animal_mnist" not in sys.modules  # its data read in place, the package never imported


@needs_animal_mnist
def test_animals_class_filter_by_name_and_index_and_limit():
    images, labels, _ = load_labelled("animals")
    cats, cat_labels, cat_names = load_labelled("animals:cat")
    assert cat_names == ["cat"] and len(cats) == 1000 and not cat_labels.any()
    np.testing.assert_array_equal(cats, images[labels == 2])
    np.testing.assert_array_equal(load_labelled("animals:2").images, cats)

    some, some_labels, some_names = load_labelled("animals:Zebra,1:1500")
    assert some_names == ["zebra", "bird"] and len(some) == 1500
    keep = np.isin(labels, [9, 1])
    np.testing.assert_array_equal(some, images[keep][:1500])
    np.testing.assert_array_equal(some_labels, np.where(labels[keep][:1500] == 9, 0, 1))
    assert load_labelled("animals:all:7").images.shape == (7, 28, 28, 3)
    assert load_images("animals:giraffe:10", resolution=32).shape == (10, 32, 32, 3)


@needs_animal_mnist
def test_animals_from_a_folder_match_the_package(tmp_path, monkeypatch):
    package_images, package_labels = _package_animals()
    _write_animal_files(tmp_path, package_images[::10], package_labels[::10])
    images, labels, _ = load_labelled(f"animals@{tmp_path}:horse")
    np.testing.assert_array_equal(images[..., 0], package_images[::10][package_labels[::10] == 7])
    assert images.shape == (100, 28, 28, 3) and not labels.any()
    monkeypatch.setenv(builtin.ANIMALS_ENV, str(tmp_path))
    assert len(load_labelled("animals").images) == 1000


@needs_animal_mnist
def test_animal_label_names_agree_with_the_silhouettes():
    """Checks the class names by the shapes, not by the name list: giraffes stand taller
    than wide, cows, horses and elephants are wider than tall (median height / width of
    the bounding boxes: 2.25 against 0.77, 0.85, 0.77), and only zebras are striped
    (mid-grey pixels: 225 per image against at most 76 in any other class)."""
    images, labels, names = load_labelled("animals")
    heights, widths = _bounding_boxes(images[..., 0])
    aspect = {name: np.median(heights[labels == k] / widths[labels == k]) for k, name in enumerate(names)}
    assert aspect["giraffe"] > 2 and max(aspect, key=aspect.get) == "giraffe"
    for name in ("cow", "horse", "elephant"):
        assert aspect[name] < 0.9, (name, aspect[name])
    grey = images[..., 0]
    stripes = ((grey > 60) & (grey < 190)).sum(axis=(1, 2))
    per_class = {name: stripes[labels == k].mean() for k, name in enumerate(names)}
    others = max(v for name, v in per_class.items() if name != "zebra")
    assert per_class["zebra"] > 2 * others, per_class


def test_animals_from_a_folder_and_the_environment(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    labels = np.array([6, 0, 6, 9, 6, 2])
    _write_animal_files(tmp_path, images, labels)
    got, got_labels, names = load_labelled(f"animals@{tmp_path}:giraffe:2")
    np.testing.assert_array_equal(got[..., 0], images[[0, 2]])
    assert names == ["giraffe"] and not got_labels.any()
    monkeypatch.setenv(builtin.ANIMALS_ENV, str(tmp_path))
    got, got_labels, names = load_labelled("animals")
    np.testing.assert_array_equal(got_labels, labels)
    assert names == list(builtin.ANIMALS_CLASSES)
    other = tmp_path / "other"  # an explicit @DIR wins over the environment
    other.mkdir()
    _write_animal_files(other, images[:1], labels[:1])
    assert len(load_labelled(f"animals@{other}").images) == 1


class _RunsAShellCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_animal_pickles_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "ran"
    with gzip.open(tmp_path / builtin.ANIMALS_FILES[0], "wb") as f:
        pickle.dump(_RunsAShellCommand(f"touch {marker}"), f)
    with gzip.open(tmp_path / builtin.ANIMALS_FILES[1], "wb") as f:
        pickle.dump(np.zeros(1, np.int64), f)
    with pytest.raises(ValueError, match=r"Refusing to unpickle .*(posix|os|nt)\.system"):
        load_labelled(f"animals@{tmp_path}")
    assert not marker.exists()  # refused before anything ran


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((3, 28, 28), np.float32), np.zeros(3, np.int64), "Expected uint8 images"),
        (np.zeros((3, 32, 32), np.uint8), np.zeros(3, np.int64), "Expected uint8 images"),
        (np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.int64), "do not match"),
        (np.zeros((3, 28, 28), np.uint8), np.array([0, 1, 10]), "outside 0..9"),
        ([1, 2, 3], np.zeros(3, np.int64), "not a numpy array"),
    ],
)
def test_animal_files_of_the_wrong_shape_are_explained(tmp_path, images, labels, message):
    for name, value in zip(builtin.ANIMALS_FILES, (images, labels)):
        with gzip.open(tmp_path / name, "wb") as f:
            pickle.dump(value, f)
    with pytest.raises(ValueError, match=message):
        load_labelled(f"animals@{tmp_path}")


def test_missing_animals_say_how_to_install_them(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps animal-mnist==0\.4.*animals@"):
        load_labelled(f"animals@{tmp_path}")
    monkeypatch.delenv(builtin.ANIMALS_ENV, raising=False)
    monkeypatch.setattr(builtin, "_animals_package_folder", lambda: None)
    with pytest.raises(FileNotFoundError, match=r"not installed.*pip install --no-deps animal-mnist==0\.4"):
        load_labelled("animals:cat")


# --- glyphs ---------------------------------------------------------------------


def test_glyph_classes_render_distinct_non_empty_images():
    images, labels, names = load_labelled("glyphs:greek/αβγ,latin/X")

    _check_rgb(images, (80, 64, 64, 3))
    assert names == ["greek/α", "greek/β", "greek/γ", "latin/X"]
    np.testing.assert_array_equal(labels, np.repeat(np.arange(4), 20))
    ink = 255.0 - images[..., 0].astype(np.float64)
    assert (ink.max(axis=(1, 2)) > 200).all()  # every sample has black strokes ...
    assert (np.median(images[..., 0], axis=(1, 2)) == 255).all()  # ... on white
    # Samples of one class differ (random distortions) ...
    assert len({image.tobytes() for image in images[:20]}) == 20
    # ... but less than different classes do: most samples are closest to
    # their own class mean (chance would be 1/4).
    means = np.stack([ink[labels == k].mean(axis=0) for k in range(4)])
    distances = ((ink[:, None] - means[None]) ** 2).sum(axis=(2, 3))
    assert (distances.argmin(axis=1) == labels).mean() > 0.7


def test_glyphs_are_deterministic_and_independent_of_the_selection():
    alone = load_labelled("glyphs:β").images
    beta = GREEK.index("β")
    greek = load_labelled("glyphs:greek").images
    np.testing.assert_array_equal(alone, greek[20 * beta : 20 * beta + 20])
    fresh = glyphs.render_glyphs([("greek", "β")])  # bypasses the cache
    np.testing.assert_array_equal(fresh, alone[..., 0])
    assert not np.array_equal(fresh, glyphs.render_glyphs([("greek", "β")], seed=1))


def test_glyph_script_and_limit():
    images, labels, names = load_labelled("glyphs:greek:30")
    assert images.shape == (30, 64, 64, 3) and names == ["greek/Α", "greek/Β"]
    assert builtin._glyph_classes("greek") == [("greek", c) for c in GREEK]


def test_every_dejavu_glyph_draws_ink():
    classes = [(s, c) for s in glyphs.DEJAVU_SCRIPTS for c in glyphs.script_characters(s)]
    assert len(classes) > 500 and len(set(c for _, c in classes)) == len(classes)
    images = glyphs.render_glyphs(classes, samples_per_class=1, size=32)
    assert (images.min(axis=(1, 2)) < 100).all()
    assert (images.mean(axis=(1, 2)) > 128).all()


@pytest.mark.parametrize(
    "selection, message",
    [
        ("klingon", "Unknown glyph script"),
        ("latin/ß", "has no character 'ß'"),
        ("☃", "No glyph class"),
    ],
)
def test_bad_glyph_selection(selection, message):
    with pytest.raises(ValueError, match=message):
        load_labelled(f"glyphs:{selection}")


def test_noto_scripts_need_the_noto_fonts(monkeypatch, tmp_path):
    monkeypatch.setattr(glyphs, "NOTO_DIR", str(tmp_path / "no_fonts"))
    with pytest.raises(ValueError, match="apt-get install fonts-noto-core"):
        load_labelled("glyphs:noto")


@pytest.mark.skipif(not glyphs.noto_available(), reason="fonts-noto-core is not installed")
def test_noto_script_renders():
    images, _, names = load_labelled("glyphs:ethiopic:20")
    assert images.shape == (20, 64, 64, 3) and names == ["ethiopic/ሀ"]
    assert images.min() < 100


# --- tensorflow-datasets -------------------------------------------------------


def test_tfds_without_the_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import fails
    with pytest.raises(ValueError, match=r"pip install tensorflow-datasets.*network once"):
        load_labelled("tfds:oxford_flowers102")


def test_tfds_data_not_downloaded_is_explained(monkeypatch, tmp_path):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # nothing prepared there
    with pytest.raises(ValueError, match=r"(?s)offline.*Download it once"):
        load_labelled("tfds:mnist:test")


def test_tfds_reads_a_dataset_built_locally_by_tfds(monkeypatch, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    shades = {"dark": 40, "light": 200}

    class TfgenTestShades(tfds.core.GeneratorBasedBuilder):
        """Six 12x10 images of two classes, made in memory: no download."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = {"image": tfds.features.Image(shape=(12, 10, 3)), "label": tfds.features.ClassLabel(names=list(shades))}
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for i in range(6):
                yield i, {"image": np.full((12, 10, 3), list(shades.values())[i % 2], np.uint8), "label": i % 2}

    TfgenTestShades(data_dir=str(tmp_path)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    images, labels, names = load_labelled("tfds:tfgen_test_shades")
    assert names == ["dark", "light"] and sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    _check_rgb(np.asarray(images), (6, 12, 10, 3))
    for image, label in zip(images, labels):  # each image with its own label, whatever order tfds reads them in
        assert (np.asarray(image) == list(shades.values())[label]).all()
    assert load_images("tfds:tfgen_test_shades", resolution=8).shape == (6, 8, 8, 3)


def test_tfds_images_of_mixed_sizes_are_resized(monkeypatch):
    examples = [
        {"image": np.full((20, 30, 3), 40, np.uint8), "label": 1},
        {"image": np.full((16, 16, 1), 90, np.uint8), "label": 0},
    ]
    label = types.SimpleNamespace(names=["cat", "dog"])
    info = types.SimpleNamespace(features={"image": None, "label": label})
    fake = types.SimpleNamespace(load=lambda *a, **k: (examples, info), as_numpy=lambda ds: ds)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake)

    images, labels, names = load_labelled("tfds:pets")
    assert isinstance(images, list) and names == ["cat", "dog"]
    np.testing.assert_array_equal(labels, [1, 0])
    resized = load_images("tfds:pets", resolution=8)
    assert resized.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(resized[1], np.full((8, 8, 3), 90))
