"""Where a step's wall-clock time goes, measured by the step itself.

Each step wraps its phases (``download``, ``compute``, ``upload``, ``copy``, ``merge``, ...) in
``phase(name)``; the CLI adds ``startup`` (process start until the step's work begins: the
interpreter, imports, settings and the database connection) and prints the totals as
``"timings"`` in the step's JSON result line. ``make bench`` builds its per-step split from these
numbers instead of guessing from the outside, and a person reading a slow pod's log sees the same
split.

The totals are process-wide, like logging: one step runs per process (``mdp run`` takes them
after each of its three steps). Timing costs two clock reads per phase, nothing per row.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

_totals: dict[str, float] = {}


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the block's wall-clock seconds to ``name`` (phases may repeat; they add up)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - start)


def record(name: str, seconds: float) -> None:
    _totals[name] = _totals.get(name, 0.0) + seconds


def take() -> dict[str, float]:
    """The totals so far, rounded to milliseconds, and start again from zero."""
    out = {name: round(seconds, 3) for name, seconds in _totals.items()}
    _totals.clear()
    return out


def since_process_start() -> float | None:
    """Seconds since this process was started (exec), from the kernel; None where unknown.

    ``/proc/self/stat`` field 22 is the start time in clock ticks after boot, on the boot-time
    clock (resolution 10 ms)."""
    try:
        with open("/proc/self/stat", "rb") as stat:  # noqa: PTH123 - a /proc read
            fields = stat.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[19])  # field 22 overall; fields[0] is field 3 (state)
        per_second = os.sysconf("SC_CLK_TCK")
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / per_second)
    except (OSError, ValueError, IndexError, AttributeError):
        return None
