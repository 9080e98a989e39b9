"""Training checkpoints: the whole state, written only when healthy, restored
from the newest copy that can still be read.

What a checkpoint holds (see :meth:`tfgen.training.Trainer.checkpoint_objects`):
every variable of every network (weights, BatchNorm statistics, spectral-norm
vectors, noise seed states, StyleGAN's w average, ...), the optimizers, the
step and the trainer's random state. The input pipelines are stateless
functions of the step (``tfgen.data``), so the step is their position.

Networks are stored as the list ``model.variables``, by position. Keras'
``tf.train.Checkpoint`` integration does not see layers held in Python lists
(FastGAN's blocks, ...), and variable paths of auto-named layers depend on how
many layers the process created before; the position depends only on the
network's code and config, which a resume checks first.

On disk: ``ckpt-<step>.index`` + ``.data-*`` files written by
``tf.train.CheckpointManager`` (TF writes them to a temporary name and renames,
then updates the ``checkpoint`` index file). Restoring does not trust the
index file: it scans the folder, tries the newest checkpoint first and falls
back to older ones, moving unreadable ones aside into ``unreadable/``; the
chief then rebuilds the index when it is lost or wrong, and removes what a
killed write left behind (``ckpt-<step>_temp/`` folders, data files whose
``.index`` is gone).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import re
import shutil
import time
import warnings

import tensorflow as tf

from tfgen.errors import InputError

UNREADABLE_DIR = "unreadable"
_INDEX_FILE = re.compile(r"^ckpt-(\d+)\.index$")
_DATA_FILE = re.compile(r"^(ckpt-\d+)\.data-\d+-of-\d+$")
# TF writes a checkpoint into ``<prefix>_temp/`` and renames it into place.
_TEMP_SUFFIX = "_temp"


def network_state(model):
    """What a checkpoint keeps of a Keras model: all its variables, by position."""
    return list(model.variables)


def find_checkpoints(directory):
    """``[(step, prefix)]`` of the checkpoints on disk, newest first (whatever
    the ``checkpoint`` index file says)."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _INDEX_FILE.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name[: -len(".index")])))
    return sorted(found, reverse=True)


# TensorFlow's wrapping of an op's error: "{{function_node ...}} " before it, " [Op:RestoreV2]" after.
_OP_NOISE = re.compile(r"^\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]$")


def _first_line(error):
    text = str(error).strip()
    line = _OP_NOISE.sub("", text.splitlines()[0]) if text else ""
    return line[:300] or type(error).__name__


def _move_aside(prefix):
    """Move an unreadable checkpoint's files into ``unreadable/`` (kept, not deleted)."""
    directory, base = os.path.split(prefix)
    target = os.path.join(directory, UNREADABLE_DIR)
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(directory):
        if name == base + ".index" or name.startswith(base + ".data-"):
            shutil.move(os.path.join(directory, name), os.path.join(target, name))
    return target


def remove_leftovers(directory):
    """Delete what killed writes left in the checkpoint folder: ``*_temp/``
    folders (a write not yet renamed into place) and data files whose
    ``.index`` is gone (a rotation cut short). Only the chief, holding the
    run lock, may call it: no write of its own is under way then."""
    if not os.path.isdir(directory):
        return
    names = set(os.listdir(directory))
    for name in names:
        path = os.path.join(directory, name)
        data = _DATA_FILE.match(name)
        if name.endswith(_TEMP_SUFFIX) and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif data and data.group(1) + ".index" not in names:
            os.remove(path)


def _write_times(prefixes):
    """When each checkpoint was written (its index file's mtime), never
    decreasing along ``prefixes`` (oldest first) nor after now: the manager
    skips entries without a time, and must rotate them in this order."""
    times, latest = [], 0.0
    for prefix in prefixes:
        latest = min(max(latest, os.path.getmtime(prefix + ".index")), time.time())
        times.append(latest)
    return times


def _index_is_right(directory, prefix, kept):
    """Whether the ``checkpoint`` index file names ``prefix`` as the latest and
    lists exactly ``kept``, with their times (what the manager rotates)."""
    state = tf.train.get_checkpoint_state(directory)
    if state is None:
        return False
    listed = [os.path.abspath(p) for p in state.all_model_checkpoint_paths]
    return (
        os.path.abspath(state.model_checkpoint_path) == os.path.abspath(prefix)
        and listed == [os.path.abspath(p) for p in kept]
        and len(state.all_model_checkpoint_timestamps) == len(kept)
    )


def _index_intact_checkpoints(directory, prefix, step, candidates):
    """Make the ``checkpoint`` index file name ``prefix`` as the latest and
    list the intact checkpoints, oldest first, with their times, so that the
    next ``tf.train.CheckpointManager`` deletes down to its ``max_to_keep``
    at its first save (it may have been lost, or name a damaged one). Left
    alone when already right: a finished run's folder is not touched."""
    kept = [p for s, p in sorted(candidates) if s <= step and os.path.exists(p + ".index")]
    if _index_is_right(directory, prefix, kept):
        return
    times = _write_times(kept)
    # Relative paths, as the manager writes them: the run folder can move.
    # (tf.compat.v1's update_checkpoint_state is this, deprecated, absolute.)
    tf.__internal__.train.update_checkpoint_state(
        directory,
        prefix,
        all_model_checkpoint_paths=kept,
        all_model_checkpoint_timestamps=times,
        # Only checkpoints written after this time are rotated: all of them.
        last_preserved_timestamp=times[0] - 1.0,
        save_relative_paths=True,
    )


@contextlib.contextmanager
def _tensorflow_logging_off():
    """Hide TensorFlow's Python log lines meanwhile (e.g. "deleted with
    unrestored values" from a failed restore): a one-line warning says it."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _try_restore(make_checkpoint, prefix, *, partial=False):
    """Restore ``prefix`` into a fresh checkpoint; None when it worked, else
    why not (one line). ``partial``: the checkpoint holds more than it
    restores (no warning about the rest)."""
    with _tensorflow_logging_off():
        try:
            status = make_checkpoint().restore(prefix)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
            return None
        # A damaged file fails in many ways (OpError, IndexError, ValueError,
        # AssertionError, ...); the architecture was checked before this.
        except Exception as error:  # noqa: BLE001
            reason = _first_line(error)
        # The half-restored checkpoint, freed with the traceback, logs what it
        # did not restore when collected: collect it while logging is off.
        gc.collect()
        return reason


def restore_networks(prefix, networks):
    """Restore only ``networks`` (``{checkpoint name: Keras model}``, names as
    in :meth:`tfgen.training.Trainer.checkpoint_objects`) from the checkpoint
    at ``prefix``, leaving the rest of it (the other networks, optimizers,
    step) unread: e.g. the generator of a run that is still training.
    Returns None when it worked, else why not (one line); nothing is written."""
    def make_checkpoint():
        return tf.train.Checkpoint(**{name: network_state(model) for name, model in networks.items()})

    return _try_restore(make_checkpoint, prefix, partial=True)


def restore_newest_intact(make_checkpoint, directory, *, read_only=False):
    """Restore the newest readable checkpoint in ``directory``.

    Args:
        make_checkpoint: returns a fresh ``tf.train.Checkpoint`` of the
            training state (a failed attempt leaves nothing pending behind).
        directory: the checkpoint folder.
        read_only: do not move unreadable checkpoints aside, rewrite the
            index file or remove leftovers (another worker's folder).

    Returns:
        The restored checkpoint's prefix, or None when there is none.

    Raises:
        ValueError: there are checkpoints but none can be read, now or at an
            earlier restore (all of them in ``unreadable/``): the run is not
            started afresh over them without ``--override``.
    """
    if not read_only:
        remove_leftovers(directory)
    candidates = find_checkpoints(directory)
    moved_aside = find_checkpoints(os.path.join(directory, UNREADABLE_DIR))
    if not candidates and moved_aside:
        raise InputError(
            f"The {len(moved_aside)} checkpoints of this run could not be read at an earlier start and "
            f"were moved to {os.path.join(directory, UNREADABLE_DIR)!r}; none is left to resume from. "
            "Pass --override to start the run afresh, or put a good copy of a checkpoint back in "
            f"{directory!r}."
        )
    failures = []
    for step, prefix in candidates:
        reason = _try_restore(make_checkpoint, prefix)
        if reason is not None:
            failures.append(f"{os.path.basename(prefix)}: {reason}")
            where = "" if read_only else f"; moved to {_move_aside(prefix)}"
            warnings.warn(
                f"Checkpoint {prefix} cannot be read ({reason}){where}. Trying an older one.",
                stacklevel=2,
            )
            continue
        if not read_only:
            _index_intact_checkpoints(directory, prefix, step, candidates)
        return prefix
    if failures:
        raise InputError(
            f"None of the {len(failures)} checkpoints in {directory!r} can be read "
            f"({'; '.join(failures[:3])}). Pass --override to start the run afresh, "
            "or restore the folder from a backup."
        )
    return None
