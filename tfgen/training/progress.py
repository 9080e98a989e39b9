"""A training progress bar: step, latest losses and images per second."""

from __future__ import annotations

import time


class TrainingProgress:
    """tqdm bar over steps ``[start, total)``; silent when ``enabled`` is False.

    ``update(step, losses)`` moves the bar to ``step`` and shows the losses
    with the throughput measured since the previous update, which it returns
    (images/s) so that the trainer can log the same number.
    """

    def __init__(self, *, start, total, images_per_step, enabled=True):
        self.images_per_step = images_per_step
        self._step = start
        self._time = time.perf_counter()
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True)

    def update(self, step, losses):
        now = time.perf_counter()
        elapsed = max(now - self._time, 1e-9)
        images_per_second = (step - self._step) * self.images_per_step / elapsed
        if self._bar is not None:
            postfix = {name: f"{value:.3f}" for name, value in losses.items()}
            postfix["img/s"] = f"{images_per_second:.1f}"
            self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(step - self._step)
        self._step, self._time = step, now
        return images_per_second

    def write(self, message):
        """Print a line without breaking the bar (nothing when disabled)."""
        if self._bar is not None:
            self._bar.write(message)

    def close(self):
        if self._bar is not None:
            self._bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
