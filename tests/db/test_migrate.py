"""Migrations on real PostgreSQL: idempotent, concurrent-safe, append-only; least privilege."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import psycopg
import pytest

from mdp import exitcodes
from mdp.db.migrate import MigrationError, default_sql_dir, load_migrations, migrate
from mdp.devservers import PostgresServer
from tests.support.cli_process import run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def empty_db(pg_server: PostgresServer) -> str:
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return pg_server.conninfo(name)


def test_files_are_numbered_and_ordered() -> None:
    migrations = load_migrations(default_sql_dir())
    assert [m.version for m in migrations] == sorted(m.version for m in migrations)
    assert migrations[0].version == 1


def test_second_run_applies_nothing(empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        first = migrate(conn)
        second = migrate(conn)
    assert first == [m.name for m in load_migrations(default_sql_dir())]
    assert second == []


def test_concurrent_runners_apply_each_file_once(empty_db: str) -> None:
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(empty_db) as conn:
                applied.append(migrate(conn))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    names = [n for run_names in applied for n in run_names]
    assert sorted(names) == sorted(m.name for m in load_migrations(default_sql_dir()))
    with psycopg.connect(empty_db) as conn:
        count = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert count == (len(names),)


def test_edited_applied_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    for m in load_migrations(default_sql_dir()):
        (tmp_path / m.name).write_text(m.sql)
    with psycopg.connect(empty_db) as conn:
        migrate(conn, tmp_path)
        first = sorted(tmp_path.glob("*.sql"))[-1]
        first.write_text(first.read_text() + "\n-- edited\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn, tmp_path)


def test_an_edited_migration_is_a_terminal_fault_of_the_command(
    step_env: dict[str, str], tmp_path: Path
) -> None:
    """Not a retry (exit 1): every retry would meet the same edited file."""
    for m in load_migrations(default_sql_dir()):
        (tmp_path / m.name).write_text(m.sql)
    last = sorted(tmp_path.glob("*.sql"))[-1]
    last.write_text(last.read_text() + "\n-- edited\n")
    code, out, err = run_cli(step_env, "db", "migrate", "--sql-dir", str(tmp_path))
    assert code == exitcodes.TERMINAL, err
    assert "changed after it was applied" in err
    assert json.loads(out.splitlines()[-1])["error"]["error"] == "MigrationError"


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "add_table.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNN_lower_snake"):
        load_migrations(tmp_path)


def _login(pg_server: PostgresServer, conninfo: str, role: str) -> str:
    user = f"u_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f"CREATE ROLE {user} LOGIN PASSWORD 'pw-{user}' IN ROLE {role}")
    return conninfo.replace(f"user={pg_server.user}", f"user={user}").replace(
        f"password={pg_server.password}", f"password=pw-{user}"
    )


def test_reader_role_only_selects(pg_server: PostgresServer, empty_db: str) -> None:
    with psycopg.connect(empty_db) as conn:
        migrate(conn)
    reader = _login(pg_server, empty_db, "mdp_reader")
    with psycopg.connect(reader) as c:
        assert c.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (0,)
        assert c.execute("SELECT count(*) FROM audit.file_ingestion_log").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM warehouse.sales")
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE TABLE public.x (a int)")


def test_loader_role_writes_but_cannot_change_schema(
    pg_server: PostgresServer, empty_db: str
) -> None:
    with psycopg.connect(empty_db) as conn:
        migrate(conn)
    loader = _login(pg_server, empty_db, "mdp_loader")
    with psycopg.connect(loader) as c:
        c.execute(
            "INSERT INTO audit.file_ingestion_log (dataset, object_key, size_bytes, sha256,"
            " status, run_id) VALUES ('sales', 'incoming/sales/a.csv', 1, repeat('a', 64),"
            " 'received', 'r')"
        )
        c.execute("DELETE FROM warehouse.sales")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM audit.file_ingestion_log")
        c.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DROP TABLE warehouse.sales")
