"""A small domain classifier: trained on a labelled set, then a feature extractor.

ImageNet networks say little about grey, low-resolution sets (digits,
Fashion-MNIST, glyphs): their features mostly encode texture and colour
statistics these images lack. The usual practice there is to train a small
classifier on the domain itself and use its penultimate activations as the
feature space for FID-style distances, and its logits as a judge (class share,
an Inception-Score analogue) -- e.g. the "classifier FID" of the few-shot
generation literature and the LeNet/MNIST features used since Salimans et al.
(NeurIPS 2016) and Binkowski et al. (ICLR 2018).

    info = train_domain_classifier("glyphs:greek", resolution=32, out_dir="runs/clf")
    extractor = get_extractor("classifier", path="runs/clf")  # features + logits

A trained classifier is a folder with ``classifier.weights.h5`` and
``classifier.json`` (architecture, class names, training source, validation
accuracy). Features from two classifiers are not comparable; the extractor's
fingerprint (of the weights file) keeps cached statistics apart.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

import keras
import numpy as np
from keras import layers, ops

from tfgen.files import write_json_atomic
from tfgen.features.extractor import FeatureExtractor, file_fingerprint
from tfgen.weights import load_weights_checked, save_weights_atomic
from tfgen.errors import InputError

CLASSIFIER_WEIGHTS_FILE = "classifier.weights.h5"
CLASSIFIER_INFO_FILE = "classifier.json"
CLASSIFIER_CONFIG = CLASSIFIER_INFO_FILE  # the name evaluate.py uses
_TRAIN_ADVICE = (
    "Train one with `python evaluate.py --train-classifier DATA` (DATA: class "
    "subfolders or a bundled name such as digits or glyphs:greek) or "
    "tfgen.features.classifier.train_domain_classifier(DATA, out_dir=...)."
)


# --- the network --------------------------------------------------------------


@keras.saving.register_keras_serializable("tfgen")
class DomainClassifier(keras.Model):
    """Conv classifier for small images: blocks of (conv-BN-ReLU) x2 + max-pool,
    global average pool, a dense feature layer, dropout, class logits.

    Blocks halve the resolution until it is 4 (1 to 4 blocks; R=32 has 3),
    with ``width``, 2x``width``, 4x``width``... channels.

    Args:
        resolution: side R the network works at; inputs of another size are
            resized to R x R inside (antialiased bicubic, like tfgen.data).
        num_classes: K, the number of logits.
        width: channels of the first block.
        feature_dim: D, the size of the feature layer (ReLU; "the features").
        dropout: dropout rate between features and logits, in training only.

    Call: images ``[B, H, W, 3]`` (or 1 channel) in [-1, 1] -> logits ``[B, K]``;
    ``features_and_logits`` returns ``([B, D], [B, K])``.
    """

    def __init__(
        self,
        *,
        resolution: int,
        num_classes: int,
        width: int = 32,
        feature_dim: int = 128,
        dropout: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for key, value, minimum in (
            ("resolution", resolution, 4),
            ("num_classes", num_classes, 2),
            ("width", width, 1),
            ("feature_dim", feature_dim, 1),
        ):
            if not isinstance(value, (int, np.integer)) or value < minimum:
                raise InputError(f"{key} must be an integer >= {minimum}. Received: {key}={value!r}")
        if not 0.0 <= dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1). Received: dropout={dropout!r}")
        self.resolution = int(resolution)
        self.num_classes = int(num_classes)
        self.width = int(width)
        self.feature_dim = int(feature_dim)
        self.dropout = float(dropout)

        num_blocks = max(1, min(4, int(math.log2(self.resolution)) - 2))
        self.blocks = []
        for index in range(num_blocks):
            channels, prefix = self.width * 2**index, f"block{index + 1}"
            block = []
            for conv in (1, 2):
                # momentum 0.9: the moving statistics that inference uses catch up
                # within the few hundred steps a small set trains for (with
                # Keras' 0.99 they lag and inference accuracy collapses).
                block += [
                    layers.Conv2D(
                        channels, 3, padding="same", use_bias=False, name=f"{prefix}_conv{conv}"
                    ),
                    layers.BatchNormalization(momentum=0.9, name=f"{prefix}_bn{conv}"),
                    layers.ReLU(name=f"{prefix}_relu{conv}"),
                ]
            block.append(layers.MaxPooling2D(2, name=f"{prefix}_pool"))
            self.blocks.append(keras.Sequential(block, name=prefix))
        self.pool = layers.GlobalAveragePooling2D(name="global_pool")
        self.features = layers.Dense(self.feature_dim, activation="relu", name="features")
        self.drop = layers.Dropout(self.dropout, name="dropout")
        self.classify = layers.Dense(self.num_classes, name="logits")

    def _prepare(self, images):
        if images.shape[-1] == 1:
            images = ops.repeat(images, 3, axis=-1)
        size = (self.resolution, self.resolution)
        if tuple(images.shape[1:3]) != size:  # also when unknown (None): same-size resize is exact
            images = ops.image.resize(images, size, interpolation="bicubic", antialias=True)
        return images

    def features_and_logits(self, images, training=None):
        x = self._prepare(images)  # [B, R, R, 3]
        for block in self.blocks:
            x = block(x, training=training)  # block i = 0, 1..: [B, R/2^(i+1), R/2^(i+1), width*2^i]
        features = self.features(self.pool(x))  # [B, D]
        logits = self.classify(self.drop(features, training=training))  # [B, K]
        return features, logits

    def call(self, images, training=None):
        return self.features_and_logits(images, training=training)[1]

    def get_config(self):
        return {
            **super().get_config(),
            "resolution": self.resolution,
            "num_classes": self.num_classes,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
        }


def build_domain_classifier(**config) -> DomainClassifier:
    """A DomainClassifier with its variables created (ready to load weights)."""
    model = DomainClassifier(**config)
    model(np.zeros((1, model.resolution, model.resolution, 3), np.float32))
    return model


# --- what a trained classifier folder holds ----------------------------------


@dataclasses.dataclass(frozen=True)
class ClassifierInfo:
    """The contents of ``classifier.json`` plus where the files are."""

    folder: str
    resolution: int
    num_classes: int
    class_names: tuple[str, ...]
    width: int
    feature_dim: int
    dropout: float
    source: str
    validation_accuracy: float | None  # None when trained without a validation split
    num_training_images: int
    num_validation_images: int
    epochs: int
    seed: int
    weights_file: str = CLASSIFIER_WEIGHTS_FILE

    @property
    def weights_path(self) -> str:
        return os.path.join(self.folder, self.weights_file)

    def model_config(self) -> dict:
        return {
            "resolution": self.resolution,
            "num_classes": self.num_classes,
            "width": self.width,
            "feature_dim": self.feature_dim,
            "dropout": self.dropout,
        }

    def to_json(self) -> dict:
        fields = dataclasses.asdict(self)
        del fields["folder"], fields["weights_file"]  # where it lives is not content
        fields["class_names"] = list(self.class_names)
        return fields


_INFO_KEYS = {f.name for f in dataclasses.fields(ClassifierInfo)} - {"folder", "weights_file"}


def _resolve_classifier_files(path) -> tuple[str, str]:
    """(weights file, json file) for a folder, a .weights.h5 or a .json path."""
    if path is None:
        raise InputError(
            "The classifier feature extractor needs a trained domain classifier: pass "
            f"its folder (path=...). {_TRAIN_ADVICE}"
        )
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if os.path.isdir(path):
        weights = os.path.join(path, CLASSIFIER_WEIGHTS_FILE)
        info = os.path.join(path, CLASSIFIER_INFO_FILE)
    elif path.endswith(".weights.h5") or path.endswith(".json"):
        folder, name = os.path.split(path)
        stem = name[: -len(".weights.h5")] if name.endswith(".weights.h5") else name[: -len(".json")]
        weights, info = os.path.join(folder, stem + ".weights.h5"), os.path.join(folder, stem + ".json")
        if not os.path.isfile(info) and name.endswith(".weights.h5"):
            # e.g. best.weights.h5 beside classifier.json
            info = os.path.join(folder, CLASSIFIER_INFO_FILE)
    elif os.path.exists(path):
        raise InputError(
            f"{path!r} is not a classifier folder, .weights.h5 or .json file. Pass the folder "
            f"train_domain_classifier wrote ({CLASSIFIER_WEIGHTS_FILE} + {CLASSIFIER_INFO_FILE})."
        )
    else:
        raise FileNotFoundError(f"No trained domain classifier at {path!r}. {_TRAIN_ADVICE}")
    for needed in (weights, info):
        if not os.path.isfile(needed):
            raise FileNotFoundError(
                f"The domain classifier at {path!r} is incomplete: {needed!r} is missing "
                f"(a classifier is {CLASSIFIER_WEIGHTS_FILE} + {CLASSIFIER_INFO_FILE}). {_TRAIN_ADVICE}"
            )
    return weights, info


def read_classifier_info(path) -> ClassifierInfo:
    """The :class:`ClassifierInfo` of a classifier folder (or one of its files)."""
    weights, info_path = _resolve_classifier_files(path)
    try:
        with open(info_path, encoding="utf-8") as f:
            content = json.load(f)
    except (OSError, ValueError) as error:
        raise InputError(f"Could not read {info_path!r} as JSON ({error}). {_TRAIN_ADVICE}") from None
    missing = sorted(_INFO_KEYS - set(content)) if isinstance(content, dict) else sorted(_INFO_KEYS)
    if missing:
        raise InputError(
            f"{info_path!r} is not a tfgen classifier description (missing: {', '.join(missing)}). "
            f"{_TRAIN_ADVICE}"
        )
    info = ClassifierInfo(
        folder=os.path.dirname(weights),
        weights_file=os.path.basename(weights),
        **{key: content[key] for key in _INFO_KEYS},
    )
    info = dataclasses.replace(info, class_names=tuple(str(name) for name in info.class_names))
    if len(info.class_names) != info.num_classes:
        raise InputError(
            f"{info_path!r} lists {len(info.class_names)} class names for num_classes="
            f"{info.num_classes}; the file was edited or damaged. {_TRAIN_ADVICE}"
        )
    return info


def load_domain_classifier(path) -> tuple[DomainClassifier, ClassifierInfo]:
    """Rebuild a trained classifier from its folder (or its .weights.h5 / .json).

    Raises:
        FileNotFoundError: no classifier there (the message says how to train one).
        ValueError: the json is damaged, or the weights do not fit it
            (nothing is loaded then).
    """
    info = read_classifier_info(path)
    model = build_domain_classifier(**info.model_config())
    settings = ", ".join(f"{key}={value}" for key, value in info.model_config().items())
    load_weights_checked(
        model,
        info.weights_path,
        expected=f"DomainClassifier({settings}) described by {CLASSIFIER_INFO_FILE}",
        advice="The weights and the json come from different trainings: keep the pair "
        "train_domain_classifier wrote together, or train again.",
    )
    return model, info


# --- training -----------------------------------------------------------------


def stratified_split(labels: np.ndarray, fraction: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices): ``fraction`` of every class (at least
    one image when fraction > 0, never all of it) goes to validation."""
    rng = np.random.default_rng(seed)
    train, validation = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = 0 if fraction == 0 else min(len(members) - 1, max(1, round(fraction * len(members))))
        validation.append(members[:count])
        train.append(members[count:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(validation))


def _check_class_counts(labels: np.ndarray, class_names, source: str) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    if len(class_names) < 2:
        raise InputError(
            f"A domain classifier needs at least 2 classes; {source!r} has "
            f"{len(class_names)} ({', '.join(map(str, class_names))}). Use class subfolders "
            "or a bundled set with several classes (e.g. digits, glyphs:greek)."
        )
    small = [f"{name!r} ({count})" for name, count in zip(class_names, counts) if count < 2]
    if small:
        raise InputError(
            f"Every class needs at least 2 images (one to train on, one to validate), but in "
            f"{source!r} these have fewer: {', '.join(small[:5])}"
            f"{', ...' if len(small) > 5 else ''}. Add images or leave those classes out."
        )


def _random_translate(images, seed, max_shift: int):
    """Shift every image by its own integer offset in [-max_shift, max_shift]
    (edges mirrored). tf ops: this runs in the tf.data pipeline."""
    import tensorflow as tf

    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    shifts = tf.random.stateless_uniform(
        [batch, 2], seed=seed, minval=-max_shift, maxval=max_shift + 1, dtype=tf.int32
    )
    pad = [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]]
    padded = tf.pad(images, pad, mode="SYMMETRIC")
    rows = tf.range(height)[None, :] + max_shift - shifts[:, :1]  # [B, H]
    cols = tf.range(width)[None, :] + max_shift - shifts[:, 1:]  # [B, W]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2s, C]
    return tf.gather(shifted, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def _training_dataset(images, labels, *, batch_size: int, seed: int, max_shift: int):
    """Endless shuffled batches of (float images in [-1, 1], labels), augmented."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True).enumerate()

    def augment(step, batch):
        x, y = batch
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        if max_shift > 0:
            x = _random_translate(x, tf.stack([tf.constant(seed, tf.int64), step]), max_shift)
        return x, y

    return dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _accuracy(model: DomainClassifier, images: np.ndarray, labels: np.ndarray) -> float:
    batch_size = 256
    correct = 0
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].astype(np.float32) / 127.5 - 1.0
        logits = ops.convert_to_numpy(model.predict_on_batch(x))
        correct += int(np.sum(np.argmax(logits, axis=-1) == labels[start : start + batch_size]))
    return correct / len(images)


def epochs_to_see(images_seen: int, num_images: int) -> int:
    """Epochs over ``num_images`` training images that show about
    ``images_seen`` images, between 2 and 30."""
    return int(np.clip(round(images_seen / max(int(num_images), 1)), 2, 30))


def train_domain_classifier(
    source,
    *,
    out_dir,
    resolution: int = 32,
    epochs: int = 30,
    batch_size: int = 64,
    seed: int = 0,
    validation_split: float = 0.1,
    width: int = 32,
    feature_dim: int = 128,
    learning_rate: float = 3e-3,
    progress: bool = True,
) -> ClassifierInfo:
    """Train a :class:`DomainClassifier` on a labelled set and save it in ``out_dir``.

    Adam with a cosine-decayed learning rate, cross-entropy, light augmentation
    (random shifts of up to R/8 pixels); ``validation_split`` of every class
    is held out (stratified) and the final accuracy on it is recorded.

    Args:
        source: a folder with one subfolder per class, a bundled labelled
            set (``digits``, ``fashion_mnist``, ``glyphs:greek``, ...), or
            images already loaded (a ``tfgen.data.LabelledImages`` with
            uint8 [N, R, R, C] images, e.g. the base classes of a few-shot split).
        out_dir: folder for ``classifier.weights.h5`` and ``classifier.json``
            (created; existing files are replaced atomically).
        resolution: side R the images are resized to and the network works at.
        epochs: passes over the training images.
        batch_size: images per step (at most the number of training images).
        seed: fixes the split, the initial weights (via
            ``keras.utils.set_random_seed``, which seeds Python, NumPy and the
            backend globally), shuffling and augmentation.
        validation_split: share of every class held out, in [0, 1).
        width, feature_dim: network size (see DomainClassifier).
        learning_rate: Adam's initial learning rate.
        progress: show Keras' per-epoch progress bars.

    Returns:
        The saved classifier's :class:`ClassifierInfo`.
    """
    from tfgen.data import load_labelled  # the data pipeline: needed for training only

    if hasattr(source, "images") and hasattr(source, "labels"):  # a LabelledImages
        data, source = source, f"{len(source.labels)} images of {len(source.class_names)} classes given in memory"
    else:
        source = os.fspath(source)
        data = None
    if not 0.0 <= validation_split < 1.0:
        raise InputError(
            f"validation_split must be in [0, 1). Received: validation_split={validation_split!r}"
        )
    for key, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{key} must be a positive integer. Received: {key}={value!r}")
    if data is None:
        data = load_labelled(source, resolution=resolution)
    images, labels = np.asarray(data.images), np.asarray(data.labels, np.int64)
    class_names = tuple(str(name) for name in data.class_names)
    _check_class_counts(labels, class_names, source)

    train_index, validation_index = stratified_split(labels, validation_split, seed=seed)
    batch_size = min(batch_size, len(train_index))
    steps_per_epoch = max(1, len(train_index) // batch_size)

    keras.utils.set_random_seed(seed)
    model = build_domain_classifier(
        resolution=resolution, num_classes=len(class_names), width=width, feature_dim=feature_dim
    )
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=epochs * steps_per_epoch)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    dataset = _training_dataset(
        images[train_index],
        labels[train_index],
        batch_size=batch_size,
        seed=seed,
        max_shift=resolution // 8,
    )
    model.fit(
        dataset,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        shuffle=False,  # the dataset shuffles itself
        verbose=1 if progress else 0,
    )

    validation_accuracy = None
    if len(validation_index):
        validation_accuracy = _accuracy(model, images[validation_index], labels[validation_index])
        if progress:
            print(
                f"domain classifier: validation accuracy {validation_accuracy:.4f} "
                f"on {len(validation_index)} images"
            )

    out_dir = os.path.abspath(os.path.expanduser(os.fspath(out_dir)))
    info = ClassifierInfo(
        folder=out_dir,
        resolution=model.resolution,
        num_classes=model.num_classes,
        class_names=class_names,
        width=model.width,
        feature_dim=model.feature_dim,
        dropout=model.dropout,
        source=source,
        validation_accuracy=validation_accuracy,
        num_training_images=int(len(train_index)),
        num_validation_images=int(len(validation_index)),
        epochs=int(epochs),
        seed=int(seed),
    )
    os.makedirs(out_dir, exist_ok=True)
    save_weights_atomic(model, info.weights_path)
    write_json_atomic(os.path.join(out_dir, CLASSIFIER_INFO_FILE), info.to_json(), indent=2)
    return info


# --- the extractor ------------------------------------------------------------


def _feature_model(classifier: DomainClassifier) -> keras.Model:
    """uint8-valued float images of any size -> {"features", "logits"}, inference mode."""
    images = keras.Input((None, None, 3), name="images")  # 0..255
    features, logits = classifier.features_and_logits(images / 127.5 - 1.0, training=False)
    outputs = {"features": features, "logits": logits}
    return keras.Model(images, outputs, name="domain_classifier_features")


class ClassifierExtractor(FeatureExtractor):
    """Features (the D-dim ReLU layer) and class logits of a trained
    :class:`DomainClassifier`.

    Args:
        path: the classifier folder train_domain_classifier wrote (or its
            ``.weights.h5`` / ``.json``).

    Attributes (besides FeatureExtractor's): ``class_names``, ``info``
    (:class:`ClassifierInfo`), ``path`` (the weights file).
    """

    name = "classifier"

    def __init__(self, *, path=None):
        self.classifier, self.info = load_domain_classifier(path)
        self.path = self.info.weights_path
        self.feature_dim = self.info.feature_dim
        self.num_classes = self.info.num_classes
        self.class_names = list(self.info.class_names)
        self.fingerprint = file_fingerprint(self.path)
        self._model = _feature_model(self.classifier)

    def _extract(self, images: np.ndarray) -> dict:
        outputs = self._model.predict_on_batch(images.astype(np.float32))
        return {key: ops.convert_to_numpy(value) for key, value in outputs.items()}
