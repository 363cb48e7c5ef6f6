"""A third dataset declared only in a contract file, end to end on the real servers.

What a data engineer does: copy the built-in contracts and a new file into a contracts directory,
``mdp contracts check`` it, ``mdp db migrate`` creates the table, files uploaded to
``incoming/orders/`` run validate -> transform -> load as ``mdp`` processes (exactly what the
step pods run): bad rows are rejected with reasons, duplicates deduplicated newest-wins, rows land
in the warehouse, the audit row names the contract version, the raw file is archived. Then a
version 2 adds a nullable column (migrate adds it, a file with the column loads), and a type
change is refused by both ``mdp contracts check`` and ``mdp db migrate``. No Python was written
for ``orders``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mdp import exitcodes
from mdp.contracts.registry import builtin_dir
from mdp.storage import ObjectStore
from tests.support.cli_process import run_cli

pytestmark = pytest.mark.integration

ORDERS_V1 = """\
# Web shop orders: the latest state of each order wins.
dataset: orders
version: 1
description: Orders of the web shop, one row per order state change.
table: warehouse.orders
key: [order_id]
newer: [updated_at]
max_reject_ratio: 0.5
columns:
  - {name: order_id, type: string, pattern: 'O[0-9]{1,9}'}
  - {name: customer_email, type: string, max_length: 100, pattern: '[^@ ]+@[^@ ]+'}
  - {name: status, type: string, allowed: [placed, paid, shipped, cancelled]}
  - {name: items, type: int64, minimum: 1, maximum: 1000}
  - {name: amount, type: float64, minimum: 0, maximum: 1000000, sql_type: 'numeric(12,2)'}
  - {name: created_at, type: timestamp, earliest: '2020-01-01T00:00:00Z'}
  - {name: updated_at, type: timestamp, future_tolerance_seconds: 3600}
rules:
  - name: updated_before_created
    description: an order cannot change before it was placed
    check: updated_at >= created_at
  - name: price_per_item
    check: amount / items <= 10000
"""

ORDERS_V2 = ORDERS_V1.replace("version: 1", "version: 2").replace(
    "  - {name: updated_at, type: timestamp, future_tolerance_seconds: 3600}\n",
    "  - {name: updated_at, type: timestamp, future_tolerance_seconds: 3600}\n"
    "  - {name: coupon, type: string, nullable: true, max_length: 20, max_null_ratio: 1}\n",
)

ORDERS_V3_TYPE_CHANGE = ORDERS_V2.replace("version: 2", "version: 3").replace(
    "{name: amount, type: float64, minimum: 0, maximum: 1000000, sql_type: 'numeric(12,2)'}",
    "{name: amount, type: int64, minimum: 0, maximum: 1000000}",
)

HEADER = "order_id,customer_email,status,items,amount,created_at,updated_at"
BATCH_1 = "\n".join(
    [
        HEADER,
        "O1,ann@example.com,placed,2,19.98,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z",
        "O2,bob@example.com,placed,1,5.00,2026-01-05T10:05:00Z,2026-01-05T10:05:00Z",
        # The same order again, later: the newer state must win, whatever the row order.
        "O1,ann@example.com,paid,2,19.98,2026-01-05T10:00:00Z,2026-01-05T11:00:00Z",
        "O3,cat@example.com,lost,1,1.00,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z",
        "O4,dan@example.com,placed,1,1.00,2026-01-05T10:00:00Z,2026-01-04T10:00:00Z",
        "O5,eve@example.com,placed,0,1.00,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z",
        "",
    ]
)
BATCH_2 = "\n".join(
    [
        f"{HEADER},coupon",
        "O1,ann@example.com,shipped,2,19.98,2026-01-05T10:00:00Z,2026-01-06T09:00:00Z,WELCOME10",
        "O6,fay@example.com,placed,3,30.00,2026-01-06T08:00:00Z,2026-01-06T08:00:00Z,",
        "",
    ]
)


def mdp(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return run_cli(env, *args, timeout=180)


def last_json(stdout: str) -> dict[str, Any]:
    line = [x for x in stdout.splitlines() if x.strip()][-1]
    result: dict[str, Any] = json.loads(line)
    return result


def run_file(env: dict[str, str], key: str, run_id: str) -> dict[str, dict[str, Any]]:
    """validate, transform, load: three processes, as the DAG runs them."""
    results = {}
    for step in ("validate", "transform", "load"):
        code, out, err = mdp(env, step, key, "--run-id", run_id)
        assert code == exitcodes.OK, f"{step}: {err}"
        assert "Traceback" not in err
        results[step] = last_json(out)
    return results


def audit_row(conn: psycopg.Connection, key: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT status, contract_name, contract_version, rows_in, rows_valid, rows_rejected,"
        " rows_inserted, rows_updated, final_key, id FROM audit.file_ingestion_log"
        " WHERE object_key = %s",
        (key,),
    ).fetchall()
    assert len(row) == 1, row
    return tuple(row[0])


def test_a_dataset_declared_only_in_a_file(
    step_env: dict[str, str], store: ObjectStore, conn: psycopg.Connection, tmp_path: Path
) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, contracts / builtin.name)
    (contracts / "orders.yaml").write_text(ORDERS_V1)
    env = {**step_env, "CONTRACTS__DIR": str(contracts)}

    # 1. The directory checks clean; migrate creates the table.
    code, out, err = mdp(env, "contracts", "check", str(contracts))
    assert code == exitcodes.OK, out + err
    assert f"OK {contracts / 'orders.yaml'}: orders v1 (active)" in out.splitlines()
    code, out, err = mdp(env, "db", "migrate")
    assert code == exitcodes.OK, err
    assert last_json(out)["contract_ddl"][0].startswith("CREATE TABLE warehouse.orders (")

    # 2. A file with good rows, a newer duplicate and three bad rows.
    key = "incoming/orders/batch-1.csv"
    store.put_bytes(key, BATCH_1.encode(), "text/csv")
    results = run_file(env, key, "orders-run-1")
    validated = results["validate"]
    assert validated["outcome"] == "accepted"
    assert validated["rows"] == {"in": 6, "valid": 3, "rejected": 3}
    reasons = {(v["rule"], v["column"]): v["rows"] for v in validated["violations"]}
    assert reasons == {
        ("allowed_values", "status"): [4],
        ("updated_before_created", None): [5],
        ("minimum", "items"): [6],
        ("price_per_item", None): [6],  # amount / 0 items is infinite: a row may break two rules
    }
    assert results["load"]["inserted"] == 2

    rows = conn.execute(
        "SELECT order_id, status, amount::text, source_file_id FROM warehouse.orders"
        " ORDER BY order_id"
    ).fetchall()
    status, name, version, rows_in, valid, rejected, inserted, updated, final_key, audit_id = (
        audit_row(conn, key)
    )
    assert rows == [("O1", "paid", "19.98", audit_id), ("O2", "placed", "5.00", audit_id)]
    assert (status, name, version) == ("loaded", "orders", 1)
    assert (rows_in, valid, rejected, inserted, updated) == (6, 3, 3, 2, 0)
    assert final_key.startswith("archive/orders/")
    assert store.exists(final_key)
    assert not store.exists(key)

    # 3. Version 2 adds a nullable column: check OK, migrate adds it, a file with it loads.
    (contracts / "orders-v2.yaml").write_text(ORDERS_V2)
    code, out, err = mdp(env, "contracts", "check", str(contracts))
    assert code == exitcodes.OK, out + err
    assert f"OK {contracts / 'orders-v2.yaml'}: orders v2 (active)" in out.splitlines()
    code, out, err = mdp(env, "db", "migrate", "--dry-run")
    assert code == exitcodes.OK, err
    assert "ALTER TABLE warehouse.orders ADD COLUMN coupon text;" in out
    code, out, err = mdp(env, "db", "migrate")
    assert code == exitcodes.OK, err
    assert last_json(out)["contract_ddl"] == ["ALTER TABLE warehouse.orders ADD COLUMN coupon text"]

    key2 = "incoming/orders/batch-2.csv"
    store.put_bytes(key2, BATCH_2.encode(), "text/csv")
    results = run_file(env, key2, "orders-run-2")
    assert (results["load"]["inserted"], results["load"]["updated"]) == (1, 1)
    rows = conn.execute(
        "SELECT order_id, status, coupon FROM warehouse.orders ORDER BY order_id"
    ).fetchall()
    assert rows == [("O1", "shipped", "WELCOME10"), ("O2", "placed", None), ("O6", "placed", None)]
    assert audit_row(conn, key2)[:3] == ("loaded", "orders", 2)
    code, out, err = mdp(env, "summary", "--run-id", "orders-run-2")
    assert code == exitcodes.OK, err
    assert last_json(out)["contracts"] == {"orders v2": 1}

    # 4. A type change is unsafe: check reports it; migrate refuses it and changes nothing.
    (contracts / "orders-v3.yaml").write_text(ORDERS_V3_TYPE_CHANGE)
    code, out, _ = mdp(env, "contracts", "check", str(contracts))
    assert code == exitcodes.USAGE
    assert (
        f"{contracts / 'orders-v3.yaml'}: (document): unsafe change from version 2 "
        "(orders-v2.yaml): dataset orders, column amount: type change from numeric(12,2) to "
        "bigint is not a widening"
    ) in out
    code, out, err = mdp(env, "db", "migrate")
    assert code == exitcodes.TERMINAL
    assert "type change from numeric(12,2) to bigint" in err
    # Even with the older versions gone, migrate compares with the live table and refuses.
    (contracts / "orders.yaml").unlink()
    (contracts / "orders-v2.yaml").unlink()
    code, out, err = mdp(env, "db", "migrate")
    assert code == exitcodes.TERMINAL
    assert (
        "refused, nothing applied: dataset orders, column amount: type change from "
        "numeric(12,2) to bigint"
    ) in err
    assert "Traceback" not in err
    amount_type = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = 'warehouse.orders'::regclass AND attname = 'amount'"
    ).fetchone()
    assert amount_type == ("numeric(12,2)",)
