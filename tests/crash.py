"""Helpers for the tests that kill steps: rerun as the orchestrator would after a crash."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from mdp.errors import BusyError

T = TypeVar("T")


def retry_busy(call: Callable[[], T], timeout: float = 30.0) -> T:
    """Call until the claim of a killed process is gone: PostgreSQL releases a dead session's
    advisory lock once it notices the closed socket, a few milliseconds later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except BusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
