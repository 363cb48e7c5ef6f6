"""`mdp db migrate` and the contract tables on real PostgreSQL: created from a contract, evolved
safely, unsafe changes refused with nothing applied, built-in tables without a diff."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from mdp import exitcodes
from mdp.contracts import Contract
from mdp.contracts.evolution import ColumnShape, TableShape
from mdp.contracts.registry import builtin_dir, load_directory
from mdp.db.migrate import UnsafeContractChange, contract_plans, migrate_contracts, table_shape
from tests.support.servers import Database

COLUMNS: list[dict[str, Any]] = [
    {"name": "order_id", "type": "string"},
    {"name": "updated_at", "type": "timestamp"},
    {
        "name": "amount",
        "type": "float64",
        "minimum": 0,
        "maximum": 1e6,
        "sql_type": "numeric(12,2)",
    },
    {
        "name": "note",
        "type": "string",
        "nullable": True,
        "max_length": 20,
        "sql_type": "character varying(20)",
    },
]


def orders(tmp_path: Path, columns: list[dict[str, Any]] = COLUMNS, **top: Any) -> Contract:
    doc = {
        "dataset": "orders",
        "version": 1,
        "table": "warehouse.orders",
        "key": ["order_id"],
        "newer": ["updated_at"],
        "columns": columns,
        **top,
    }
    directory = tmp_path / f"v{doc['version']}-{len(list(tmp_path.iterdir()))}"
    directory.mkdir()
    (directory / "orders.yaml").write_text(yaml.safe_dump(doc))
    reg = load_directory(directory)
    assert reg.problems == []
    return reg.get("orders")


def with_column(name: str, change: dict[str, Any]) -> list[dict[str, Any]]:
    return [({**c, **change} if c["name"] == name else c) for c in COLUMNS]


@pytest.mark.integration
def test_builtin_tables_show_no_diff(conn: psycopg.Connection) -> None:
    contracts = load_directory(builtin_dir()).active.values()
    plans = contract_plans(conn, contracts)
    assert [(p.dataset, p.statements, p.refusals) for p in plans] == [
        ("sales", [], []),
        ("youtube", [], []),
    ]


@pytest.mark.integration
def test_new_dataset_gets_its_table_key_and_grants(
    conn: psycopg.Connection, tmp_path: Path
) -> None:
    contract = orders(tmp_path)
    statements = migrate_contracts(conn, [contract])
    assert statements[0].startswith("CREATE TABLE warehouse.orders (")
    shape = table_shape(conn, "warehouse.orders")
    assert shape == TableShape(
        "warehouse.orders",
        (
            ColumnShape("order_id", "text", False),
            ColumnShape("updated_at", "timestamp with time zone", False),
            ColumnShape("amount", "numeric(12,2)", False),
            ColumnShape("note", "character varying(20)", True),
        ),
        ("order_id",),
    )
    privileges = conn.execute(
        "SELECT has_table_privilege('mdp_loader', 'warehouse.orders', 'INSERT, UPDATE, SELECT'),"
        " has_table_privilege('mdp_reader', 'warehouse.orders', 'SELECT'),"
        " has_table_privilege('mdp_reader', 'warehouse.orders', 'INSERT')"
    ).fetchone()
    assert privileges == (True, True, False)
    bookkeeping = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = 'warehouse.orders'::regclass AND attname IN"
        " ('source_file_id', 'loaded_at') ORDER BY attnum"
    ).fetchall()
    assert bookkeeping == [
        ("source_file_id", "bigint", True),
        ("loaded_at", "timestamp with time zone", True),
    ]
    assert migrate_contracts(conn, [contract]) == []


@pytest.mark.integration
def test_safe_evolutions_are_applied(conn: psycopg.Connection, tmp_path: Path) -> None:
    migrate_contracts(conn, [orders(tmp_path)])
    conn.execute(
        "INSERT INTO warehouse.orders (order_id, updated_at, amount, note, source_file_id)"
        " VALUES ('A1', now(), 1.5, 'hello', 1)"
    )
    columns = [
        *with_column("note", {"sql_type": "character varying(200)"}),
        {"name": "channel", "type": "string", "nullable": True},
    ]
    columns = [
        ({**c, "sql_type": "numeric(16,2)"} if c["name"] == "amount" else c) for c in columns
    ]
    v2 = orders(tmp_path, columns, version=2)
    statements = migrate_contracts(conn, [v2])
    assert statements == [
        "ALTER TABLE warehouse.orders ALTER COLUMN amount TYPE numeric(16,2)",
        "ALTER TABLE warehouse.orders ALTER COLUMN note TYPE character varying(200)",
        "ALTER TABLE warehouse.orders ADD COLUMN channel text",
    ]
    shape = table_shape(conn, "warehouse.orders")
    assert shape is not None
    assert shape.column("channel") == ColumnShape("channel", "text", True)
    assert conn.execute("SELECT order_id, note FROM warehouse.orders").fetchall() == [
        ("A1", "hello")
    ]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("columns", "top", "message"),
    [
        (
            with_column("amount", {"type": "int64", "sql_type": None}),
            {},
            "dataset orders, column amount: type change from numeric(12,2) to bigint",
        ),
        (
            [c for c in COLUMNS if c["name"] != "note"],
            {},
            "dataset orders, column note: dropped",
        ),
        (
            [*COLUMNS, {"name": "channel", "type": "string"}],
            {},
            "dataset orders, column channel: new NOT NULL column without a default",
        ),
        (COLUMNS, {"key": ["order_id", "amount"]}, "dataset orders: key changed"),
    ],
    ids=["type change", "dropped column", "new required column", "key change"],
)
def test_unsafe_changes_are_refused_and_nothing_is_applied(
    conn: psycopg.Connection,
    tmp_path: Path,
    columns: list[dict[str, Any]],
    top: dict[str, Any],
    message: str,
) -> None:
    migrate_contracts(conn, [orders(tmp_path)])
    before = table_shape(conn, "warehouse.orders")
    columns = [{k: v for k, v in c.items() if v is not None} for c in columns]
    unsafe = orders(tmp_path, columns, version=2, **top)
    # A second, safe contract in the same run: refused along with the unsafe one.
    (tmp_path / "refunds").mkdir()
    (tmp_path / "refunds" / "refunds.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset": "refunds",
                "version": 1,
                "table": "warehouse.refunds",
                "key": ["refund_id"],
                "columns": [{"name": "refund_id", "type": "string"}],
            }
        )
    )
    refunds = load_directory(tmp_path / "refunds").get("refunds")
    with pytest.raises(UnsafeContractChange, match=re.escape(message)):
        migrate_contracts(conn, [unsafe, refunds])
    assert table_shape(conn, "warehouse.orders") == before
    assert table_shape(conn, "warehouse.refunds") is None


@pytest.mark.integration
def test_concurrent_runs_create_the_table_once(database: Database, tmp_path: Path) -> None:
    contract = orders(tmp_path)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with database.connect() as c:
                results.append(migrate_contracts(c, [contract]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r) for r in results) == [0, 0, 3]


@pytest.mark.integration
def test_dry_run_prints_the_ddl_and_changes_nothing(
    database: Database, conn: psycopg.Connection, tmp_path: Path
) -> None:
    contracts_dir = tmp_path / "contracts"
    contracts_dir.mkdir()
    for f in builtin_dir().glob("*.yaml"):
        (contracts_dir / f.name).write_bytes(f.read_bytes())
    (contracts_dir / "orders.yaml").write_text(
        yaml.safe_dump(
            {
                "dataset": "orders",
                "version": 1,
                "table": "warehouse.orders",
                "key": ["order_id"],
                "columns": COLUMNS,
            }
        )
    )
    env = {
        **os.environ,
        "PG__HOST": "127.0.0.1",
        "PG__PORT": str(database.server.port),
        "PG__DATABASE": database.name,
        "PG__USER": database.server.user,
        "PG__PASSWORD": database.server.password,
        "CONTRACTS__DIR": str(contracts_dir),
    }

    def mdp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mdp.cli", "db", "migrate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    dry = mdp("--dry-run")
    assert dry.returncode == exitcodes.OK, dry.stderr
    assert "CREATE TABLE warehouse.orders (" in dry.stdout
    assert "GRANT SELECT ON warehouse.orders TO mdp_reader;" in dry.stdout
    assert '"dry_run": true' in dry.stdout.splitlines()[-1]
    assert table_shape(conn, "warehouse.orders") is None

    real = mdp()
    assert real.returncode == exitcodes.OK, real.stderr
    assert table_shape(conn, "warehouse.orders") is not None
    again = mdp("--dry-run")
    assert "-- nothing to do" in again.stdout


@pytest.mark.integration
def test_dry_run_on_an_empty_database_lists_the_pending_files_and_creates_nothing(
    database: Database,
) -> None:
    name = f"e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database.server.conninfo(), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    env = {
        **os.environ,
        "PG__HOST": "127.0.0.1",
        "PG__PORT": str(database.server.port),
        "PG__DATABASE": name,
        "PG__USER": database.server.user,
        "PG__PASSWORD": database.server.password,
    }
    done = subprocess.run(
        [sys.executable, "-m", "mdp.cli", "db", "migrate", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == exitcodes.OK, done.stderr
    assert "-- 001_roles_and_schemas.sql (pending numbered migration)" in done.stdout
    # The built-in tables come from 003/004, applied first inside the same rolled-back run:
    # the contracts then need nothing.
    assert "CREATE TABLE" not in done.stdout
    with psycopg.connect(database.server.conninfo(name)) as c:
        tables = c.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog',"
            " 'information_schema')"
        ).fetchone()
    assert tables == (0,)
