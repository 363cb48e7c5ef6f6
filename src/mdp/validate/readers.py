"""Stream a file as record batches of raw column arrays, whatever its format.

Every reader yields ``RawBatch`` objects holding exactly the contract's columns, in bounded-size
batches, so memory stays flat in the file size. Header problems (missing, unexpected or duplicate
columns) are found before the first batch and raise ``FileRejected``; so do parse errors midway.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from mdp.contracts import Contract
from mdp.storage.parquet import open_parquet
from mdp.validate.errors import FileRejected
from mdp.validate.formats import UTF8_BOM, Format

CSV_BLOCK_BYTES = 1024 * 1024
"""pyarrow's CSV block size, the unit of CSV memory. The reader keeps several blocks in flight,
so this bounds peak memory (larger blocks cost memory, not time); it is also the largest single
field a CSV may hold."""


@dataclass
class RawBatch:
    columns: dict[str, pa.Array]
    native: bool
    """True when the arrays carry the file's own types (Parquet); else they are strings."""
    row_failures: dict[tuple[str, str | None], pa.BooleanArray] = field(default_factory=dict)
    """Problems found while reading a row (nested JSON value, non-object record)."""

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def check_header(contract: Contract, names: list[str], *, required_only: bool = False) -> None:
    """Reject duplicate, missing or unexpected columns, in that order."""
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise FileRejected("duplicate_columns", f"columns appear more than once: {dupes}")
    wanted = [c.name for c in contract.columns if not (required_only and c.nullable)]
    missing = [c for c in wanted if c not in seen]
    if missing:
        hint = ""
        if len(names) == 1 and any(d in names[0] for d in ";\t|"):
            hint = " (the header is one column: is the file delimited by something other than ','?)"
        raise FileRejected(
            "missing_columns", f"required columns are missing: {missing}{hint}", columns=missing
        )
    unexpected = [n for n in names if n not in contract.column_names]
    if unexpected:
        raise FileRejected(
            "unexpected_columns",
            f"columns not in the {contract.dataset} contract: {unexpected}",
            columns=unexpected,
        )


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as f:
        head = f.read(CSV_BLOCK_BYTES)
    head = head.removeprefix(UTF8_BOM)
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileRejected("encoding", f"the header is not valid UTF-8: {e}") from None
    return [h.strip() for h in next(csv.reader(io.StringIO(text)), [])]


def _arrow_csv_error(e: pa.ArrowException) -> FileRejected:
    text = str(e)
    if "UTF8" in text or "UTF-8" in text:
        return FileRejected("encoding", f"invalid UTF-8 in the data: {text}")
    if "straddl" in text:
        return FileRejected(
            "field_too_large",
            f"a single field is larger than the {CSV_BLOCK_BYTES // 1024} KiB CSV block "
            "(or a quote is never closed)",
        )
    return FileRejected("malformed_csv", text)


def read_csv(path: Path, contract: Contract) -> Iterator[RawBatch]:
    names = _csv_header(path)
    check_header(contract, names)
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            yield RawBatch({c: batch.column(c) for c in contract.column_names}, native=False)
    except pa.ArrowException as e:
        raise _arrow_csv_error(e) from None


def _json_value(value: Any) -> tuple[str | None, str | None]:
    """(text for the column, failing rule or None)."""
    if value is None:
        return None, None
    if isinstance(value, bool):
        return json.dumps(value), "type"
    if isinstance(value, str):
        return value, None
    if isinstance(value, int | Decimal | float):
        return str(value), None
    return json.dumps(value, default=str), "nested_value"


class _JsonBatcher:
    """Accumulates JSON records column by column until a batch is full."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        self.reset()

    def reset(self) -> None:
        self.values: dict[str, list[str | None]] = {c: [] for c in self.contract.column_names}
        self.failures: dict[tuple[str, str | None], list[int]] = {}
        self.n = 0

    def _fail(self, rule: str, column: str | None) -> None:
        self.failures.setdefault((rule, column), []).append(self.n)

    def add(self, record: Any) -> None:
        if not isinstance(record, dict):
            self._fail("not_an_object", None)
            for col in self.values.values():
                col.append(None)
        else:
            for name, col in self.values.items():
                text, rule = _json_value(record.get(name))
                col.append(text)
                if rule:
                    self._fail(rule, name)
            if any(k not in self.values for k in record):
                self._fail("unexpected_field", None)
        self.n += 1

    def flush(self) -> RawBatch:
        cols = {k: pa.array(v, pa.string()) for k, v in self.values.items()}
        failures = {}
        for key, rows in self.failures.items():
            mask = [False] * self.n
            for r in rows:
                mask[r] = True
            failures[key] = pa.array(mask, pa.bool_())
        batch = RawBatch(cols, native=False, row_failures=failures)
        self.reset()
        return batch


def read_json(path: Path, contract: Contract, fmt: Format, batch_rows: int) -> Iterator[RawBatch]:
    import ijson

    batcher = _JsonBatcher(contract)
    with path.open("rb") as f:
        if f.read(3) != UTF8_BOM:
            f.seek(0)
        prefix = "item" if fmt is Format.JSON_ARRAY else ""
        items = ijson.items(f, prefix, multiple_values=True, use_float=False)
        first = True
        try:
            for record in items:
                if first and isinstance(record, dict):
                    check_header(contract, list(record), required_only=True)
                first = False
                batcher.add(record)
                if batcher.n >= batch_rows:
                    yield batcher.flush()
        except ijson.JSONError as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise FileRejected("malformed_json", f"not valid JSON: {first_line}") from None
        except UnicodeDecodeError as e:
            raise FileRejected("encoding", f"invalid UTF-8 in the data: {e}") from None
    if batcher.n:
        yield batcher.flush()


def read_parquet(path: Path, contract: Contract, batch_rows: int) -> Iterator[RawBatch]:
    try:
        pf = open_parquet(path)
    except (pa.ArrowException, OSError) as e:
        raise FileRejected("corrupt_parquet", f"cannot read the Parquet footer: {e}") from None
    check_header(contract, list(pf.schema_arrow.names))
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(contract.column_names)):
            yield RawBatch({c: batch.column(c) for c in contract.column_names}, native=True)
    except (pa.ArrowException, OSError) as e:
        raise FileRejected("corrupt_parquet", f"cannot read a row group: {e}") from None


def read_batches(
    path: Path, contract: Contract, fmt: Format, batch_rows: int
) -> Iterator[RawBatch]:
    """Dispatch on the detected format."""
    if fmt is Format.CSV:
        return read_csv(path, contract)
    if fmt is Format.PARQUET:
        return read_parquet(path, contract, batch_rows)
    return read_json(path, contract, fmt, batch_rows)
