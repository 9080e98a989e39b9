"""Small file helpers every module shares: JSON and text written atomically
(a reader or a crash sees the whole old file or the whole new one, never
half of either) and JSON read with a default for a missing file.

Pure Python (no TensorFlow), so CLIs and run-folder checks can use it.
"""

from __future__ import annotations

import json
import os

# What Keras 3 requires a weights file's name to end in (model.save_weights).
WEIGHTS_SUFFIX = ".weights.h5"


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through ``path.tmp`` and ``os.replace``;
    the parent folder is created when missing."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json_atomic(path: str, content, *, indent=1, sort_keys=False) -> None:
    """``content`` as JSON (UTF-8, non-ASCII kept), written atomically."""
    text = json.dumps(content, indent=indent, sort_keys=sort_keys, ensure_ascii=False) + "\n"
    write_text_atomic(path, text)


def read_json(path: str, default=None):
    """The JSON in ``path``, or ``default`` when there is no such file."""
    if not os.path.isfile(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_json_or_none(path: str):
    """The JSON value in ``path``, or None when it is missing or not JSON:
    for files another process may be writing or may have left half-written."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
