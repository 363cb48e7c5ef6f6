"""What each warehouse table holds and how two versions of a row are ordered.

Order independence rests on one idea: for every key, the warehouse keeps the *maximum* row under a
total order over the row's columns. A maximum does not care about arrival order or how rows were
split into files, so loading files in any order, twice, or split gives the same table. The
transform uses the same order to deduplicate inside a file (Arrow), and the load uses it in
``MERGE ... WHEN MATCHED AND incoming > existing`` (SQL); both are generated from the specs here.

The order compares, in sequence, the ``newer`` columns and then every other column; text by
bytes (Arrow's order, PostgreSQL's ``COLLATE "C"``), with null below every value. Money columns
are rounded to cents in the transform so Arrow's float and PostgreSQL's numeric agree.

A dataset's main table is derived from its contract (``main_table``: table name, columns, key,
``newer``); tables beyond it come from the contract's named extension (``mdp.extensions``), which
describes them with the same ``TableSpec``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from mdp.contracts import Contract


@dataclass(frozen=True)
class TableColumn:
    name: str
    arrow: pa.DataType
    pg_type: str
    nullable: bool = False


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table as the transform writes it and the load merges it."""

    name: str
    """Qualified table name."""
    file_name: str
    """Parquet file name under transformed/<dataset>/<file-id>/."""
    columns: tuple[TableColumn, ...]
    key: tuple[str, ...]
    newer: tuple[str, ...]
    """Columns that decide which version is newer, most significant first."""
    greatest: tuple[str, ...] = ()
    """Columns merged with GREATEST instead of taken from the winning row (running maxima)."""
    has_source_file: bool = True
    """The table records which audit row (file) delivered each row's current version."""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def order(self) -> tuple[str, ...]:
        """The full tie-free order: newer columns, then every other non-key, non-greatest one."""
        rest = [
            c
            for c in self.column_names
            if c not in self.key and c not in self.newer and c not in self.greatest
        ]
        return (*self.newer, *rest)

    def column(self, name: str) -> TableColumn:
        return next(c for c in self.columns if c.name == name)

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow, nullable=c.nullable) for c in self.columns])

    def money_scales(self) -> dict[str, int]:
        """numeric(p,s) columns and their scale s, for rounding before comparison."""
        out = {}
        for c in self.columns:
            if c.pg_type.startswith("numeric(") and "," in c.pg_type:
                out[c.name] = int(c.pg_type.rstrip(")").split(",")[1])
        return out


def _from_contract(contract: Contract) -> tuple[TableColumn, ...]:
    return tuple(
        TableColumn(c.name, c.type.arrow(), c.pg_type(), c.nullable) for c in contract.columns
    )


def main_table(contract: Contract) -> TableSpec:
    """The table holding a dataset's validated columns one to one: keyed by the contract key,
    newest version by the contract's ``newer`` columns. Every dataset has one; it is all a plain
    keyed dataset needs."""
    return TableSpec(
        name=contract.warehouse_table,
        file_name=contract.warehouse_table.rsplit(".", 1)[-1] + ".parquet",
        columns=_from_contract(contract),
        key=tuple(contract.key_columns),
        newer=tuple(contract.newer),
    )
