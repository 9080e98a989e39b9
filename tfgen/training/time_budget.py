"""``--time-budget``: train for a length of wall-clock time instead of (or
before) a number of steps.

The budget is the run's total: the training time of every invocation of the
run adds up. Each checkpoint records the training time up to its step in
``<run>/training_time.json``; a rerun restores the time of the checkpoint it
resumes from and trains until the total reaches the budget. So a run stopped
(Ctrl-C, a kill, a crash) and rerun with the same command ends after about the
budget in all, the time since its last checkpoint excepted (that work is
redone, not counted twice); a finished run rerun with the same budget has
nothing to do, and a larger budget trains on for the difference.

Training time is the time in the training loop: steps (the first one's
tracing included), samples, checkpoints, metrics; not starting Python,
loading the data or building the networks. It is recorded while the run has
a budget: the time of invocations without one (``--steps`` alone) does not
count towards a budget given later.
"""

from __future__ import annotations

from tfgen.checks import parse_duration  # noqa: F401 (re-exported: the budget's parser)
from tfgen.files import read_json, write_json_atomic
from tfgen.run_folder import TIME_RECORD, RunFolder  # noqa: F401 (TIME_RECORD re-exported)

# Entries kept in the record: the newest checkpoints' (a rerun resumes from one of the kept ones).
_KEPT_ENTRIES = 100


def format_duration(seconds) -> str:
    """``"1h 2m 5s"``, ``"30m 0s"``, ``"12.3s"``."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h " if hours else "") + f"{minutes}m {secs}s"


def _record_path(run_dir):
    return RunFolder(run_dir).time_record


def _entries(run_dir):
    record = read_json(_record_path(run_dir), default=None)
    entries = record.get("seconds_at_step") if isinstance(record, dict) else None
    if not isinstance(entries, dict):
        return {}
    found = {}
    for step, seconds in entries.items():
        try:
            found[int(step)] = float(seconds)
        except (TypeError, ValueError):
            continue
    return found


def seconds_at(run_dir, step) -> float:
    """The training time recorded up to ``step``: its own entry, else the
    newest one before it (a checkpoint whose record was lost: the time after
    that one is not counted), else 0."""
    entries = _entries(run_dir)
    if step in entries:
        return entries[step]
    earlier = [s for s in entries if s <= step]
    return entries[max(earlier)] if earlier else 0.0


def record_seconds(run_dir, step, seconds) -> None:
    """Record the training time up to ``step`` (at a checkpoint of that step).
    Entries of later steps go: they belonged to a run resumed from before them."""
    entries = {s: t for s, t in _entries(run_dir).items() if s < step}
    entries[int(step)] = float(seconds)
    kept = dict(sorted(entries.items())[-_KEPT_ENTRIES:])
    payload = {"seconds_at_step": {str(s): round(t, 3) for s, t in kept.items()}}
    write_json_atomic(_record_path(run_dir), payload, indent=1)


class TrainingClock:
    """The run's training time: what was recorded up to the resumed step plus
    the time since :meth:`start`. ``clock`` is a zero-argument function giving
    seconds (``time.monotonic``; tests pass a fake one)."""

    def __init__(self, clock, *, before=0.0):
        self._clock = clock
        self.before = float(before)
        self._started = None

    def start(self):
        self._started = self._clock()

    def seconds(self) -> float:
        """Training time in total (0 since the start when not started)."""
        if self._started is None:
            return self.before
        return self.before + max(0.0, self._clock() - self._started)

    def this_run(self) -> float:
        return self.seconds() - self.before
