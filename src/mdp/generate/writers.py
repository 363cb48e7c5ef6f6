"""Write record batches to a local file as CSV, JSON (array or lines) or Parquet, streaming."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_json(out: IO[str], batches: Iterable[pa.RecordBatch], *, array: bool) -> int:
    rows = 0
    out.write("[\n" if array else "")
    for batch in batches:
        for record in batch.to_pylist():
            if array and rows:
                out.write(",\n")
            out.write(json.dumps(record, default=_json_default, ensure_ascii=False))
            if not array:
                out.write("\n")
            rows += 1
    out.write("\n]\n" if array else "")
    return rows


def write_batches(
    path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], fmt: str
) -> int:
    """Write ``batches`` to ``path`` as csv, json (an array), jsonl or parquet; returns rows."""
    rows = 0
    if fmt == "csv":
        with pacsv.CSVWriter(path, schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
    elif fmt == "parquet":
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
    elif fmt in {"json", "jsonl"}:
        with path.open("w", encoding="utf-8") as out:
            rows = _write_json(out, batches, array=fmt == "json")
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return rows
