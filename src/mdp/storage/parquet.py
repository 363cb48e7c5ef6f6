"""Local Parquet files: bounded-memory batch reading, and writing on a worker thread."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

READ_BUFFER_BYTES = 1024 * 1024


def open_parquet(path: Path) -> pq.ParquetFile:
    """A ParquetFile that reads through a fixed-size buffer without pre-buffering.

    pyarrow's defaults pre-buffer whole column chunks, so memory grew with the file; buffered
    reading stays flat (docs/benchmark.md).
    """
    return pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)


class BackgroundWriter:
    """A ``ParquetWriter`` whose writes run on one worker thread.

    Encoding and compressing a row group (pyarrow releases the GIL) then overlaps with reading and
    checking the next one, instead of leaving the other core idle while a step writes. One table is
    written at a time and the next ``write_table`` waits for it, so at most one row group is in
    flight (bounded memory) and row groups keep their order. An error of the worker is raised by the
    next ``write_table`` or by ``close``, which always waits for the last write and closes the file.
    As ``close`` can raise, use it as a context manager (several at once in an ``ExitStack``), so
    one writer's error does not leave another open.
    """

    def __init__(self, path: Path, schema: pa.Schema, **options: Any) -> None:
        self._writer = pq.ParquetWriter(path, schema, **options)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: Future[None] | None = None

    def write_table(self, table: pa.Table) -> None:
        self._wait()
        self._pending = self._pool.submit(self._writer.write_table, table)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self.write_table(pa.Table.from_batches([batch]))

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
            self._writer.close()
