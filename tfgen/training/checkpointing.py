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
back to older ones, moving unreadable ones aside into ``unreadable/``.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings

import tensorflow as tf

from tfgen.errors import InputError

UNREADABLE_DIR = "unreadable"
_INDEX_FILE = re.compile(r"^ckpt-(\d+)\.index$")


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


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


def _move_aside(prefix):
    """Move an unreadable checkpoint's files into ``unreadable/`` (kept, not deleted)."""
    directory, base = os.path.split(prefix)
    target = os.path.join(directory, UNREADABLE_DIR)
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(directory):
        if name == base + ".index" or name.startswith(base + ".data-"):
            shutil.move(os.path.join(directory, name), os.path.join(target, name))
    return target


def _index_intact_checkpoints(directory, prefix, step, candidates):
    """Make the ``checkpoint`` index file name ``prefix`` as the latest and list
    the intact ones, so the manager keeps rotating them (it may have been lost
    or name a damaged one). Left alone when already right: a finished run's
    folder is not touched."""
    state = tf.train.get_checkpoint_state(directory)
    if state is not None and os.path.basename(state.model_checkpoint_path) == os.path.basename(prefix):
        return
    kept = [p for s, p in sorted(candidates) if s <= step and os.path.exists(p + ".index")]
    tf.compat.v1.train.update_checkpoint_state(directory, prefix, all_model_checkpoint_paths=kept)


def restore_newest_intact(make_checkpoint, directory, *, read_only=False):
    """Restore the newest readable checkpoint in ``directory``.

    Args:
        make_checkpoint: returns a fresh ``tf.train.Checkpoint`` of the
            training state (a failed attempt leaves nothing pending behind).
        directory: the checkpoint folder.
        read_only: do not move unreadable checkpoints aside or rewrite the
            index file (another worker's folder).

    Returns:
        The restored checkpoint's prefix, or None when there is none.

    Raises:
        ValueError: there are checkpoints but none can be read.
    """
    candidates = find_checkpoints(directory)
    failures = []
    for step, prefix in candidates:
        try:
            make_checkpoint().restore(prefix).assert_existing_objects_matched()
        # A damaged file fails in many ways (OpError, IndexError, ValueError,
        # AssertionError, ...); the architecture was checked before this.
        except Exception as error:  # noqa: BLE001
            failures.append(f"{os.path.basename(prefix)}: {_first_line(error)}")
            where = "" if read_only else f"; moved to {_move_aside(prefix)}"
            warnings.warn(
                f"Checkpoint {prefix} cannot be read ({_first_line(error)}){where}. "
                "Trying an older one.",
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
