"""The pipeline object: validate -> transform -> load of one file in one process.

The DAG runs the same three steps as separate pods; :class:`Pipeline` chains them on one
connection (``mdp run``, the quickstart, the benchmark) and stops at the first outcome that ends
the file's journey (rejected or duplicate).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdp import timing
from mdp.audit import AuditLog
from mdp.load.step import load_object
from mdp.steps import Outcome, StepResult
from mdp.storage import ObjectStore
from mdp.transform.step import transform_object
from mdp.validate.compression import DEFAULT_MAX_UNCOMPRESSED_BYTES
from mdp.validate.step import validate_object

ENDS = frozenset({Outcome.REJECTED, Outcome.DUPLICATE})
"""Outcomes after which the file has reached its place (failed/ or archive/): no later step."""


@dataclass(frozen=True)
class Pipeline:
    """The steps of one file, in order, on one object store and audit log."""

    store: ObjectStore
    audit: AuditLog
    scratch_dir: Path | None = None
    batch_rows: int = 65_536
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    """For contracts that set no limit of their own (``MDP__MAX_UNCOMPRESSED_BYTES``)."""

    def steps(self) -> tuple[tuple[str, Callable[[str, str], StepResult]], ...]:
        """(name, step) in order. Transform and load have one attempt: a fault quarantines the
        file at once instead of asking this process to retry."""
        store, audit, scratch = self.store, self.audit, self.scratch_dir
        return (
            (
                "validate",
                lambda key, run_id: validate_object(
                    key,
                    run_id,
                    store,
                    audit,
                    scratch_dir=scratch,
                    batch_rows=self.batch_rows,
                    max_uncompressed_bytes=self.max_uncompressed_bytes,
                ),
            ),
            (
                "transform",
                lambda key, run_id: transform_object(
                    key, run_id, store, audit, scratch_dir=scratch, max_attempts=1
                ),
            ),
            (
                "load",
                lambda key, run_id: load_object(
                    key, run_id, store, audit, scratch_dir=scratch, max_attempts=1
                ),
            ),
        )

    def run(self, key: str, run_id: str) -> dict[str, Any]:
        """Run every step; returns the final outcome (``loaded`` for a file the load merged),
        the audit row, seconds per step and each step's phases (``mdp.timing``; what ran before
        the first step is under ``"process"``), and the last step's details."""
        seconds: dict[str, float] = {}
        phases: dict[str, dict[str, float]] = {"process": timing.take()}
        name, result = "", StepResult(Outcome.SKIPPED, key, None, {})
        for name, step in self.steps():
            start = time.perf_counter()
            result = step(key, run_id)
            seconds[name] = time.perf_counter() - start
            phases[name] = timing.take()
            if result.outcome in ENDS:
                break
        outcome = "loaded" if name == "load" and result.outcome is Outcome.DONE else result.outcome
        return {
            "key": key,
            "outcome": outcome,
            "audit_id": result.record_id,
            "seconds": seconds,
            "timings": phases,
            **result.detail,
        }
