"""The load step: one PostgreSQL transaction per file, then archive the raw file.

Inside the transaction: a dataset-wide advisory lock (loads of one dataset are serialised, so the
channel_stats recomputation always sees every committed snapshot, and the merge's two statements
see no other writer), COPY of each transformed Parquet into a temporary table (streamed batch by
batch as CSV), the merge (mdp.load.merge: update the stored rows the file's rows beat, then
insert the new keys), the contract extension's step after the merges (youtube: channel_stats of
the channels the file touched, ``mdp.extensions``), and mark the audit row loaded with its
inserted/updated counts. Either all of that commits or none of it does: a killed process leaves
no partial rows, and a rerun starts again from the transformed files.
After the commit the raw file moves to archive/<dataset>/YYYY/MM/DD/ (the archive key is recorded
on the row first, the row finished after the move), and then the file's staging/ and transformed/
outputs are deleted: they are derived, content-addressed copies that nothing reads once the rows
are committed (retention; the raw file in archive/ is the source of truth). A crash anywhere after
the commit is repaired by the next run, which finds the row loaded and only archives and cleans.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from mdp import layout, timing
from mdp.audit import AuditLog, AuditRecord, Status
from mdp.audit.log import lock_id
from mdp.contracts import get_contract
from mdp.crashpoints import crash_point
from mdp.extensions import extension_of, tables_for
from mdp.load import merge
from mdp.steps import (
    Outcome,
    StepResult,
    archive_target,
    find_record,
    finish_pending,
    guard_stage,
)
from mdp.storage import ObjectStore
from mdp.storage.parquet import open_parquet
from mdp.warehouse.tables import TableSpec

log = logging.getLogger(__name__)
COPY_BATCH_ROWS = 65_536


_Z = pa.scalar("Z", pa.string())
_NO_SEPARATOR = pa.scalar("", pa.string())


def _for_csv(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Zoned timestamps as the ISO text of their UTC value plus "Z", the text Arrow's CSV writer
    would write for them: the writer formats a zoned timestamp through the time-zone database
    value by value, most of the encoding's time; a cast of the naive UTC value is vectorised.
    Nulls stay null (an empty field, NULL to COPY)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            naive = pc.cast(column, pa.timestamp(column.type.unit))
            text = pc.binary_join_element_wise(pc.cast(naive, pa.string()), _Z, _NO_SEPARATOR)
            columns.append(text)
        else:
            columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def copy_parquet(conn: psycopg.Connection, spec: TableSpec, path: Path) -> int:
    """Stream a Parquet file into the stage table through COPY, one CSV-encoded batch at a time."""
    conn.execute(merge.create_stage(spec))
    rows = 0
    options = pacsv.WriteOptions(include_header=False)
    with conn.cursor().copy(merge.copy_into_stage(spec)) as copy:
        for batch in open_parquet(path).iter_batches(batch_size=COPY_BATCH_ROWS):
            # Encode into an Arrow buffer, not a BytesIO: multi-megabyte Python buffers raise
            # glibc's mmap threshold and fragment its heap, so RSS grew with the file; Arrow's
            # pool reuses its memory.
            sink = pa.BufferOutputStream()
            pacsv.write_csv(_for_csv(batch.select(list(spec.column_names))), sink, options)
            copy.write(memoryview(sink.getvalue()))
            rows += batch.num_rows
    return rows


def merge_file(
    conn: psycopg.Connection, dataset: str, files: dict[str, Path], record_id: int
) -> tuple[int, int]:
    """Merge every table of one file, then the extension's step after the merges (youtube:
    channel_stats); returns (inserted, updated) of the dataset's main table. Runs inside the
    caller's transaction."""
    contract = get_contract(dataset)
    # The merge's two statements rely on this lock: nothing else writes the dataset's tables
    # between them (mdp.load.merge).
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_id(f"load:{dataset}"),))
    for setting in merge.session_settings():
        conn.execute(setting)
    params = {"source_file_id": record_id}
    counts: list[tuple[int, int]] = []
    for spec in tables_for(contract):
        with timing.phase("copy"):
            staged = copy_parquet(conn, spec, files[spec.file_name])
        with timing.phase("merge"):
            updated = conn.execute(merge.update_existing(spec), params).rowcount
            inserted = conn.execute(merge.insert_new(spec), params).rowcount
        log.info("%s: %d staged, %d inserted, %d updated", spec.name, staged, inserted, updated)
        counts.append((inserted, updated))
        conn.execute(f"DROP TABLE {merge.STAGE}")
    extension_of(contract).after_merge(conn, contract, files)
    return counts[0]


def _archive(
    incoming: layout.IncomingKey,
    record: AuditRecord,
    store: ObjectStore,
    audit: AuditLog,
    now: datetime,
) -> str:
    """Record where the raw file goes, move it, finish the row (see mdp.audit.log)."""
    target = archive_target(incoming, record, store, now)
    audit.record_final_key(record.id, final_key=target)
    crash_point("load.after_intent")
    store.move(incoming.key, target)
    crash_point("load.after_move")
    audit.mark_archived(record.id, final_key=target)
    crash_point("load.after_archived")
    return target


def clean_derived(incoming: layout.IncomingKey, record: AuditRecord, store: ObjectStore) -> int:
    """Delete the staging/ and transformed/ outputs of a loaded file; returns how many.

    Safe to repeat (a rerun finishes a cleanup a crash cut short) and safe for other files: the
    prefixes are the file's content id, and only one live row per content exists (the unique
    index), so no other file in flight shares them."""
    fid = layout.file_id(record.sha256)
    deleted = 0
    for prefix in (
        layout.staging_prefix(incoming.dataset, fid),
        layout.transformed_prefix(incoming.dataset, fid),
    ):
        for key in list(store.list(prefix)):
            store.delete(key)
            deleted += 1
            crash_point("retention.after_first_delete")
    return deleted


def load_object(
    key: str,
    run_id: str,
    store: ObjectStore,
    audit: AuditLog,
    *,
    scratch_dir: Path | None = None,
    attempt: int = 1,
    max_attempts: int | None = None,
    now: datetime | None = None,
) -> StepResult:
    """Load the transformed file ``key``; see the module docstring."""
    incoming = layout.IncomingKey.parse(key)
    now = now or datetime.now(UTC)
    with audit.claim(key):
        record = find_record(audit, key)
        if finish_pending(incoming, record, store, audit) and record.status != Status.LOADED:
            return StepResult(Outcome.SKIPPED, key, record.id, {"status": record.status})
        if record.status == Status.LOADED:
            if record.final_key is None:
                target = _archive(incoming, record, store, audit, now)
                log.info("%s was loaded; archived to %s", key, target)
            if deleted := clean_derived(incoming, record, store):
                log.info("%s: deleted %d staging/transformed object(s)", key, deleted)
            return StepResult(Outcome.SKIPPED, key, record.id, {"status": record.status})
        if record.status != Status.TRANSFORMED:
            log.info("%s: nothing to load (audit status %s)", key, record.status)
            return StepResult(Outcome.SKIPPED, key, record.id, {"status": record.status})
        prefix = layout.transformed_prefix(incoming.dataset, layout.file_id(record.sha256))
        with (
            guard_stage(
                layout.FailedStage.LOADING,
                incoming,
                record,
                store,
                audit,
                run_id,
                attempt,
                max_attempts,
                now,
            ),
            tempfile.TemporaryDirectory(prefix="mdp-load-", dir=scratch_dir) as tmp,
        ):
            files: dict[str, Path] = {}
            for object_key in store.list(prefix):
                name = object_key.removeprefix(prefix)
                local = Path(tmp) / name
                local.parent.mkdir(parents=True, exist_ok=True)
                with timing.phase("download"):
                    store.download(object_key, local)
                files[name] = local
            with timing.phase("transaction"), audit.conn.transaction():
                inserted, updated = merge_file(audit.conn, incoming.dataset, files, record.id)
                audit.mark_loaded(record.id, inserted=inserted, updated=updated)
                crash_point("load.before_commit")
            crash_point("load.after_commit")
        with timing.phase("archive"):
            target = _archive(incoming, record, store, audit, now)
            deleted = clean_derived(incoming, record, store)
        log.info(
            "%s loaded: %d inserted, %d updated; archived to %s; %d derived object(s) deleted",
            key,
            inserted,
            updated,
            target,
            deleted,
        )
        return StepResult(
            Outcome.DONE,
            key,
            record.id,
            {"inserted": inserted, "updated": updated, "archived": target},
        )
