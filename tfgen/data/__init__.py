"""Image data for training: folders of images and bundled offline datasets.

    from tfgen.data import load_image_dataset
    data = load_image_dataset("path/to/images", resolution=256, batch_size=8)
    for batch in data.dataset.take(10):  # float32 [8, 256, 256, 3] in [-1, 1]
        ...

Bundled datasets (``list_builtin_datasets()``) are usable wherever a folder is:
``digits``, ``fashion_mnist:ankle_boot:100``, ``animals:giraffe``, ``faces``, ``glyphs:greek``,
``tfds:oxford_flowers102``; see ``tfgen.data.builtin`` for the syntax.

Few-shot tasks (``tfgen.data.episodes``): a class-structured set split into
meta-train and held-out classes, tasks of n images of one class, and the
shots of a new class (``load_shots("digits:9", shots=4, ...)``).
"""

from tfgen.data.builtin import LabelledImages, builtin_dataset_help, list_builtin_datasets
from tfgen.data.episodes import (
    ClassSplit,
    FewShotData,
    TaskDataset,
    augment_shots,
    labelled_batches,
    load_few_shot_data,
    load_shots,
    resolve_class_split,
    shot_dataset,
    task_dataset,
)
from tfgen.data.images import ImageDataset, load_image_dataset, load_images, load_labelled

__all__ = [
    "ClassSplit",
    "FewShotData",
    "TaskDataset",
    "augment_shots",
    "labelled_batches",
    "load_few_shot_data",
    "load_shots",
    "resolve_class_split",
    "shot_dataset",
    "task_dataset",
    "ImageDataset",
    "LabelledImages",
    "builtin_dataset_help",
    "list_builtin_datasets",
    "load_image_dataset",
    "load_images",
    "load_labelled",
]
