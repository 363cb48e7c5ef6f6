"""Ways to break a generated file, so the platform always has bad input to show and route.

Each kind breaks the *whole* file (every row, or its structure), so validation must quarantine it
rather than accept it with a few row-level rejects; the expected rule per kind is part of the
generator's manifest and asserted by the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mdp.contracts import ColumnType, Contract


class BadKind(StrEnum):
    MISSING_COLUMN = "missing_column"
    WRONG_TYPE = "wrong_type"
    NEGATIVE_VALUE = "negative_value"
    INCONSISTENT = "inconsistent"
    TRUNCATED = "truncated"
    WRONG_FORMAT = "wrong_format"


# What each kind breaks per built-in dataset; other contracts: ``targets``.
_TARGETS = {
    "sales": {"missing": "total_amount", "type": "quantity", "negative": "quantity"},
    "youtube": {"missing": "total_views", "type": "total_views", "negative": "total_views"},
}
_INCONSISTENT = frozenset(_TARGETS)
"""Datasets whose cross-field breakage is known (a wrong total, updated before created)."""


def targets(contract: Contract) -> dict[str, str]:
    """The columns each kind breaks: the built-ins' choice, else from the contract's columns
    (the last required column goes missing; the first typed column gets text; the first number
    that may not be negative gets a negative value). A kind without a column is left out."""
    if contract.dataset in _TARGETS:
        return _TARGETS[contract.dataset]
    found: dict[str, str] = {}
    required = [c.name for c in contract.columns if not c.nullable]
    if required:
        found["missing"] = required[-1]
    typed = [c for c in contract.columns if c.type is not ColumnType.STRING and not c.nullable]
    if typed:
        found["type"] = typed[0].name
    numbers = [
        c
        for c in contract.columns
        if c.type in {ColumnType.INT64, ColumnType.FLOAT64}
        and c.minimum is not None
        and c.minimum >= 0
    ]
    if numbers:
        found["negative"] = numbers[0].name
    return found


def kinds_for(contract: Contract) -> list[BadKind]:
    """The breakage kinds ``contract`` allows, in declaration order."""
    have = targets(contract)
    needs = {
        BadKind.MISSING_COLUMN: "missing" in have,
        BadKind.WRONG_TYPE: "type" in have,
        BadKind.NEGATIVE_VALUE: "negative" in have,
        BadKind.INCONSISTENT: contract.dataset in _INCONSISTENT,
    }
    return [k for k in BadKind if needs.get(k, True)]


BatchMap = Callable[[pa.RecordBatch], pa.RecordBatch]


def _replace(batch: pa.RecordBatch, name: str, array: pa.Array) -> pa.RecordBatch:
    idx = batch.schema.get_field_index(name)
    return batch.set_column(idx, pa.field(name, array.type), array)


def batch_breaker(kind: BadKind, contract: Contract) -> BatchMap | None:
    """A per-batch transformation for row-content kinds; None for structural kinds."""
    dataset = contract.dataset
    target = targets(contract)
    if kind is BadKind.MISSING_COLUMN:
        return lambda b: b.drop_columns([target["missing"]])
    if kind is BadKind.WRONG_TYPE:
        col = target["type"]
        return lambda b: _replace(b, col, pa.array(["many"] * b.num_rows, pa.string()))
    if kind is BadKind.NEGATIVE_VALUE:
        col = target["negative"]
        return lambda b: _replace(b, col, pc.subtract(pa.scalar(-1, pa.int64()), b.column(col)))
    if kind is BadKind.INCONSISTENT:
        if dataset == "sales":
            return lambda b: _replace(
                b, "total_amount", pc.add(b.column("total_amount"), pa.scalar(5.0))
            )
        # Snapshot taken a day before the video was created.
        return lambda b: _replace(
            b,
            "date_updated",
            pc.subtract(b.column("date_created"), pa.scalar(86_400_000_000, pa.duration("us"))),
        )
    return None


def broken_schema(fn: BatchMap | None, schema: pa.Schema) -> pa.Schema:
    """The schema the breaker produces, found by applying it to an empty batch."""
    if fn is None:
        return schema
    return fn(pa.RecordBatch.from_pylist([], schema=schema)).schema


def map_batches(batches: Iterator[pa.RecordBatch], fn: BatchMap | None) -> Iterator[pa.RecordBatch]:
    for b in batches:
        yield fn(b) if fn else b


def truncate(path: Path, fmt: str, delimiter: str = ",") -> None:
    """Cut the file as an interrupted upload would, always inside a record: for CSV and TSV
    before the last delimiter of the last row (so the row is short), elsewhere (a compressed
    stream, a workbook) near the middle. Only the file's tail is read."""
    size = path.stat().st_size
    cut = size // 2
    if fmt in {"csv", "tsv"}:
        tail_start = max(0, size - 64 * 1024)
        with path.open("rb") as f:
            f.seek(tail_start)
            tail = f.read()
        last_row = tail.rstrip(b"\r\n").rfind(b"\n") + 1
        comma = tail.rfind(delimiter.encode(), last_row)
        if last_row > 0 and comma > last_row:
            cut = tail_start + comma
    with path.open("r+b") as f:
        f.truncate(cut)
