"""Weights files fetched over the network, the way Keras fetches its own:
``keras.utils.get_file`` into the Keras cache (``$KERAS_HOME/models``, else
``~/.keras/models``), where ``keras.applications`` looks too.

Off when the user says so: ``--offline`` (``evaluate.py``, ``train.py``) or
the environment variable ``TFGEN_OFFLINE=1``; then a missing file is an
error that says where to put it. A download that does not answer within
:data:`TIMEOUT_SECONDS` fails, so a machine without network fails fast.
"""

from __future__ import annotations

import contextlib
import os
import socket

OFFLINE_VARIABLE = "TFGEN_OFFLINE"
TIMEOUT_SECONDS = 60


def is_offline() -> bool:
    """Whether downloads are forbidden (``--offline`` or ``TFGEN_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


def go_offline() -> None:
    """Forbid downloads in this process and the ones it starts (``--offline``)."""
    os.environ[OFFLINE_VARIABLE] = "1"


@contextlib.contextmanager
def _socket_timeout(seconds):
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def fetch(url: str, filename: str, folder: str, *, file_hash: str | None = None) -> str:
    """``url`` saved as ``folder/filename`` with ``keras.utils.get_file`` (kept
    when already there; a half-written or corrupted one is deleted); returns its path.

    Raises:
        ConnectionRefusedError: downloads are off (:func:`is_offline`).
        Exception: whatever the network gives (no route, a timeout, HTTP errors).
    """
    if is_offline():
        raise ConnectionRefusedError(f"downloads are off (--offline or {OFFLINE_VARIABLE}=1)")
    import keras

    os.makedirs(folder, exist_ok=True)  # else Keras falls back to /tmp/.keras, where tfgen does not look
    target = os.path.join(folder, filename)
    existed = os.path.exists(target)
    try:
        with _socket_timeout(TIMEOUT_SECONDS):
            return keras.utils.get_file(
                fname=filename,
                origin=url,
                file_hash=file_hash,
                cache_dir=os.path.dirname(folder),
                cache_subdir=os.path.basename(folder),
            )
    except BaseException:
        # Keras keeps a file whose hash is wrong: it would be found in the cache next time.
        if not existed and os.path.exists(target):
            os.remove(target)
        raise


def download_failure(what: str, error: BaseException) -> str:
    """``"<what> are not on this machine and could not be downloaded (<why>)."``"""
    first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"{what} are not on this machine and could not be downloaded ({first_line})."
