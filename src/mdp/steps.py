"""Shared step plumbing: the result type, the audit lookup and fault routing of every step.

``guard_stage`` is the one place that decides what a fault means. A fault before the last allowed
attempt is recorded on the audit row and re-raised (exit 1: the orchestrator retries). On the
last attempt the raw file is quarantined in ``failed/<stage>/`` with a report, the audit row says
so, and ``Quarantined`` is raised (exit 3: do not retry), so no file is ever left behind in
``incoming/`` when retries run out.

``finish_pending`` completes a move that a killed run recorded but may not have made (the row has
a ``final_key`` and no ``finished_at``, see ``mdp.audit.log``): every step calls it first, so
whichever step runs next on the key finishes the file's journey instead of recording it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from mdp import layout
from mdp.audit import AuditLog, AuditRecord
from mdp.audit.log import FAILED
from mdp.crashpoints import crash_point
from mdp.errors import BusyError, MdpError, ObjectMissingError, Quarantined
from mdp.storage import ObjectStore

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DONE = "done"
    SKIPPED = "skipped"
    """Nothing to do: the file is past this stage already (idempotent rerun)."""


@dataclass(frozen=True)
class StepResult:
    outcome: Outcome
    key: str
    record_id: int | None
    """The file's audit row; None only for a file put in failed/ by hand (no row to find)."""
    detail: dict[str, Any]


def find_record(audit: AuditLog, key: str) -> AuditRecord:
    """The newest audit row of ``key``; a key never validated is a terminal fault."""
    record = audit.latest_for_key(key)
    if record is None:
        raise ObjectMissingError(f"{key} has no audit record: run validate first", key=key)
    return record


def finish_pending(
    incoming: layout.IncomingKey, record: AuditRecord, store: ObjectStore, audit: AuditLog
) -> bool:
    """Finish the recorded move of ``record`` if it may not have happened; True if it was pending.

    Both halves are idempotent: ``ObjectStore.move`` is a no-op when the source is gone and the
    target exists, and a quarantine rewrites the same report from the row's ``error``."""
    if not record.pending_move or record.final_key is None:
        return False
    if record.status in FAILED:
        store.quarantine(incoming.key, record.final_key, record.error or {})
    else:
        store.move(incoming.key, record.final_key)
    audit.mark_finished(record.id)
    log.info("%s: finished the interrupted move to %s", incoming.key, record.final_key)
    return True


def archive_target(
    incoming: layout.IncomingKey, record: AuditRecord, store: ObjectStore, now: datetime
) -> str:
    """The archive key for this object version: ``archive/<dataset>/YYYY/MM/DD/<file>``, or, if
    another version of the same name was archived there the same day, a folder named after this
    version's content id, so a re-upload never overwrites the archived original."""
    target = layout.archive_key(incoming, now)
    if store.exists(target):
        target = layout.archive_key(incoming, now, version=layout.file_id(record.sha256))
    return target


def fault_report(
    stage: layout.FailedStage,
    incoming: layout.IncomingKey,
    record: AuditRecord,
    error: BaseException,
    run_id: str,
    attempt: int,
    now: datetime,
) -> dict[str, Any]:
    return {
        "stage": stage.value,
        "dataset": incoming.dataset,
        "key": incoming.key,
        "failed_key": layout.failed_key(stage, incoming),
        "sha256": record.sha256,
        "run_id": run_id,
        "audit_id": record.id,
        "attempt": attempt,
        "rule": "fault",
        "error": type(error).__name__,
        "message": str(error),
        "detected_at": now.isoformat(),
    }


@contextmanager
def guard_stage(
    stage: layout.FailedStage,
    incoming: layout.IncomingKey,
    record: AuditRecord,
    store: ObjectStore,
    audit: AuditLog,
    run_id: str,
    attempt: int,
    max_attempts: int | None,
    now: datetime | None = None,
) -> Iterator[None]:
    """Route a fault raised in the block; see the module docstring."""
    try:
        yield
    except BusyError:
        raise
    except Exception as error:
        if isinstance(error, MdpError) and error.key is None:
            error.key, error.run_id = incoming.key, run_id
        report = fault_report(
            stage, incoming, record, error, run_id, attempt, now or datetime.now(UTC)
        )
        last = max_attempts is not None and attempt >= max_attempts
        if not last:
            audit.record_error(record.id, report)
            crash_point("fault.after_error_recorded")
            raise
        target = report["failed_key"]
        audit.mark_stage_failed(record.id, stage, error=report, final_key=target)
        crash_point("quarantine.after_intent")
        store.quarantine(incoming.key, target, report)
        crash_point("quarantine.after_move")
        audit.mark_finished(record.id)
        log.error(
            "%s: attempt %d/%d failed, quarantined to %s: %s",
            incoming.key,
            attempt,
            max_attempts,
            target,
            error,
        )
        raise Quarantined(
            f"{stage.value}: {error} (attempt {attempt} of {max_attempts}); moved to {target}",
            key=incoming.key,
            run_id=run_id,
        ) from error
