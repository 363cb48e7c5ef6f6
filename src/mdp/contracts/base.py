"""The shape of a dataset contract: columns, their rules, cross-field rules and thresholds.

A contract is plain, frozen data. Validation, the generator and the warehouse DDL tests all read
the same declaration, so a column cannot be added in one place and forgotten in another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa


class ColumnType(StrEnum):
    """Logical column types; each maps to one Arrow type and one PostgreSQL type."""

    STRING = "string"
    INT64 = "int64"
    FLOAT64 = "float64"
    TIMESTAMP = "timestamp"

    def arrow(self) -> pa.DataType:
        import pyarrow as pa

        return {
            ColumnType.STRING: pa.string(),
            ColumnType.INT64: pa.int64(),
            ColumnType.FLOAT64: pa.float64(),
            ColumnType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        }[self]


@dataclass(frozen=True)
class Column:
    """One column of a dataset and every single-column rule it must obey."""

    name: str
    type: ColumnType
    description: str
    nullable: bool = False
    minimum: float | None = None
    """Inclusive lower bound (numbers)."""
    maximum: float | None = None
    """Inclusive upper bound (numbers)."""
    exclusive_minimum: bool = False
    """Make ``minimum`` strict (``quantity > 0``)."""
    earliest: datetime | None = None
    """Inclusive lower bound (timestamps)."""
    future_tolerance_s: int | None = None
    """Timestamps may lie at most this many seconds after validation time (clock skew)."""
    max_length: int | None = None
    """Maximum length in characters (strings)."""
    allowed: frozenset[str] | None = None
    """Closed set of values (strings)."""
    pattern: str | None = None
    """Regular expression (RE2 syntax) the whole value must match (strings)."""
    reject_formula: bool = False
    """Reject values starting with = + - @ (spreadsheet formula injection) in free-text names."""
    max_null_ratio: float = 0.0
    """Share of nulls above which the whole file is rejected (nullable columns only)."""
    sql_type: str | None = None
    """PostgreSQL type of the warehouse column, when it differs from the type's default."""

    def pg_type(self) -> str:
        """The PostgreSQL type the warehouse uses for this column."""
        if self.sql_type:
            return self.sql_type
        return {
            ColumnType.STRING: "text",
            ColumnType.INT64: "bigint",
            ColumnType.FLOAT64: "double precision",
            ColumnType.TIMESTAMP: "timestamp with time zone",
        }[self.type]


@dataclass(frozen=True)
class CsvDialect:
    """How a dataset's CSV/TSV files are written; the defaults are what most tools export."""

    delimiter: str | None = None
    """Field delimiter; None means ',' (a tab for a .tsv file), see ``delimiter_for``."""
    quote: str = '"'
    escape: str | None = None
    """Escape character inside quoted fields; None: a quote is doubled instead."""
    encoding: str = "utf-8"
    header: bool = True
    """False: no header line, the fields are the contract's columns in order."""

    def delimiter_for(self, suffix: str) -> str:
        """The delimiter of a file named ``*.suffix``: the contract's, else tab for .tsv."""
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if suffix == "tsv" else ","


RowCheck = Callable[[Mapping[str, Any]], Any]
"""Takes typed Arrow arrays by column name, returns a boolean array: true where the row passes.
A null result counts as a pass: a null input is reported by the column's own not-null rule."""


@dataclass(frozen=True)
class RowRule:
    """A rule across columns, evaluated vectorised on a typed record batch."""

    name: str
    description: str
    columns: tuple[str, ...]
    check: RowCheck


@dataclass(frozen=True)
class Contract:
    """Everything validation needs to accept or reject a file of one dataset."""

    dataset: str
    description: str
    columns: tuple[Column, ...]
    key_columns: tuple[str, ...]
    """Business key; the transform deduplicates on it."""
    row_rules: tuple[RowRule, ...] = ()
    max_reject_ratio: float = 0.05
    """Share of rejected rows above which the whole file is quarantined instead."""
    warehouse_table: str = ""
    """Warehouse table holding the validated columns one to one (checked against the DDL)."""
    version: int = 1
    """Contract version (a contract file's ``version``); recorded on each audit row."""
    newer: tuple[str, ...] = ()
    """Columns deciding which version of a key is newer, most significant first."""
    extension: str | None = None
    """Named code extension deriving more warehouse tables (see mdp.extensions)."""
    source: str | None = None
    """The file the contract was read from (None when declared in code)."""
    csv: CsvDialect = CsvDialect()
    """The dialect of the dataset's CSV/TSV files."""
    xlsx_sheet: str | None = None
    """The sheet of an Excel workbook holding the rows; None: the first."""
    extra_columns: str = "reject"
    """``reject`` a file with columns the contract lacks, or ``ignore`` (drop) them."""
    max_uncompressed_bytes: int | None = None
    """Largest decompressed size of a compressed file or Excel sheet; None: the global one."""

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.dataset}: duplicate column names in contract")
        missing = [k for k in (*self.key_columns, *self.newer) if k not in names]
        for rule in self.row_rules:
            missing += [c for c in rule.columns if c not in names]
        if missing:
            raise ValueError(f"{self.dataset}: contract refers to unknown columns {missing}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def arrow_schema(self) -> pa.Schema:
        """Schema of the typed staging Parquet."""
        import pyarrow as pa

        return pa.schema(
            [pa.field(c.name, c.type.arrow(), nullable=c.nullable) for c in self.columns]
        )
