"""Write record batches to a local file, streaming: CSV or TSV in the contract's dialect, JSON
(array or lines), Parquet, an Excel workbook, and any of the text formats gzip-compressed
(``csv.gz``), so sample files come in the shapes producers really send."""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mdp.contracts import CsvDialect

_CHUNK = 1024 * 1024


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


class _Transcoder(io.RawIOBase):
    """A binary sink that re-encodes the UTF-8 written to it (pyarrow writes only UTF-8)."""

    def __init__(self, out: IO[bytes], encoding: str) -> None:
        super().__init__()
        self.out = out
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.encoder = codecs.getincrementalencoder(encoding)(errors="replace")

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.out.write(self.encoder.encode(self.decoder.decode(bytes(data))))
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.out.write(self.encoder.encode(self.decoder.decode(b"", final=True), final=True))
        super().close()


def _python_csv(
    out: IO[bytes],
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    dialect: CsvDialect,
    sep: str,
) -> int:
    """Python's csv writer, for a quote or escape pyarrow's writer cannot write."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(
        text,
        delimiter=sep,
        quotechar=dialect.quote,
        escapechar=dialect.escape,
        doublequote=dialect.escape is None,
        lineterminator="\n",
    )
    if dialect.header:
        writer.writerow(schema.names)
    rows = 0
    for batch in batches:
        for record in batch.to_pylist():
            writer.writerow(["" if v is None else _text(v) for v in record.values()])
            rows += 1
    text.flush()
    text.detach()
    return rows


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def write_csv(
    path: Path,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    dialect: CsvDialect = CsvDialect(),  # noqa: B008 - frozen, immutable
    *,
    tsv: bool = False,
) -> int:
    """CSV (or TSV) in ``dialect``; the default dialect is pyarrow's writer unchanged."""
    sep = dialect.delimiter_for("tsv" if tsv else "csv")
    plain = dialect.quote == '"' and dialect.escape is None
    if plain and dialect.encoding == "utf-8":
        options = pacsv.WriteOptions(include_header=dialect.header, delimiter=sep)
        rows = 0
        with pacsv.CSVWriter(path, schema, write_options=options) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    with path.open("wb") as raw, _Transcoder(raw, dialect.encoding) as out:
        sink: IO[bytes] = out  # type: ignore[assignment]
        if not plain:
            return _python_csv(sink, schema, batches, dialect, sep)
        options = pacsv.WriteOptions(include_header=dialect.header, delimiter=sep)
        rows = 0
        with pacsv.CSVWriter(sink, schema, write_options=options) as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows


def write_xlsx(
    path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch], sheet: str | None
) -> int:
    """A workbook of one sheet (the contract's sheet name, else Sheet1), written streaming.
    Excel has no time zones: timestamps are written as UTC wall-clock times."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet or "Sheet1")
    worksheet.append(schema.names)
    rows = 0
    for batch in batches:
        for record in batch.to_pylist():
            worksheet.append([_cell(v) for v in record.values()])
            rows += 1
    workbook.save(path)
    return rows


def _cell(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def gzip_file(source: Path, target: Path) -> None:
    """Compress ``source`` into ``target`` as gzip, block by block."""
    with source.open("rb") as src, pa.CompressedOutputStream(str(target), "gzip") as out:
        while chunk := src.read(_CHUNK):
            out.write(chunk)


def write_batches(
    path: Path,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    fmt: str,
    dialect: CsvDialect = CsvDialect(),  # noqa: B008 - frozen, immutable
    sheet: str | None = None,
) -> int:
    """Write ``batches`` to ``path`` as csv, tsv, json (an array), jsonl, parquet or xlsx, or
    one of the text formats gzip-compressed (``csv.gz``, ``jsonl.gz``); returns rows."""
    if fmt.endswith(".gz"):
        plain = path.with_name(path.name + ".plain")
        rows = write_batches(plain, schema, batches, fmt.removesuffix(".gz"), dialect, sheet)
        gzip_file(plain, path)
        plain.unlink()
        return rows
    if fmt in {"csv", "tsv"}:
        return write_csv(path, schema, batches, dialect, tsv=fmt == "tsv")
    if fmt == "parquet":
        rows = 0
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    if fmt in {"json", "jsonl"}:
        with path.open("w", encoding="utf-8") as out:
            return _write_json(out, batches, array=fmt == "json")
    if fmt == "xlsx":
        return write_xlsx(path, schema, batches, sheet)
    raise ValueError(f"unknown format {fmt!r}")
