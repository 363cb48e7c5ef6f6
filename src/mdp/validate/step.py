"""The validate step end to end: claim, spool, validate, then stage or quarantine, and record.

Order of effects is chosen so a crash at any point is repaired by running the step again:
the audit row is written before the raw file moves, and a rerun on the same (key, content)
finds the same row and redoes the same deterministic work. Where the raw file goes (archive/ for
a duplicate, failed/ for a rejection) is recorded on the row before the move and the row is
finished after it, so a rerun completes an interrupted move instead of deciding again (see
``mdp.steps.finish_pending``). Each effect is followed by a named crash point
(``mdp.crashpoints``) where the crash-point sweep kills the process.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from mdp import layout, timing
from mdp.audit import AuditLog, AuditRecord, Status
from mdp.audit.log import FAILED
from mdp.contracts import get_contract, known_datasets
from mdp.crashpoints import crash_point
from mdp.errors import ObjectMissingError
from mdp.steps import Outcome, StepResult, archive_target, finish_pending
from mdp.storage import ObjectStore
from mdp.validate.compression import DEFAULT_MAX_UNCOMPRESSED_BYTES
from mdp.validate.engine import ValidationResult, validate_file
from mdp.validate.errors import FileRejected

log = logging.getLogger(__name__)


def validate_object(
    key: str,
    run_id: str,
    store: ObjectStore,
    audit: AuditLog,
    *,
    scratch_dir: Path | None = None,
    batch_rows: int = 65_536,
    report_rows: int = 20,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
    now: datetime | None = None,
) -> StepResult:
    """Validate ``incoming/<dataset>/<file>`` and route it; see the module docstring.
    ``max_uncompressed_bytes`` is the limit for contracts that set none."""
    incoming = layout.IncomingKey.parse(key)
    now = now or datetime.now(UTC)
    with audit.claim(key):
        if not store.exists(key):
            return _already_done(incoming, store, audit)
        with tempfile.TemporaryDirectory(prefix="mdp-validate-", dir=scratch_dir) as tmp:
            work = Path(tmp)
            log.info("downloading %s", key)
            with timing.phase("download"):
                spooled = store.spool(key, work)
            record = audit.record_received(
                dataset=incoming.dataset,
                key=key,
                size=spooled.size,
                sha256=spooled.sha256,
                run_id=run_id,
            )
            log.info(
                "%s: %d bytes, sha256 %s, audit row %d (attempt %d)",
                key,
                spooled.size,
                spooled.sha256,
                record.id,
                record.attempts,
            )
            crash_point("validate.after_received")
            if finish_pending(incoming, record, store, audit):
                return _reported(incoming.key, record)
            if record.status == Status.DUPLICATE:
                return _archive_duplicate(incoming, record, store, audit, now)
            fid = layout.file_id(spooled.sha256)
            # A loaded file's staging output may be gone already (retention): loaded is past
            # validation whatever is left in staging/.
            if record.status == Status.LOADED or (
                record.status != Status.RECEIVED
                and store.exists(layout.staging_data_key(incoming.dataset, fid))
            ):
                log.info("%s was already validated (audit status %s)", key, record.status)
                return StepResult(Outcome.ACCEPTED, key, record.id, {"already": record.status})
            with timing.phase("compute"):
                result = _validate(
                    incoming,
                    record,
                    audit,
                    spooled.path,
                    work,
                    now,
                    batch_rows,
                    report_rows,
                    max_uncompressed_bytes,
                )
            # Hand Arrow's pooled buffers back before the upload needs its own memory.
            pa.default_memory_pool().release_unused()
            if not result.accepted:
                return _quarantine(incoming, record, result, store, audit, run_id, now)
            return _stage(incoming, record, result, fid, store, audit)


def _validate(
    incoming: layout.IncomingKey,
    record: AuditRecord,
    audit: AuditLog,
    path: Path,
    work: Path,
    now: datetime,
    batch_rows: int,
    report_rows: int,
    max_uncompressed_bytes: int,
) -> ValidationResult:
    known = known_datasets()
    if incoming.dataset not in known:
        result = ValidationResult()
        result.rejection = FileRejected(
            "unknown_dataset",
            f"no contract for dataset {incoming.dataset!r}; known: {known}",
        )
        return result
    contract = get_contract(incoming.dataset)
    audit.record_contract(record.id, name=contract.dataset, version=contract.version)
    out = work / "out"
    out.mkdir()
    return validate_file(
        path,
        contract,
        incoming.name,
        out,
        now,
        batch_rows=batch_rows,
        report_rows=report_rows,
        max_uncompressed_bytes=max_uncompressed_bytes,
    )


def _already_done(incoming: layout.IncomingKey, store: ObjectStore, audit: AuditLog) -> StepResult:
    """The object left incoming/ already: report the recorded outcome again (idempotent)."""
    key = incoming.key
    record = audit.latest_for_key(key)
    if record is None:
        raise ObjectMissingError(f"no object {key} and no audit record of it", key=key)
    finish_pending(incoming, record, store, audit)
    if record.status == Status.RECEIVED or (record.status in FAILED and record.final_key is None):
        raise ObjectMissingError(
            f"{key} is gone from incoming/ but audit row {record.id} says {record.status}",
            key=key,
        )
    log.info("%s already processed: %s (audit row %d)", key, record.status, record.id)
    return _reported(key, record)


def _reported(key: str, record: AuditRecord) -> StepResult:
    """The outcome a finished row stands for, reported again by a rerun: a file quarantined by
    any stage counts as rejected (exit 3: it is in failed/, do not retry)."""
    outcome = Outcome.REJECTED if record.status in FAILED else Outcome.ACCEPTED
    if record.status == Status.DUPLICATE:
        outcome = Outcome.DUPLICATE
    return StepResult(outcome, key, record.id, {"already": record.status})


def _archive_duplicate(
    incoming: layout.IncomingKey,
    record: AuditRecord,
    store: ObjectStore,
    audit: AuditLog,
    now: datetime,
) -> StepResult:
    target = archive_target(incoming, record, store, now)
    audit.mark_duplicate(record.id, final_key=target)
    crash_point("validate.duplicate.after_intent")
    store.move(incoming.key, target)
    crash_point("validate.duplicate.after_move")
    audit.mark_finished(record.id)
    log.info(
        "%s duplicates audit row %s: archived to %s", incoming.key, record.duplicate_of, target
    )
    return StepResult(
        Outcome.DUPLICATE, incoming.key, record.id, {"duplicate_of": record.duplicate_of}
    )


def _quarantine(
    incoming: layout.IncomingKey,
    record: AuditRecord,
    result: ValidationResult,
    store: ObjectStore,
    audit: AuditLog,
    run_id: str,
    now: datetime,
) -> StepResult:
    target = layout.failed_key(layout.FailedStage.VALIDATION, incoming)
    report = {
        "stage": layout.FailedStage.VALIDATION.value,
        "dataset": incoming.dataset,
        "key": incoming.key,
        "failed_key": target,
        "sha256": record.sha256,
        "size_bytes": record.size_bytes,
        "run_id": run_id,
        "audit_id": record.id,
        "detected_at": now.isoformat(),
        **result.report(),
    }
    audit.mark_validation_failed(
        record.id,
        fmt=result.format_label,
        ignored_columns=result.ignored_columns or None,
        rows_in=result.rows_in,
        rows_valid=result.rows_valid,
        rows_rejected=result.rows_rejected,
        error=report,
        final_key=target,
    )
    crash_point("validate.reject.after_intent")
    store.quarantine(incoming.key, target, report)
    crash_point("validate.reject.after_move")
    audit.mark_finished(record.id)
    log.warning(
        "%s rejected (%s): %s -> %s", incoming.key, report["rule"], report["message"], target
    )
    return StepResult(Outcome.REJECTED, incoming.key, record.id, report)


def _stage(
    incoming: layout.IncomingKey,
    record: AuditRecord,
    result: ValidationResult,
    fid: str,
    store: ObjectStore,
    audit: AuditLog,
) -> StepResult:
    if result.data_path is None or result.format is None:
        raise RuntimeError("an accepted validation result must carry its data file and format")
    data_key = layout.staging_data_key(incoming.dataset, fid)
    rejects_key = layout.staging_rejects_key(incoming.dataset, fid)
    if result.rejects_path is not None:
        with timing.phase("upload"):
            store.put_file(rejects_key, result.rejects_path, "application/vnd.apache.parquet")
        crash_point("validate.after_rejects_put")
    # The data object last: its presence is what marks the staging output complete.
    with timing.phase("upload"):
        store.put_file(data_key, result.data_path, "application/vnd.apache.parquet")
    crash_point("validate.after_data_put")
    audit.mark_validated(
        record.id,
        fmt=result.format_label or result.format.value,
        ignored_columns=result.ignored_columns or None,
        rows_in=result.rows_in,
        rows_valid=result.rows_valid,
        rows_rejected=result.rows_rejected,
    )
    crash_point("validate.after_validated")
    detail = {
        "staging": data_key,
        "rejects": rejects_key if result.rejects_path else None,
        **result.report(),
    }
    log.info(
        "%s accepted: %d rows valid, %d rejected -> %s",
        incoming.key,
        result.rows_valid,
        result.rows_rejected,
        data_key,
    )
    return StepResult(Outcome.ACCEPTED, incoming.key, record.id, detail)
