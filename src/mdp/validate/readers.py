"""Stream a file as record batches of raw column arrays: what every reader shares, and the
JSON and Parquet readers (CSV/TSV: ``mdp.validate.delimited``, Excel: ``mdp.validate.excel``).

Every reader yields ``RawBatch`` objects holding exactly the contract's columns, in bounded-size
batches, so memory stays flat in the file size. Header problems (missing, unexpected or duplicate
columns) are found before the first batch and raise ``FileRejected``; so do parse errors midway.
Columns beyond the contract are a rejection, or, under ``extra_columns: ignore``, dropped and
their names handed back so the report and the audit row can say what was left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from mdp.contracts import Contract
from mdp.storage.parquet import open_parquet
from mdp.validate.errors import FileRejected
from mdp.validate.formats import UTF8_BOM, Format, Source

MAX_IGNORED_NAMES = 100
"""How many ignored column names a report keeps (JSON records may each bring new keys)."""
_DELIMITERS = ",;\t|"


@dataclass
class RawBatch:
    columns: dict[str, pa.Array]
    native: bool
    """True when the arrays carry the file's own types (Parquet); else they are strings."""
    row_failures: dict[tuple[str, str | None], pa.BooleanArray] = field(default_factory=dict)
    """Problems found while reading a row (nested JSON value, non-object record)."""

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def check_header(
    contract: Contract, names: list[str], *, required_only: bool = False, delimiter: str = ","
) -> list[str]:
    """Reject duplicate, missing or unexpected columns, in that order; returns the unexpected
    names when the contract ignores extra columns. ``delimiter`` is the one the contract expects
    (named in the hint for a header that is one column wide)."""
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
    if dupes:
        raise FileRejected("duplicate_columns", f"columns appear more than once: {dupes}")
    wanted = [c.name for c in contract.columns if not (required_only and c.nullable)]
    missing = [c for c in wanted if c not in seen]
    if missing:
        hint = ""
        others = [d for d in _DELIMITERS if d != delimiter]
        if len(names) == 1 and any(d in names[0] for d in others):
            hint = (
                " (the header is one column: is the file delimited by something other than "
                f"{delimiter!r}?)"
            )
        raise FileRejected(
            "missing_columns", f"required columns are missing: {missing}{hint}", columns=missing
        )
    unexpected = [n for n in names if n not in contract.column_names]
    if unexpected and contract.extra_columns == "ignore":
        return unexpected[:MAX_IGNORED_NAMES]
    if unexpected:
        raise FileRejected(
            "unexpected_columns",
            f"columns not in the {contract.dataset} contract: {unexpected}",
            columns=unexpected,
        )
    return []


def note_ignored(ignored: list[str], names: list[str]) -> None:
    """Add ``names`` to ``ignored``, once each, up to ``MAX_IGNORED_NAMES``."""
    for name in names:
        if name not in ignored and len(ignored) < MAX_IGNORED_NAMES:
            ignored.append(name)


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

    def __init__(self, contract: Contract, ignored: list[str]) -> None:
        self.contract = contract
        self.ignored = ignored
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
            extra = [k for k in record if k not in self.values]
            if extra and self.contract.extra_columns == "ignore":
                note_ignored(self.ignored, extra)
            elif extra:
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


def read_json(
    source: Source, contract: Contract, batch_rows: int, ignored: list[str]
) -> Iterator[RawBatch]:
    import ijson

    batcher = _JsonBatcher(contract, ignored)
    with source.open() as f:
        if f.peek(3)[:3] == UTF8_BOM:
            f.read(3)
        prefix = "item" if source.format is Format.JSON_ARRAY else ""
        items = ijson.items(f, prefix, multiple_values=True, use_float=False)
        first = True
        try:
            for record in items:
                if first and isinstance(record, dict):
                    note_ignored(ignored, check_header(contract, list(record), required_only=True))
                first = False
                batcher.add(record)
                if batcher.n >= batch_rows:
                    yield batcher.flush()
        except ijson.JSONError as e:
            first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise source.cause() or FileRejected(
                "malformed_json", f"not valid JSON: {first_line}"
            ) from None
        except UnicodeDecodeError as e:
            message = f"invalid UTF-8 in the data: {e}"
            raise source.cause() or FileRejected("encoding", message) from None
        except OSError:
            if (failure := source.failure()) is not None:
                raise failure from None
            raise
    if batcher.n:
        yield batcher.flush()


def read_parquet(
    path: Path, contract: Contract, batch_rows: int, ignored: list[str]
) -> Iterator[RawBatch]:
    try:
        pf = open_parquet(path)
    except (pa.ArrowException, OSError) as e:
        raise FileRejected("corrupt_parquet", f"cannot read the Parquet footer: {e}") from None
    ignored += check_header(contract, list(pf.schema_arrow.names))
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=list(contract.column_names)):
            yield RawBatch({c: batch.column(c) for c in contract.column_names}, native=True)
    except (pa.ArrowException, OSError) as e:
        raise FileRejected("corrupt_parquet", f"cannot read a row group: {e}") from None
