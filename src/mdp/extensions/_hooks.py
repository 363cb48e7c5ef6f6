"""The hooks of a contract extension: what the generic transform and load ask of it.

A plain keyed dataset needs no code: validate, keep the newest row per key, merge into the one
table its contract names (``mdp.warehouse.tables.main_table``). A dataset whose warehouse holds
more than that names an extension in its contract (``extension: <name>``), one module of
``mdp.extensions`` that subclasses :class:`Extension`. Every hook defaults to doing nothing, so
a dataset without an extension runs through the same code with :data:`PLAIN`.

The generic steps call, in this order:

1. transform, per bucket of rows: :meth:`Extension.derive` with the bucket's newest rows of the
   main table; it returns the rows of each of its :meth:`Extension.tables`, which the transform
   deduplicates under each table's order like the main table's (so an extension cannot hand the
   load a key twice). Buckets hold every row of a value of the contract's first key column
   (``mdp.transform.partition``): an extension table must be keyed by that column too.
2. transform, per file: :meth:`Extension.collector` gathers what the load needs beyond the
   tables (a Parquet file next to them under ``transformed/``);
3. load, in the file's transaction after every table was merged: :meth:`Extension.after_merge`.

Extension tables are created by a numbered migration in ``sql/`` (their shape is code, so
``mdp db migrate`` cannot derive them from a contract).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mdp.contracts import Contract
from mdp.warehouse.tables import TableSpec

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa


class Collector(Protocol):
    """Gathers something from every bucket of one file and writes it at the end."""

    def add(self, rows: pa.Table) -> None:
        """Take note of one bucket's validated rows (every version, before deduplication)."""

    def write(self, out: Path) -> dict[str, tuple[Path, int]]:
        """Write the file(s) into ``out``; returns name -> (path, rows), reported by the step."""
        ...


class Extension:
    """A contract extension; this base class is the plain dataset (every hook does nothing)."""

    name = ""
    """What a contract's ``extension:`` says; the module's name in ``mdp.extensions``."""

    def tables(self, contract: Contract) -> tuple[TableSpec, ...]:
        """The tables merged after the dataset's main table, in this order."""
        return ()

    def derive(self, contract: Contract, newest: pa.Table) -> dict[str, pa.Table]:
        """The rows of each of :meth:`tables`, by table name, from one bucket's newest rows of
        the main table (not yet deduplicated: the transform does that)."""
        return {}

    def collector(self, contract: Contract) -> Collector | None:
        """What the transform gathers per file for :meth:`after_merge`; None for nothing."""
        return None

    def after_merge(
        self, conn: psycopg.Connection, contract: Contract, files: Mapping[str, Path]
    ) -> None:
        """Runs inside the load's transaction, under its dataset lock, after every merge;
        ``files`` are the transformed files by name (tables and collected files)."""


PLAIN = Extension()
