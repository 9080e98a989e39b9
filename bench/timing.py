"""Timing shared by the benchmarks."""

from __future__ import annotations

import statistics
import time


def timed(function, iterations, warmup):
    """Median seconds of ``iterations`` calls of ``function`` after ``warmup``
    untimed ones (which take tracing and first-call costs)."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(iterations):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)
