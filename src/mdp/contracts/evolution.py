"""Which changes to a contract's warehouse table are safe, and the DDL that makes them.

A warehouse table outlives every contract version that described it, so a new version may only
change it in ways that keep every stored row valid and every reader working:

* safe: a new **nullable** column; a widened type (``character varying(n)`` to a larger ``n`` or
  to ``text``, ``numeric(p,s)`` to a larger ``p`` with the same scale); a required column
  becoming nullable;
* unsafe, refused: a dropped column (its data would silently stop being loaded), any other type
  change, a new ``NOT NULL`` column (existing rows have no value for it: contracts declare no
  defaults), a nullable column becoming required, a changed key.

The same rules judge two versions of a contract in one directory (``mdp contracts check``) and a
contract against the live table (``mdp db migrate``), so what check accepts, migrate can apply.
This module is pure: it compares shapes and prints SQL; ``mdp.db.migrate`` runs it. It lives
with the contracts because the contract check needs the rules too, and the contracts do not
depend on the database layer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mdp.contracts.base import Contract

BOOKKEEPING = ("source_file_id", "loaded_at")
"""Columns every contract table has besides the contract's own: which audit row (file) delivered
the row's current version, and when it was loaded."""

_VARCHAR = re.compile(r"^character varying\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


@dataclass(frozen=True)
class ColumnShape:
    name: str
    sql_type: str
    nullable: bool


@dataclass(frozen=True)
class TableShape:
    """What a contract table looks like to PostgreSQL, bookkeeping columns left out."""

    table: str
    columns: tuple[ColumnShape, ...]
    key: tuple[str, ...]

    def column(self, name: str) -> ColumnShape | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class Plan:
    """The DDL that brings a table to a contract, or why that is refused."""

    dataset: str
    table: str
    statements: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def shape_of(contract: Contract) -> TableShape:
    return TableShape(
        contract.warehouse_table,
        tuple(ColumnShape(c.name, c.pg_type(), c.nullable) for c in contract.columns),
        tuple(contract.key_columns),
    )


def create_table(shape: TableShape) -> list[str]:
    """CREATE TABLE with the contract columns, the bookkeeping columns and the key, plus the
    grants the warehouse tables of sql/001 get (default privileges cover the migration owner;
    stating them keeps a table created by another role readable and loadable too)."""
    width = max(len(name) for name in (*(c.name for c in shape.columns), *BOOKKEEPING)) + 1
    lines = [
        f"    {c.name:<{width}}{c.sql_type}{'' if c.nullable else ' NOT NULL'}"
        for c in shape.columns
    ]
    lines += [
        f"    {'source_file_id':<{width}}bigint NOT NULL",
        f"    {'loaded_at':<{width}}timestamp with time zone NOT NULL DEFAULT now()",
        f"    PRIMARY KEY ({', '.join(shape.key)})",
    ]
    return [
        f"CREATE TABLE {shape.table} (\n" + ",\n".join(lines) + "\n)",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {shape.table} TO mdp_loader",
        f"GRANT SELECT ON {shape.table} TO mdp_reader",
    ]


def widens(old: str, new: str) -> bool:
    """Whether every value of type ``old`` fits ``new`` unchanged (a metadata-only change)."""
    if old == new:
        return True
    if (m := _VARCHAR.match(old)) is not None:
        n = _VARCHAR.match(new)
        return new == "text" or (n is not None and int(n[1]) > int(m[1]))
    if (m := _NUMERIC.match(old)) is not None:
        n = _NUMERIC.match(new)
        return n is not None and n[2] == m[2] and int(n[1]) > int(m[1])
    return False


def plan(dataset: str, old: TableShape, new: TableShape) -> Plan:
    """The ALTERs that turn ``old`` into ``new``, or the refusals when that is unsafe."""
    result = Plan(dataset, new.table)
    refuse = result.refusals.append
    if old.table != new.table:
        refuse(f"dataset {dataset}: table renamed from {old.table} to {new.table}")
        return result
    if tuple(old.key) != tuple(new.key):
        refuse(
            f"dataset {dataset}: key changed from ({', '.join(old.key)}) to "
            f"({', '.join(new.key)}): the table's primary key and every stored row depend on it"
        )
    for col in old.columns:
        if new.column(col.name) is None:
            refuse(
                f"dataset {dataset}, column {col.name}: dropped; its stored data would stop "
                "being loaded (keep it, nullable, in the contract)"
            )
    for col in new.columns:
        _plan_column(result, old.column(col.name), col)
    return result


def _plan_column(result: Plan, before: ColumnShape | None, col: ColumnShape) -> None:
    dataset, alter, refuse = result.dataset, f"ALTER TABLE {result.table}", result.refusals.append
    if before is None:
        if col.nullable:
            result.statements.append(f"{alter} ADD COLUMN {col.name} {col.sql_type}")
        else:
            refuse(
                f"dataset {dataset}, column {col.name}: new NOT NULL column without a "
                "default; the stored rows have no value for it (declare it nullable: true)"
            )
        return
    if before.sql_type != col.sql_type:
        if widens(before.sql_type, col.sql_type):
            result.statements.append(f"{alter} ALTER COLUMN {col.name} TYPE {col.sql_type}")
        else:
            refuse(
                f"dataset {dataset}, column {col.name}: type change from {before.sql_type} "
                f"to {col.sql_type} is not a widening; stored values may not convert "
                "(add a new column instead)"
            )
    if before.nullable and not col.nullable:
        refuse(
            f"dataset {dataset}, column {col.name}: nullable column made required; stored "
            "rows may hold nulls"
        )
    elif col.nullable and not before.nullable:
        result.statements.append(f"{alter} ALTER COLUMN {col.name} DROP NOT NULL")
