"""Stopping a run on SIGINT (Ctrl-C) or SIGTERM (schedulers, ``docker stop``,
``kill``) without losing work.

While a training loop runs inside :class:`StopSignals`, the first signal only
asks it to stop: the loop finishes its step, saves a checkpoint and raises
:class:`TrainingInterrupted`. A second signal stops at once, saving nothing
(the interrupt's message says so, for the CLI to print). Outside a loop
(``deferred=False``) a signal raises at once, as Ctrl-C does by default; SIGTERM
then ends the run with a message instead of killing it mid-write.
"""

from __future__ import annotations

import signal
import sys
import threading

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal (after saving a checkpoint when it could).

    A KeyboardInterrupt, so code that handles Ctrl-C handles it too. The CLI
    exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM), as a shell
    does. ``saved`` is False when it stopped at once: the trainer said
    nothing, so the CLI prints the message.
    """

    def __init__(self, signum, message="", *, saved=True):
        super().__init__(message or f"stopped by {signal.Signals(signum).name}")
        self.signum = signum
        self.saved = saved

    @property
    def exit_code(self):
        return 128 + int(self.signum)


class StopSignals:
    """Context manager: handle SIGINT/SIGTERM as a stop request (module doc).

    ``requested`` is the signal number received, or None. Handlers can only
    be installed from the main thread; elsewhere this does nothing.
    """

    def __init__(self, *, deferred=True):
        self.deferred = deferred
        self.requested = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        return False

    def _handle(self, signum, frame):
        if self.deferred and self.requested is None:
            self.requested = signum
            print(
                f"\n{signal.Signals(signum).name} received: saving a checkpoint after this step "
                "(send it again to stop at once).",
                file=sys.stderr,
                flush=True,
            )
            return
        raise TrainingInterrupted(signum, _stopped_at_once(signum, self.requested), saved=False)


def _stopped_at_once(signum, first):
    """The one line a CLI prints when ``signum`` stopped a run at once
    (``first``: the signal already being handled, or None)."""
    name = signal.Signals(signum).name
    if first == signum:
        name += " received again"
    elif first is not None:
        name += f" received after {signal.Signals(first).name}"
    else:
        name += " received"
    return (
        f"{name}: stopped at once, without saving a checkpoint. "
        "Run the same command again to resume from the last checkpoint."
    )
