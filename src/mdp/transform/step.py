"""The transform step: staging Parquet -> per-table Parquet under transformed/.

Large files are spilled into hash buckets of at most ``BUCKET_ROWS`` rows (mdp.transform.partition),
so memory stays bounded. Outputs are deterministic functions of the staging data, stored under
the file's content id, so rerunning rewrites identical objects. A fault on the last allowed
attempt moves the raw file to failed/processing_failed/ with a report.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from mdp import layout, timing
from mdp.audit import AuditLog, Status
from mdp.contracts import Contract, get_contract
from mdp.crashpoints import crash_point
from mdp.extensions import extension_of, tables_for
from mdp.steps import Outcome, StepResult, find_record, finish_pending, guard_stage
from mdp.storage import ObjectStore
from mdp.storage.parquet import BackgroundWriter, open_parquet
from mdp.transform.derive import derive_tables, partition_key
from mdp.transform.partition import read_bucket, spill

log = logging.getLogger(__name__)

BUCKET_ROWS = 50_000
"""Expected rows per bucket. Deduplicating a bucket takes several times its Arrow size at peak
(sort, take, filter): the bucket size bounds the transform's memory."""


def _lean_memory_pool() -> None:
    """Arrow memory that goes back to the operating system as soon as it is freed.

    The transform frees a whole bucket's tables at a time; jemalloc purging pages on free (decay
    0) keeps the least of that memory of the allocators tried (docs/benchmark.md), and is no
    slower. Builds without jemalloc use the system allocator."""
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def _write_outputs(
    contract: Contract, buckets: Iterable[pa.Table], out: Path
) -> dict[str, tuple[Path, int]]:
    """One Parquet file per table of the dataset (its main table, then its extension's), plus
    whatever the extension collects for the load; name -> (path, rows)."""
    extension = extension_of(contract)
    specs = {s.name: s for s in tables_for(contract)}
    counts = dict.fromkeys(specs, 0)
    collector = extension.collector(contract)
    with ExitStack() as stack:
        writers = {
            name: stack.enter_context(
                BackgroundWriter(out / spec.file_name, spec.arrow_schema(), compression="zstd")
            )
            for name, spec in specs.items()
        }
        for rows in buckets:
            for name, table in derive_tables(contract, extension, rows).items():
                writers[name].write_table(table.cast(specs[name].arrow_schema()))
                counts[name] += table.num_rows
            if collector is not None:
                collector.add(rows)
    result = {name: (out / specs[name].file_name, counts[name]) for name in specs}
    if collector is not None:
        result |= collector.write(out)
    return result


def _bucket_tables(staging: Path, contract: Contract, work: Path) -> Iterator[pa.Table]:
    """The staging rows as tables of at most ~BUCKET_ROWS rows, each holding every version of
    its keys; small files are one table, large ones are spilled to disk and read back one by one."""
    pf = open_parquet(staging)
    rows = pf.metadata.num_rows
    n = max(1, math.ceil(rows / BUCKET_ROWS))
    if n == 1:
        yield pf.read()
        return
    log.info("%d rows: spilling into %d buckets", rows, n)
    paths = spill(
        pf.iter_batches(batch_size=65_536), pf.schema_arrow, partition_key(contract), n, work
    )
    for path in paths:
        yield read_bucket(path)
        path.unlink()
        pa.default_memory_pool().release_unused()


def transform_object(
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
    """Transform the validated file ``key``; see the module docstring."""
    incoming = layout.IncomingKey.parse(key)
    contract = get_contract(incoming.dataset)
    _lean_memory_pool()
    with audit.claim(key):
        record = find_record(audit, key)
        if finish_pending(incoming, record, store, audit):
            return StepResult(Outcome.SKIPPED, key, record.id, {"status": record.status})
        if record.status != Status.VALIDATED:
            log.info("%s: nothing to transform (audit status %s)", key, record.status)
            return StepResult(Outcome.SKIPPED, key, record.id, {"status": record.status})
        fid = layout.file_id(record.sha256)
        with (
            guard_stage(
                layout.FailedStage.PROCESSING,
                incoming,
                record,
                store,
                audit,
                run_id,
                attempt,
                max_attempts,
                now,
            ),
            tempfile.TemporaryDirectory(prefix="mdp-transform-", dir=scratch_dir) as tmp,
        ):
            work = Path(tmp)
            with timing.phase("download"):
                staging = store.spool(layout.staging_data_key(incoming.dataset, fid), work)
            out = work / "out"
            out.mkdir()
            with timing.phase("compute"):
                buckets = _bucket_tables(staging.path, contract, work)
                written = _write_outputs(contract, buckets, out)
            prefix = layout.transformed_prefix(incoming.dataset, fid)
            for path, _ in written.values():
                with timing.phase("upload"):
                    store.put_file(prefix + path.name, path, "application/vnd.apache.parquet")
                crash_point("transform.after_first_put")
            crash_point("transform.after_puts")
            audit.mark_transformed(record.id)
            crash_point("transform.after_transformed")
        counts = {name: n for name, (_, n) in written.items()}
        log.info("%s transformed: %s -> %s", key, counts, prefix)
        return StepResult(Outcome.DONE, key, record.id, {"transformed": prefix, "rows": counts})
