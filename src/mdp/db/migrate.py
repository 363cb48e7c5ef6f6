"""Apply the numbered SQL files in ``sql/`` in order, once each, recorded in a table.

Safe to run repeatedly (applied files are skipped) and concurrently (a transaction-level advisory
lock serialises runners; the second one waits, then finds nothing left to do). Each file runs in
its own transaction with its checksum recorded, and an applied file that was later edited stops
the run: migrations are append-only, a changed history must be a new file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

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


class MigrationError(Exception):
    """The migration history in the database disagrees with the files."""


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
