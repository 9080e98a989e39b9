"""Checkpoint folders after a repair: the rebuilt index keeps the manager
rotating, leftovers of killed writes are removed (by the chief only), and a
damaged checkpoint is one warning, without TensorFlow's log lines.

Tiny ``tf.train.Checkpoint`` objects and :mod:`tfgen.training.checkpointing`
itself; the CLI's side is in tests/test_crash_resume.py.
"""

import logging
import os
import warnings

import pytest
import tensorflow as tf

from tfgen.training.checkpointing import UNREADABLE_DIR, find_checkpoints, restore_newest_intact


def state():
    return {"net": [tf.Variable(tf.zeros([16, 16])) for _ in range(2)], "step": tf.Variable(0, dtype=tf.int64)}


def manager(directory, objects, keep):
    return tf.train.CheckpointManager(tf.train.Checkpoint(**objects), str(directory), max_to_keep=keep)


def save(directory, steps, *, keep=3):
    objects = state()
    writer = manager(directory, objects, keep)
    for step in steps:
        objects["step"].assign(step)
        writer.save(checkpoint_number=step)
    return writer


def restore(directory, *, read_only=False):
    """(restored prefix, restored step) as the trainer restores a run."""
    objects = state()
    prefix = restore_newest_intact(lambda: tf.train.Checkpoint(**objects), str(directory), read_only=read_only)
    return prefix, int(objects["step"].numpy())


def steps_on_disk(directory):
    return sorted(step for step, _ in find_checkpoints(str(directory)))


def managed_steps(writer):
    """The steps the manager rotates, oldest first."""
    return [int(path.rsplit("-", 1)[1]) for path in writer.checkpoints]


def damage(directory, step):
    """Overwrite bytes in the middle of a checkpoint's data file (its checksum fails)."""
    (data,) = [n for n in os.listdir(directory) if n.startswith(f"ckpt-{step}.data-")]
    path = os.path.join(directory, data)
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 3)
        f.write(b"\xff" * 64)


def test_a_lost_index_is_rebuilt_and_rotation_goes_on(tmp_path):
    save(tmp_path, [10, 20, 30, 40])
    assert steps_on_disk(tmp_path) == [20, 30, 40]
    os.remove(tmp_path / "checkpoint")

    assert restore(tmp_path) == (str(tmp_path / "ckpt-40"), 40)
    index = (tmp_path / "checkpoint").read_text()
    assert str(tmp_path) not in index, index  # relative paths: the run folder can move
    objects = state()
    writer = manager(tmp_path, objects, 3)
    assert managed_steps(writer) == [20, 30, 40]  # oldest first, all of them rotated
    for step in (50, 60):
        objects["step"].assign(step)
        writer.save(checkpoint_number=step)
    assert steps_on_disk(tmp_path) == [40, 50, 60]


def test_the_next_save_deletes_down_to_keep_in_step_order(tmp_path):
    save(tmp_path, [1, 2, 3, 4, 5], keep=10)
    os.remove(tmp_path / "checkpoint")
    # Copied folders can have any file times: the order is the steps'.
    os.utime(tmp_path / "ckpt-1.index", (4e9, 4e9))
    restore(tmp_path)

    objects = state()
    writer = manager(tmp_path, objects, 2)
    assert managed_steps(writer) == [1, 2, 3, 4, 5]
    objects["step"].assign(6)
    writer.save(checkpoint_number=6)
    assert steps_on_disk(tmp_path) == [5, 6]


def test_after_a_damaged_newest_checkpoint_rotation_goes_on(tmp_path):
    save(tmp_path, [1, 2, 3])
    damage(tmp_path, 3)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert restore(tmp_path) == (str(tmp_path / "ckpt-2"), 2)
    objects = state()
    writer = manager(tmp_path, objects, 3)
    for step in (3, 4, 5):
        objects["step"].assign(step)
        writer.save(checkpoint_number=step)
    assert steps_on_disk(tmp_path) == [3, 4, 5]


def test_a_right_index_is_left_untouched(tmp_path):
    save(tmp_path, [1, 2, 3])
    index = tmp_path / "checkpoint"
    before = (index.read_text(), os.stat(index).st_mtime_ns)
    restore(tmp_path)
    assert (index.read_text(), os.stat(index).st_mtime_ns) == before


def leave_leftovers(directory):
    """What killed writes leave: a write not renamed into place, and the data
    file of a checkpoint whose index the rotation had already deleted."""
    temp = directory / "ckpt-7_temp"
    temp.mkdir()
    (temp / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"\0" * 1000)
    (directory / "ckpt-1.data-00000-of-00001").write_bytes(b"\0" * 1000)


def test_the_chief_removes_the_leftovers_of_killed_writes(tmp_path):
    save(tmp_path, [5, 6])
    leave_leftovers(tmp_path)
    assert restore(tmp_path) == (str(tmp_path / "ckpt-6"), 6)
    assert sorted(os.listdir(tmp_path)) == [
        "checkpoint", "ckpt-5.data-00000-of-00001", "ckpt-5.index", "ckpt-6.data-00000-of-00001", "ckpt-6.index",
    ]  # fmt: skip


def test_another_worker_leaves_the_leftovers_alone(tmp_path):
    save(tmp_path, [5, 6])
    leave_leftovers(tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert restore(tmp_path, read_only=True) == (str(tmp_path / "ckpt-6"), 6)
    assert sorted(os.listdir(tmp_path)) == before


def test_a_damaged_checkpoint_is_one_warning_and_no_tensorflow_logs(tmp_path, caplog):
    save(tmp_path, [1, 2])
    damage(tmp_path, 2)
    os.remove(tmp_path / "checkpoint")  # rebuilt too: no deprecation lines either
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG, logger="tensorflow"):
        warnings.simplefilter("always")
        assert restore(tmp_path) == (str(tmp_path / "ckpt-1"), 1)

    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert message.startswith(f"Checkpoint {tmp_path / 'ckpt-2'} cannot be read (TensorBundle at "), message
    assert "Checksum does not match" in message, message
    assert message.endswith(f"); moved to {tmp_path / UNREADABLE_DIR}. Trying an older one."), message
    # TensorFlow's wrapping of the op's error is dropped; one line.
    assert "\n" not in message and "{{function_node" not in message and "[Op:" not in message, message
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("tensorflow")]
    assert logged == [], logged


@pytest.mark.parametrize("read_only", [False, True])
def test_no_readable_checkpoint_is_an_input_error(tmp_path, read_only):
    from tfgen.errors import InputError

    save(tmp_path, [1])
    damage(tmp_path, 1)
    with warnings.catch_warnings(record=True), pytest.raises(InputError, match="None of the 1 checkpoints"):
        warnings.simplefilter("always")
        restore(tmp_path, read_only=read_only)
