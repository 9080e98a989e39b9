"""LoFGAN's training episodes: k images of one training class *and its label*.

:func:`tfgen.data.episodes.task_dataset` draws the tasks FIGR meta-trains on
but does not say which class a task is; LoFGAN's class head needs it. This
is the same stateless draw (batch s depends on (seed, s) alone, so a resumed
run gets the batches an uninterrupted one would), returning the labels too.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfgen.data.episodes import TaskDataset, check_positive
from tfgen.errors import InputError


def labelled_task_dataset(train, *, shots, tasks_per_batch, seed=0):
    """Endless ``(images float32 [T * k, R, R, C] in [-1, 1], labels int32 [T * k])``.

    Rows ``[t * k, (t + 1) * k)`` are episode t: a class drawn uniformly among
    the classes of ``train`` (a :class:`tfgen.data.builtin.LabelledImages`)
    with at least k images, then k distinct images of it. ``labels`` holds
    each image's class (an index into ``train.class_names``), the same for
    the k images of an episode: one leading axis for both, so that
    ``tf.distribute`` splits a batch into whole episodes.
    """
    check_positive(shots=shots, tasks_per_batch=tasks_per_batch)
    labels = np.asarray(train.labels)
    counts = np.bincount(labels, minlength=len(train.class_names))
    eligible = np.flatnonzero(counts >= shots)
    if len(eligible) == 0:
        have = ", ".join(f"{n}: {c}" for n, c in zip(train.class_names, counts))
        raise InputError(
            f"No training class has the {shots} images an episode needs (shots={shots}). "
            f"Images per class: {have or 'no classes'}. Lower --shots or add images."
        )
    width = int(counts[eligible].max())
    members = np.zeros((len(eligible), width), np.int64)  # members[e, :counts] = class e's image indices
    for row, k in enumerate(eligible):
        members[row, : counts[k]] = np.flatnonzero(labels == k)
    members, sizes = tf.constant(members), tf.constant(counts[eligible], tf.int64)
    class_ids = tf.constant(eligible.astype(np.int32))
    table = tf.constant(np.asarray(train.images))  # uint8 [N, R, R, C]

    def draw(step):
        base = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0x10F6], tf.int64), step)
        classes = tf.random.stateless_uniform(
            [tasks_per_batch], tf.random.experimental.stateless_fold_in(base, 0), minval=0,
            maxval=len(eligible), dtype=tf.int64,
        )  # fmt: skip
        # k distinct members: the smallest of i.i.d. keys, padding excluded.
        keys = tf.random.stateless_uniform([tasks_per_batch, width], tf.random.experimental.stateless_fold_in(base, 1))
        valid = tf.range(width, dtype=tf.int64)[None, :] < tf.gather(sizes, classes)[:, None]
        _, slots = tf.math.top_k(-tf.where(valid, keys, 2.0), k=shots)
        indices = tf.gather(tf.gather(members, classes), slots, batch_dims=1)
        images = tf.cast(tf.gather(table, tf.reshape(indices, [-1])), tf.float32) / 127.5 - 1.0
        return images, tf.repeat(tf.gather(class_ids, classes), shots)

    dataset = tf.data.Dataset.counter().map(draw, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    return TaskDataset(dataset, len(labels), tasks_per_batch * shots, 1)


__all__ = ["labelled_task_dataset"]
