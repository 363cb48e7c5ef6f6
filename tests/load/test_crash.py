"""SIGKILL the load process in the middle of its COPY: nothing partial, and a rerun completes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import psycopg
import pytest

from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from mdp.transform.step import transform_object
from mdp.validate.step import validate_object
from tests.support.samples import sales_rows, to_csv
from tests.support.servers import Database

pytestmark = pytest.mark.integration


def _copy_in_progress(database: Database) -> bool:
    with database.connect(autocommit=True) as c:
        row = c.execute(
            "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy"
            " WHERE datname = current_database()"
        ).fetchone()
    return bool(row and row[0] > 0)


def test_killed_mid_copy_leaves_no_partial_rows(
    store: ObjectStore, audit: AuditLog, database: Database, step_env: dict[str, str]
) -> None:
    key = "incoming/sales/big.csv"
    store.put_bytes(key, to_csv(sales_rows(400_000)), "text/csv")
    validate_object(key, "r", store, audit)
    transform_object(key, "r", store, audit)
    audit.conn.commit()

    proc = subprocess.Popen(
        [sys.executable, "-m", "mdp.cli", "load", key, "--run-id", "killed"],
        env=step_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not _copy_in_progress(database):
        assert proc.poll() is None, "the load finished before it could be killed"
        assert time.monotonic() < deadline, "the COPY never started"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    with database.connect() as c:
        assert c.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (0,)
        status = c.execute(
            "SELECT status FROM audit.file_ingestion_log WHERE object_key = %s", (key,)
        ).fetchone()
        assert status == ("transformed",)
    assert store.exists(key)

    # The server notices the dead client and releases its claim; the rerun then completes.
    for _ in range(100):
        done = subprocess.run(
            [sys.executable, "-m", "mdp.cli", "load", key, "--run-id", "rerun"],
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 1 or "another run" not in done.stderr:
            break
        time.sleep(0.1)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(database.conninfo()) as c:
        assert c.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (400_000,)
    assert not store.exists(key)
