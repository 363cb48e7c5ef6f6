"""``mdp requeue``: move one quarantined file back to ``incoming/`` and record why it was there.

The re-processing DAG runs this first, then the usual validate -> transform -> load on the
incoming key. Validation then finds the file's audit row again (same content: the row is revived
and its attempts grow) or creates a new one (a fixed file: new content). Either way the request
and the status and error the file had are kept in ``audit.file_reprocessing``, because reviving
the audit row clears them.

Order of effects, so a crash anywhere is repaired by running it again: record the request (one row
per failed key and run), move the file (copy, then delete: idempotent), then delete the stale
``.error.json`` report that sat beside it.
"""

from __future__ import annotations

import logging

from mdp import layout
from mdp.audit import AuditLog, AuditRecord
from mdp.errors import ObjectMissingError, TerminalError
from mdp.steps import Outcome, StepResult
from mdp.storage import ObjectStore

log = logging.getLogger(__name__)


def requeue_object(failed_key: str, run_id: str, store: ObjectStore, audit: AuditLog) -> StepResult:
    """Send ``failed/<stage>/<dataset>/<file>`` back to ``incoming/<dataset>/<file>``."""
    try:
        stage, incoming = layout.parse_failed_key(failed_key)
    except ValueError as e:
        raise TerminalError(str(e), key=failed_key) from e
    with audit.claim(incoming.key):
        record = audit.latest_with_final_key(failed_key)
        report = layout.error_report_key(failed_key)
        detail = {"stage": stage.value, "incoming_key": incoming.key, "failed_key": failed_key}
        if not store.exists(failed_key):
            if store.exists(incoming.key):  # moved by an earlier try of this request
                store.delete(report)
                log.info("%s is back in incoming/ already", failed_key)
                return StepResult(Outcome.SKIPPED, incoming.key, _id(record), detail)
            raise ObjectMissingError(f"no quarantined file {failed_key}", key=failed_key)
        if store.exists(incoming.key):
            raise TerminalError(
                f"cannot re-process {failed_key}: {incoming.key} exists (a newer upload with the "
                "same name is waiting); let it finish or rename one of them",
                key=failed_key,
            )
        audit.record_reprocessing(
            record=record, failed_key=failed_key, incoming_key=incoming.key, run_id=run_id
        )
        store.move(failed_key, incoming.key)
        store.delete(report)
        log.info(
            "%s -> %s (was %s, audit row %s)",
            failed_key,
            incoming.key,
            stage.value,
            None if record is None else record.id,
        )
        return StepResult(Outcome.ACCEPTED, incoming.key, _id(record), detail)


def _id(record: AuditRecord | None) -> int | None:
    return None if record is None else record.id
