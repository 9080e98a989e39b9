"""Domain classifier: training on digits, saving/loading, the extractor, errors."""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.harness import run_layer_test
from tfgen.data import load_labelled
from tfgen.features.classifier import (
    CLASSIFIER_INFO_FILE,
    CLASSIFIER_WEIGHTS_FILE,
    ClassifierExtractor,
    DomainClassifier,
    load_domain_classifier,
    read_classifier_info,
    stratified_split,
    train_domain_classifier,
)
from tfgen.features.extractor import extract_features, file_fingerprint, get_extractor

RESOLUTION = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits classifier (8x8 digits upsampled to 16), trained once for the module."""
    out_dir = str(tmp_path_factory.mktemp("classifier"))
    info = train_domain_classifier(
        "digits",
        out_dir=out_dir,
        resolution=RESOLUTION,
        width=16,
        feature_dim=32,
        epochs=4,
        batch_size=32,
        seed=0,
        progress=False,
    )
    return out_dir, info


def _accuracy(logits, labels):
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def test_digits_classifier_is_accurate_and_saved(trained):
    out_dir, info = trained
    assert info.validation_accuracy > 0.9
    assert info.num_training_images + info.num_validation_images == 1797
    assert info.class_names == tuple(str(d) for d in range(10))
    assert sorted(os.listdir(out_dir)) == [CLASSIFIER_INFO_FILE, CLASSIFIER_WEIGHTS_FILE]
    with open(os.path.join(out_dir, CLASSIFIER_INFO_FILE)) as f:
        saved = json.load(f)
    assert saved["source"] == "digits" and saved["resolution"] == RESOLUTION
    assert saved["num_classes"] == 10 and saved["class_names"] == list(info.class_names)
    assert (saved["width"], saved["feature_dim"]) == (16, 32)
    assert saved["validation_accuracy"] == info.validation_accuracy
    assert read_classifier_info(out_dir) == info


def test_loaded_classifier_is_the_trained_one(trained):
    out_dir, info = trained
    model, loaded_info = load_domain_classifier(out_dir)
    assert loaded_info == info
    # Recomputing the validation accuracy on the same split reproduces the
    # number measured right after training: the file holds those weights
    # (BatchNorm moving statistics included).
    data = load_labelled("digits", resolution=RESOLUTION)
    _, validation = stratified_split(data.labels, 0.1, seed=0)
    assert len(validation) == info.num_validation_images
    images = data.images[validation].astype("float32") / 127.5 - 1
    logits = np.asarray(model.predict_on_batch(images))
    assert _accuracy(logits, data.labels[validation]) == pytest.approx(info.validation_accuracy, abs=1e-12)
    # The weights file or the json name the same classifier.
    for path in (os.path.join(out_dir, CLASSIFIER_WEIGHTS_FILE), os.path.join(out_dir, CLASSIFIER_INFO_FILE)):
        again, _ = load_domain_classifier(path)
        np.testing.assert_array_equal(np.asarray(again.predict_on_batch(images)), logits)


def test_extractor_outputs(trained):
    out_dir, info = trained
    extractor = get_extractor("classifier", path=out_dir)
    assert isinstance(extractor, ClassifierExtractor)
    assert (extractor.name, extractor.feature_dim, extractor.num_classes) == ("classifier", 32, 10)
    assert extractor.class_names == [str(d) for d in range(10)]
    assert extractor.fingerprint == file_fingerprint(os.path.join(out_dir, CLASSIFIER_WEIGHTS_FILE))

    data = load_labelled("digits", resolution=RESOLUTION)
    images = data.images[:40]
    out = extract_features(extractor, images, batch_size=40)
    assert out["features"].shape == (40, 32) and out["logits"].shape == (40, 10)
    assert out["features"].min() >= 0.0  # the ReLU feature layer
    np.testing.assert_array_equal(extract_features(extractor, images, batch_size=40)["logits"], out["logits"])
    split = extract_features(extractor, images, batch_size=7)
    for key in ("features", "logits"):
        np.testing.assert_allclose(split[key], out[key], rtol=0, atol=1e-5 * np.abs(out[key]).max())
    # Same network as the loaded model (uint8 -> [-1, 1] happens inside the extractor).
    model, _ = load_domain_classifier(out_dir)
    reference = np.asarray(model.predict_on_batch(images.astype("float32") / 127.5 - 1))
    np.testing.assert_allclose(out["logits"], reference, rtol=0, atol=1e-4 * np.abs(reference).max())


def test_extractor_resizes_other_sizes_like_the_data_pipeline(trained):
    out_dir, _ = trained
    extractor = ClassifierExtractor(path=out_dir)
    native = load_labelled("digits")  # 8x8, resized to 16 inside the network
    resized = load_labelled("digits", resolution=RESOLUTION)
    from_native = extractor(native.images[:200])["logits"]
    from_resized = extractor(resized.images[:200])["logits"]
    agreement = np.mean(np.argmax(from_native, -1) == np.argmax(from_resized, -1))
    assert agreement > 0.95
    assert _accuracy(from_native, native.labels[:200]) > 0.85
    grey = extractor(native.images[:5, :, :, :1])["logits"]
    np.testing.assert_array_equal(grey, extractor(native.images[:5])["logits"])


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 2)
    train, validation = stratified_split(labels, 0.1, seed=0)
    assert np.bincount(labels[validation]).tolist() == [1, 1, 1]
    assert np.bincount(labels[train]).tolist() == [9, 2, 1]
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(15))
    train, validation = stratified_split(labels, 0.5, seed=0)
    assert np.bincount(labels[validation]).tolist() == [5, 2, 1]  # round(1.5) = 2, never a whole class
    train, validation = stratified_split(labels, 0.0, seed=0)
    assert len(validation) == 0 and len(train) == 15


def test_domain_classifier_layer_contract(tmp_path):
    inputs = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    run_layer_test(
        str(tmp_path),
        lambda: DomainClassifier(resolution=8, num_classes=3, width=4, feature_dim=6),
        inputs,
        expected_shape=(2, 3),
    )
    model = DomainClassifier(resolution=8, num_classes=3, width=4, feature_dim=6)
    features, logits = model.features_and_logits(np.zeros((2, 12, 12, 1), "float32"))  # resized, grey
    assert tuple(features.shape) == (2, 6) and tuple(logits.shape) == (2, 3)
    with pytest.raises(ValueError, match="num_classes"):
        DomainClassifier(resolution=8, num_classes=1)


def test_missing_classifier_says_how_to_train_one(tmp_path):
    with pytest.raises(ValueError, match="--train-classifier"):
        ClassifierExtractor()
    with pytest.raises(FileNotFoundError, match="train_domain_classifier"):
        get_extractor("classifier", path=str(tmp_path / "absent"))


def test_incomplete_or_mismatched_folders_are_clear_errors(trained, tmp_path):
    out_dir, _ = trained
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(os.path.join(out_dir, CLASSIFIER_WEIGHTS_FILE), half)
    with pytest.raises(FileNotFoundError, match=CLASSIFIER_INFO_FILE):
        load_domain_classifier(str(half))

    edited = tmp_path / "edited"
    shutil.copytree(out_dir, edited)
    with open(edited / CLASSIFIER_INFO_FILE) as f:
        content = json.load(f)
    content["width"] = 8
    with open(edited / CLASSIFIER_INFO_FILE, "w") as f:
        json.dump(content, f)
    with pytest.raises(ValueError, match="does not fit"):
        load_domain_classifier(str(edited))


def test_training_needs_two_classes_with_two_images_each(tmp_path):
    with pytest.raises(ValueError, match="at least 2 classes"):
        train_domain_classifier("digits:3", out_dir=str(tmp_path / "one"), resolution=8, progress=False)
    folder = tmp_path / "shapes"
    for name, count in (("circle", 3), ("square", 1)):
        (folder / name).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / name / f"{i}.png")
    with pytest.raises(ValueError, match=r"at least 2 images.*'square' \(1\)"):
        train_domain_classifier(str(folder), out_dir=str(tmp_path / "two"), resolution=8, progress=False)
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()
