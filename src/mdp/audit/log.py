"""Reads and writes of ``audit.file_ingestion_log``, and the per-object claim.

One row per object version: the pair (object key, SHA-256). Retrying the same bytes under the same
key finds the same row and bumps ``attempts``; the same bytes under another key hit the
live-content unique index and are recorded as a duplicate of the first. Exclusive processing of a
key is a session-level advisory lock: it is released by PostgreSQL itself when the process dies,
so a crashed run never leaves a stale claim behind.

Where a file ends is written in two phases, so that a process killed in between is finished by the
next run and never recorded twice: first ``final_key`` (the intent: "this file goes there"), then
the object move, then ``finished_at``. A row with a ``final_key`` but no ``finished_at`` is a move
that may not have happened yet; whichever step runs next on the key completes it
(``mdp.steps.finish_pending``). Only a *finished* row makes the same bytes arriving again a new
arrival (a duplicate row) or a failed file's return (revived).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from mdp.errors import BusyError

TABLE = "audit.file_ingestion_log"
_LIVE_INDEX = "file_ingestion_log_live_content_unique"


class Status(StrEnum):
    RECEIVED = "received"
    VALIDATED = "validated"
    TRANSFORMED = "transformed"
    LOADED = "loaded"
    DUPLICATE = "duplicate"
    VALIDATION_FAILED = "validation_failed"
    PROCESSING_FAILED = "processing_failed"
    LOADING_FAILED = "loading_failed"


FAILED = frozenset({Status.VALIDATION_FAILED, Status.PROCESSING_FAILED, Status.LOADING_FAILED})


@dataclass
class AuditRecord:
    id: int
    dataset: str
    object_key: str
    size_bytes: int
    sha256: str
    format: str | None
    status: str
    validation_status: str | None
    transform_status: str | None
    load_status: str | None
    rows_in: int | None
    rows_valid: int | None
    rows_rejected: int | None
    rows_inserted: int | None
    rows_updated: int | None
    error: Any
    duplicate_of: int | None
    final_key: str | None
    attempts: int
    run_id: str
    finished_at: datetime | None = None
    """Set once the raw file reached ``final_key``; see the module docstring."""
    contract_name: str | None = None
    """The contract validation checked the file against (sql/008)."""
    contract_version: int | None = None
    """That contract's version."""
    ignored_columns: list[str] | None = None
    """Columns of the file its contract does not have, dropped under ``extra_columns:
    ignore`` (sql/009); None when there were none."""

    @property
    def pending_move(self) -> bool:
        """The row names where the file goes, but the move is not known to have happened."""
        return self.final_key is not None and self.finished_at is None


_COLUMNS = ", ".join(AuditRecord.__dataclass_fields__)


def lock_id(key: str) -> int:
    """A stable signed 64-bit advisory-lock id for an object key."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class AuditLog:
    """The audit log on one autocommit connection; every method commits its own work.

    Autocommit is required, not a preference: on a connection that is not, the first SELECT
    opens an implicit transaction, every later ``transaction()`` block is only a savepoint inside
    it, and a step that fails rolls back the very audit updates that say why it failed.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        if not conn.autocommit:
            raise ValueError("AuditLog needs an autocommit connection (connect(autocommit=True))")
        self.conn = conn

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Hold the exclusive claim on ``key`` for the block; BusyError if another run has it."""
        ident = lock_id(key)
        with self.conn.transaction():
            got = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (ident,)).fetchone()
        if not got or not got[0]:
            raise BusyError(f"another run is processing {key}", key=key)
        try:
            yield
        finally:
            if not self.conn.closed:
                with self.conn.transaction():
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (ident,))

    def _fetch(self, where: str, params: tuple[Any, ...], lock: bool = False) -> AuditRecord | None:
        sql = f"SELECT {_COLUMNS} FROM {TABLE} WHERE {where} ORDER BY id DESC LIMIT 1"
        if lock:
            sql += " FOR UPDATE"
        with self.conn.cursor(row_factory=class_row(AuditRecord)) as cur:
            return cur.execute(sql, params).fetchone()

    def get(self, record_id: int) -> AuditRecord:
        record = self._fetch("id = %s", (record_id,))
        if record is None:
            raise KeyError(record_id)
        return record

    def latest_for_key(self, key: str) -> AuditRecord | None:
        return self._fetch("object_key = %s", (key,))

    def latest_with_final_key(self, final_key: str) -> AuditRecord | None:
        """The newest row whose file ended at ``final_key`` (e.g. a ``failed/...`` key)."""
        return self._fetch("final_key = %s", (final_key,))

    def record_reprocessing(
        self,
        *,
        record: AuditRecord | None,
        failed_key: str,
        incoming_key: str,
        run_id: str,
    ) -> bool:
        """Remember that ``failed_key`` is being sent back to ``incoming_key`` by ``run_id``,
        with the status and error it had; False if this run asked already (a retried request)."""
        with self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO audit.file_reprocessing (audit_id, failed_key, incoming_key,"
                " previous_status, previous_error, run_id) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT ON CONSTRAINT file_reprocessing_request_unique DO NOTHING"
                " RETURNING id",
                (
                    None if record is None else record.id,
                    failed_key,
                    incoming_key,
                    None if record is None else record.status,
                    None if record is None or record.error is None else Jsonb(record.error),
                    run_id,
                ),
            ).fetchone()
        return row is not None

    def record_received(
        self, *, dataset: str, key: str, size: int, sha256: str, run_id: str
    ) -> AuditRecord:
        """Find or create the row for (key, content); mark it a duplicate if the same content is
        already live under another key. Returns the row as it is now."""
        with self.conn.transaction():
            row = self._fetch("object_key = %s AND sha256 = %s", (key, sha256), lock=True)
            if row is None:
                record_id = self._insert(dataset, key, size, sha256, run_id)
            elif row.finished_at is not None and row.status in {Status.LOADED, Status.DUPLICATE}:
                # The same bytes arrived again after the file finished: a duplicate, on a row
                # of its own (migration 006) so this run's summary counts it.
                original = row.duplicate_of if row.status == Status.DUPLICATE else row.id
                record_id = self._insert_row(
                    (dataset, key, size, sha256, run_id), Status.DUPLICATE, original
                )
            else:
                record_id = row.id
                self.conn.execute(
                    f"UPDATE {TABLE} SET attempts = attempts + 1, run_id = %s, updated_at = now()"
                    " WHERE id = %s",
                    (run_id, record_id),
                )
                if row.status in FAILED and row.finished_at is not None:
                    self._revive(row)
        return self.get(record_id)

    def _insert(self, dataset: str, key: str, size: int, sha256: str, run_id: str) -> int:
        """A new live row, or a duplicate row when the same content is live under another key."""
        values = (dataset, key, size, sha256, run_id)
        try:
            with self.conn.transaction():
                return self._insert_row(values, Status.RECEIVED, None)
        except psycopg.errors.UniqueViolation as e:
            if e.diag.constraint_name != _LIVE_INDEX:
                raise
            return self._insert_row(values, Status.DUPLICATE, self._live_id(dataset, sha256))

    def _insert_row(self, values: tuple[Any, ...], status: Status, duplicate_of: int | None) -> int:
        """INSERT (dataset, key, size, sha256, run_id) + status and duplicate_of; the new id."""
        row = self.conn.execute(
            f"INSERT INTO {TABLE} (dataset, object_key, size_bytes, sha256, run_id, status,"
            " duplicate_of) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (*values, status, duplicate_of),
        ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return int(row[0])

    def _revive(self, row: AuditRecord) -> None:
        """A failed file is back in incoming/ (re-uploaded or re-processed): make it live again,
        or a duplicate if its content went live under another key in the meantime."""
        try:
            with self.conn.transaction():
                self.conn.execute(
                    f"UPDATE {TABLE} SET status = %s, error = NULL, final_key = NULL,"
                    " finished_at = NULL WHERE id = %s",
                    (Status.RECEIVED, row.id),
                )
        except psycopg.errors.UniqueViolation:
            self.conn.execute(
                f"UPDATE {TABLE} SET status = %s, duplicate_of = %s WHERE id = %s",
                (Status.DUPLICATE, self._live_id(row.dataset, row.sha256), row.id),
            )

    def _live_id(self, dataset: str, sha256: str) -> int | None:
        found = self.conn.execute(
            f"SELECT id FROM {TABLE} WHERE dataset = %s AND sha256 = %s"
            " AND status NOT IN ('duplicate', 'validation_failed', 'processing_failed',"
            " 'loading_failed') ORDER BY id LIMIT 1",
            (dataset, sha256),
        ).fetchone()
        return None if found is None else int(found[0])

    def _update(self, record_id: int, *, finished: bool = False, **fields: Any) -> None:
        sets = ", ".join(f"{name} = %s" for name in fields)
        if finished:
            sets += ", finished_at = now()"
        values = [
            Jsonb(v) if name == "error" and v is not None else v for name, v in fields.items()
        ]
        with self.conn.transaction():
            self.conn.execute(
                f"UPDATE {TABLE} SET {sets}, updated_at = now() WHERE id = %s",
                (*values, record_id),
            )

    def record_contract(self, record_id: int, *, name: str, version: int) -> None:
        """The contract (name, version) validation picked for the file."""
        self._update(record_id, contract_name=name, contract_version=version)

    def mark_validated(
        self,
        record_id: int,
        *,
        fmt: str,
        rows_in: int,
        rows_valid: int,
        rows_rejected: int,
        ignored_columns: list[str] | None = None,
    ) -> None:
        self._update(
            record_id,
            status=Status.VALIDATED,
            validation_status="validated",
            format=fmt,
            rows_in=rows_in,
            rows_valid=rows_valid,
            rows_rejected=rows_rejected,
            ignored_columns=ignored_columns,
            error=None,
        )

    def mark_validation_failed(
        self,
        record_id: int,
        *,
        fmt: str | None,
        rows_in: int,
        rows_valid: int,
        rows_rejected: int,
        error: dict[str, Any],
        final_key: str,
        ignored_columns: list[str] | None = None,
    ) -> None:
        self._update(
            record_id,
            status=Status.VALIDATION_FAILED,
            validation_status="rejected",
            format=fmt,
            ignored_columns=ignored_columns,
            rows_in=rows_in,
            rows_valid=rows_valid,
            rows_rejected=rows_rejected,
            error=error,
            final_key=final_key,
        )

    def mark_duplicate(self, record_id: int, *, final_key: str) -> None:
        """The intent to archive a duplicate at ``final_key``; ``mark_finished`` after the move."""
        self._update(record_id, final_key=final_key)

    def mark_transformed(self, record_id: int) -> None:
        self._update(
            record_id, status=Status.TRANSFORMED, transform_status="transformed", error=None
        )

    def mark_loaded(self, record_id: int, *, inserted: int, updated: int) -> None:
        """Called inside the load's transaction, so the rows and this status commit together."""
        self._update(
            record_id,
            status=Status.LOADED,
            load_status="loaded",
            rows_inserted=inserted,
            rows_updated=updated,
            error=None,
        )

    def record_final_key(self, record_id: int, *, final_key: str) -> None:
        """The intent to move the raw file to ``final_key`` (written before the move)."""
        self._update(record_id, final_key=final_key)

    def mark_archived(self, record_id: int, *, final_key: str) -> None:
        """The raw file is at ``final_key`` now: the row is finished."""
        self._update(record_id, final_key=final_key, finished=True)

    def mark_finished(self, record_id: int) -> None:
        """The move to the row's ``final_key`` happened: the row is finished."""
        with self.conn.transaction():
            self.conn.execute(
                f"UPDATE {TABLE} SET finished_at = now(), updated_at = now()"
                " WHERE id = %s AND finished_at IS NULL",
                (record_id,),
            )

    def record_error(self, record_id: int, error: dict[str, Any]) -> None:
        """A fault that will be retried: keep the status, remember why this attempt failed."""
        self._update(record_id, error=error)

    def mark_stage_failed(
        self, record_id: int, stage: str, *, error: dict[str, Any], final_key: str
    ) -> None:
        """Retries ran out in transform or load: the intent to quarantine the file at
        ``final_key`` in failed/<stage>/; ``mark_finished`` after the move."""
        column = {
            Status.PROCESSING_FAILED: "transform_status",
            Status.LOADING_FAILED: "load_status",
        }[Status(stage)]
        fields: dict[str, Any] = {
            "status": Status(stage),
            "error": error,
            "final_key": final_key,
            column: "failed",
        }
        self._update(record_id, **fields)
