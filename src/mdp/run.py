"""validate -> transform -> load of one file in one process (local use and the benchmark).

The DAG runs the same three functions as separate pods; this chains them on one connection and
stops at the first outcome that ends the file's journey (rejected or duplicate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mdp import timing
from mdp.audit import AuditLog
from mdp.load.step import load_object
from mdp.pipeline import Outcome
from mdp.storage import ObjectStore
from mdp.transform.step import transform_object
from mdp.validate.step import validate_object


def run_file(
    key: str,
    run_id: str,
    store: ObjectStore,
    audit: AuditLog,
    *,
    scratch_dir: Path | None = None,
    batch_rows: int = 65_536,
) -> dict[str, Any]:
    """Run every step; returns the final outcome, the audit row, seconds per step and each
    step's phases (``mdp.timing``; what ran before the first step is under ``"process"``)."""
    timings: dict[str, float] = {}
    phases: dict[str, dict[str, float]] = {"process": timing.take()}
    start = time.perf_counter()
    result = validate_object(
        key, run_id, store, audit, scratch_dir=scratch_dir, batch_rows=batch_rows
    )
    timings["validate"] = time.perf_counter() - start
    phases["validate"] = timing.take()
    if result.outcome in (Outcome.REJECTED, Outcome.DUPLICATE):
        return {
            "key": key,
            "outcome": result.outcome,
            "audit_id": result.record_id,
            "seconds": timings,
            "timings": phases,
            **result.detail,
        }
    start = time.perf_counter()
    transform_object(key, run_id, store, audit, scratch_dir=scratch_dir, max_attempts=1)
    timings["transform"] = time.perf_counter() - start
    phases["transform"] = timing.take()
    start = time.perf_counter()
    loaded = load_object(key, run_id, store, audit, scratch_dir=scratch_dir, max_attempts=1)
    timings["load"] = time.perf_counter() - start
    phases["load"] = timing.take()
    return {
        "key": key,
        "outcome": "loaded" if loaded.outcome is Outcome.DONE else loaded.outcome,
        "audit_id": loaded.record_id,
        "seconds": timings,
        "timings": phases,
        **loaded.detail,
    }
