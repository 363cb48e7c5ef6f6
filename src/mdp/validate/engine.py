"""Validate one local file against a contract: stream, type, check, write staging and rejects.

This module knows nothing of MinIO or PostgreSQL; ``mdp.validate.step`` moves bytes and records
outcomes. Keeping the file-level logic pure makes every rule testable on a local file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mdp.contracts import Contract
from mdp.storage.parquet import BackgroundWriter
from mdp.validate.checks import ColumnTypeError, check_batch
from mdp.validate.compression import DEFAULT_MAX_UNCOMPRESSED_BYTES, split_name
from mdp.validate.delimited import read_delimited
from mdp.validate.errors import FileRejected
from mdp.validate.excel import read_xlsx
from mdp.validate.formats import Format, Source, detect
from mdp.validate.readers import RawBatch, read_json, read_parquet

STAGING_ROW_GROUP_ROWS = 65_536
"""Valid rows are written to the staging Parquet in row groups of about this many rows. A CSV
block is only a few thousand rows; a row group per block made many tiny row groups, slower to
write and for the transform to read (and a few MiB of typed rows is all this holds)."""

ROW_NUMBER = "_row_number"
RULE = "_rule"
COLUMN = "_column"


@dataclass
class Violation:
    """How often one (rule, column) pair failed, with the first offending row numbers."""

    rule: str
    column: str | None
    count: int = 0
    rows: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "column": self.column, "count": self.count, "rows": self.rows}


@dataclass
class ValidationResult:
    """Everything the step needs to record and route the file."""

    format: Format | None = None
    compression: str | None = None
    """The codec around the file (gzip, zstd, bz2), None when it came uncompressed."""
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    violations: list[Violation] = field(default_factory=list)
    rejection: FileRejected | None = None
    ignored_columns: list[str] = field(default_factory=list)
    """Columns of the file the contract does not have, dropped under ``extra_columns: ignore``."""
    data_path: Path | None = None
    rejects_path: Path | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None

    @property
    def format_label(self) -> str | None:
        """The format as the audit row records it: ``csv``, or ``csv+gzip`` when compressed."""
        if self.format is None:
            return None
        return self.format.value + (f"+{self.compression}" if self.compression else "")

    def report(self) -> dict[str, Any]:
        """Machine-readable summary, the body of ``.error.json`` and of the audit row's error."""
        out: dict[str, Any] = {
            "format": self.format.value if self.format else None,
            "rows": {
                "in": self.rows_in,
                "valid": self.rows_valid,
                "rejected": self.rows_rejected,
            },
            "violations": [v.as_dict() for v in self.violations],
        }
        # Only when there is something to say, so reports of plain files keep their shape.
        if self.compression:
            out["compression"] = self.compression
        if self.ignored_columns:
            out["ignored_columns"] = self.ignored_columns
        if self.rejection is not None:
            out |= {
                "rule": self.rejection.rule,
                "column": self.rejection.column,
                "message": self.rejection.message,
                "details": self.rejection.details,
            }
        return out


def rejects_schema(contract: Contract) -> pa.Schema:
    """Rejected rows keep their raw text so a person can see exactly what arrived."""
    return pa.schema(
        [
            pa.field(ROW_NUMBER, pa.int64(), nullable=False),
            pa.field(RULE, pa.string(), nullable=False),
            pa.field(COLUMN, pa.string()),
            *[pa.field(c, pa.string()) for c in contract.column_names],
        ]
    )


def _as_text(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())


class _Tally:
    def __init__(self, contract: Contract, keep_rows: int) -> None:
        self.contract = contract
        self.keep_rows = keep_rows
        self.violations: dict[tuple[str, str | None], Violation] = {}
        self.nulls: dict[str, int] = {}

    def add(self, key: tuple[str, str | None], mask: pa.BooleanArray, offset: int) -> None:
        count = pc.sum(mask).as_py() or 0
        if not count:
            return
        v = self.violations.setdefault(key, Violation(rule=key[0], column=key[1]))
        v.count += count
        if len(v.rows) < self.keep_rows:
            idx = pc.indices_nonzero(mask).slice(0, self.keep_rows - len(v.rows))
            v.rows.extend(offset + i + 1 for i in idx.to_pylist())


def read_batches(
    source: Source, contract: Contract, batch_rows: int, ignored: list[str]
) -> Iterator[RawBatch]:
    """Dispatch on the detected format; ``ignored`` collects dropped extra columns."""
    if source.format in {Format.CSV, Format.TSV}:
        return read_delimited(source, contract, ignored)
    if source.format is Format.PARQUET:
        return read_parquet(source.path, contract, batch_rows, ignored)
    if source.format is Format.XLSX:
        return read_xlsx(source, contract, batch_rows, ignored)
    return read_json(source, contract, batch_rows, ignored)


def validate_file(
    path: Path,
    contract: Contract,
    file_name: str,
    out_dir: Path,
    now: datetime,
    *,
    batch_rows: int = 65_536,
    report_rows: int = 20,
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> ValidationResult:
    """Check ``path``, the upload named ``file_name``; on acceptance ``data_path`` (and
    ``rejects_path`` if any) are written. A compressed file or a workbook may expand to the
    contract's ``max_uncompressed_bytes``, else to ``max_uncompressed_bytes``."""
    result = ValidationResult()
    tally = _Tally(contract, report_rows)
    data_path = out_dir / "data.parquet"
    rejects_path = out_dir / "rejects.parquet"
    rejects_writer: BackgroundWriter | None = None
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    # The writers close when the block ends, all of them even if one raises (see BackgroundWriter).
    with ExitStack() as writers:
        try:
            extension, codec_suffix = split_name(file_name)
            limit = contract.max_uncompressed_bytes or max_uncompressed_bytes
            source = detect(path, extension, codec_suffix, limit=limit)
            result.format = source.format
            result.compression = source.compression.value if source.compression else None
            data_writer = writers.enter_context(
                BackgroundWriter(data_path, contract.arrow_schema(), compression="zstd")
            )
            for raw in read_batches(source, contract, batch_rows, result.ignored_columns):
                offset = result.rows_in
                result.rows_in += len(raw)
                checked = _check(contract, raw, now)
                for key, mask in checked.violations.items():
                    tally.add(key, mask, offset)
                for name, count in checked.null_counts.items():
                    tally.nulls[name] = tally.nulls.get(name, 0) + count
                pending.append(checked.valid)
                pending_rows += checked.valid.num_rows
                if pending_rows >= STAGING_ROW_GROUP_ROWS:
                    data_writer.write_table(pa.Table.from_batches(pending))
                    pending, pending_rows = [], 0
                result.rows_valid += checked.valid.num_rows
                n_bad = pc.sum(checked.rejected_mask).as_py() or 0
                if n_bad:
                    result.rows_rejected += n_bad
                    if rejects_writer is None:
                        rejects_writer = writers.enter_context(
                            BackgroundWriter(
                                rejects_path, rejects_schema(contract), compression="zstd"
                            )
                        )
                    rejects_writer.write_batch(_rejects_batch(contract, raw, checked, offset))
            if pending:
                data_writer.write_table(pa.Table.from_batches(pending))
                pending = []
            result.violations = list(tally.violations.values())
            _check_thresholds(contract, result, tally.nulls)
        except FileRejected as rejection:
            result.rejection = rejection
            result.violations = list(tally.violations.values())
    if result.accepted:
        result.data_path = data_path
        result.rejects_path = rejects_path if result.rows_rejected else None
    return result


def _check(contract: Contract, raw: RawBatch, now: datetime) -> Any:
    try:
        return check_batch(
            contract, raw.columns, now, native=raw.native, row_failures=raw.row_failures
        )
    except ColumnTypeError as e:
        raise FileRejected(
            "column_type", str(e), column=e.column, found=str(e.found), wanted=e.wanted.value
        ) from None


def _rejects_batch(contract: Contract, raw: RawBatch, checked: Any, offset: int) -> pa.RecordBatch:
    mask = checked.rejected_mask
    idx = pc.indices_nonzero(mask)
    arrays = [
        pc.add(pc.cast(idx, pa.int64()), pa.scalar(offset + 1, pa.int64())),
        pc.take(checked.first_rule, idx),
        pc.take(checked.first_column, idx),
        *[_as_text(pc.take(raw.columns[c], idx)) for c in contract.column_names],
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=rejects_schema(contract))


def _check_thresholds(contract: Contract, result: ValidationResult, nulls: dict[str, int]) -> None:
    if result.rows_in == 0:
        raise FileRejected("no_rows", "the file has a header or structure but no data rows")
    ratio = result.rows_rejected / result.rows_in
    if ratio > contract.max_reject_ratio:
        raise FileRejected(
            "reject_ratio",
            f"{result.rows_rejected} of {result.rows_in} rows ({ratio:.1%}) broke the contract; "
            f"the {contract.dataset} limit is {contract.max_reject_ratio:.1%}",
            ratio=round(ratio, 6),
            limit=contract.max_reject_ratio,
        )
    for column in contract.columns:
        if not column.nullable or not result.rows_valid:
            continue
        null_ratio = nulls.get(column.name, 0) / result.rows_valid
        if null_ratio > column.max_null_ratio:
            raise FileRejected(
                "null_ratio",
                f"{null_ratio:.1%} of {column.name} is null; the limit is "
                f"{column.max_null_ratio:.1%}",
                column=column.name,
                ratio=round(null_ratio, 6),
                limit=column.max_null_ratio,
            )
