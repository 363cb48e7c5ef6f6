"""Apply the numbered SQL files in ``sql/`` in order, once each, recorded in a table.

Safe to run repeatedly (applied files are skipped) and concurrently (a transaction-level advisory
lock serialises runners; the second one waits, then finds nothing left to do). Each file runs in
its own transaction with its checksum recorded, and an applied file that was later edited stops
the run: migrations are append-only, a changed history must be a new file.

After the numbered files, ``migrate_contracts`` brings the table of every active dataset contract
in line with it (``mdp.contracts.evolution``): it creates the table of a newly declared dataset and
applies safe evolutions, all in one transaction under the same lock. An unsafe change is refused
with every reason, before any statement runs: nothing of the contracts is applied.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

from mdp.contracts.base import Contract
from mdp.contracts.evolution import (
    BOOKKEEPING,
    ColumnShape,
    Plan,
    TableShape,
    create_table,
    plan,
    shape_of,
)
from mdp.errors import TerminalError

_NAME = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
_LOCK_ID = 0x6D6470_6D6967  # "mdp" "mig"
_TABLE = "public.schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(TerminalError):
    """The migration files or the history in the database are wrong (an applied file edited, a
    badly named file): terminal, a retry meets the same files."""


class UnsafeContractChange(TerminalError):  # noqa: N818 - a refusal, named for what it is
    """A contract asks for a change to its table that could lose or break stored data."""


def default_sql_dir() -> Path:
    """The migrations shipped in the package (installed) or at the repository root (dev)."""
    packaged = resources.files("mdp") / "sql"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "sql"


def load_migrations(directory: Path) -> list[Migration]:
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lower_snake.sql")
        found.append(Migration(int(match[1]), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    return found


def migrate(
    conn: psycopg.Connection,
    directory: Path | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> list[str]:
    """Apply pending migrations; returns the names applied by this call."""
    migrations = load_migrations(directory or default_sql_dir())
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
            " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    # Each migration in its own transaction, each re-taking the lock: a concurrent runner waits
    # on the lock, then sees the row this one inserted and skips.
    for m in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            row = conn.execute(
                f"SELECT name, checksum FROM {_TABLE} WHERE version = %s", (m.version,)
            ).fetchone()
            if row is not None:
                if row[1] != m.checksum:
                    raise MigrationError(
                        f"{m.name} was changed after it was applied (as {row[0]}); "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            log(f"applying {m.name}")
            conn.execute(m.sql.encode())
            conn.execute(
                f"INSERT INTO {_TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                (m.version, m.name, m.checksum),
            )
            applied_now.append(m.name)
    return applied_now


def table_shape(conn: psycopg.Connection, table: str) -> TableShape | None:
    """The live table as a TableShape (bookkeeping columns left out); None if it does not exist."""
    found = conn.execute("SELECT to_regclass(%s)::oid", (table,)).fetchone()
    if found is None or found[0] is None:
        return None
    oid = found[0]
    columns = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), NOT attnotnull FROM pg_attribute"
        " WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (oid,),
    ).fetchall()
    key = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (oid,),
    ).fetchall()
    return TableShape(
        table,
        tuple(
            ColumnShape(n, t, bool(nullable)) for n, t, nullable in columns if n not in BOOKKEEPING
        ),
        tuple(r[0] for r in key),
    )


def contract_plans(conn: psycopg.Connection, contracts: Iterable[Contract]) -> list[Plan]:
    """What each contract needs of its table: created, altered, nothing, or refused."""
    plans = []
    for contract in contracts:
        wanted = shape_of(contract)
        live = table_shape(conn, contract.warehouse_table)
        if live is None:
            plans.append(Plan(contract.dataset, wanted.table, create_table(wanted)))
        else:
            plans.append(plan(contract.dataset, live, wanted))
    return plans


def migrate_contracts(
    conn: psycopg.Connection,
    contracts: Iterable[Contract],
    log: Callable[[str], None] = lambda _m: None,
) -> list[str]:
    """Create or evolve every contract's table; returns the statements run (all or none)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        plans = contract_plans(conn, contracts)
        refusals = [r for p in plans for r in p.refusals]
        if refusals:
            raise UnsafeContractChange("refused, nothing applied: " + "; ".join(refusals))
        statements = [s for p in plans for s in p.statements]
        for statement in statements:
            log(f"contract DDL: {statement}")
            conn.execute(statement.encode())
    return statements
