"""What a command prints: one JSON line on stdout, its result (logs go to stderr)."""

from __future__ import annotations

import json
from typing import Any

from mdp import timing


def emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, default=str, sort_keys=True), flush=True)


def emit_result(step: str, result: Any) -> None:
    """The result line of a step that returns a ``StepResult``, with its timings."""
    emit(
        {
            "step": step,
            "outcome": result.outcome,
            "key": result.key,
            "audit_id": result.record_id,
            **result.detail,
            "timings": timing.take(),
        }
    )


def started() -> None:
    """Record the start-up: process start until the step's work begins (see mdp.timing)."""
    startup = timing.since_process_start()
    if startup is not None:
        timing.record("startup", startup)
