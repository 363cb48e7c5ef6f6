"""The running totals of migration 009, kept by triggers as files finish: they count each arrival
at a final place once, only grow, and a migration on a log that already has rows counts those."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from mdp.audit import AuditLog
from mdp.db.migrate import default_sql_dir, migrate
from mdp.layout import FailedStage
from mdp.metrics.collect import read_audit
from tests.support.servers import Database

pytestmark = pytest.mark.integration


def _received(audit: AuditLog, name: str, sha: str) -> int:
    return audit.record_received(
        dataset="sales", key=f"incoming/sales/{name}", size=1, sha256=sha * 64, run_id="r"
    ).id


def _reject(audit: AuditLog, record_id: int, name: str, rule: str) -> None:
    audit.mark_validation_failed(
        record_id, fmt="csv", rows_in=4, rows_valid=0, rows_rejected=4,
        error={"rule": rule}, final_key=f"failed/validation_failed/sales/{name}",
    )  # fmt: skip
    audit.mark_finished(record_id)


def _load(audit: AuditLog, record_id: int) -> None:
    audit.mark_validated(record_id, fmt="csv", rows_in=10, rows_valid=9, rows_rejected=1)
    audit.mark_transformed(record_id)
    audit.mark_loaded(record_id, inserted=6, updated=3)
    audit.mark_archived(record_id, final_key="archive/sales/x")


def test_each_finish_counts_once_and_a_reprocessed_file_counts_again(audit: AuditLog) -> None:
    a = _received(audit, "a.csv", "a")
    assert read_audit(audit.conn).finished == {}  # received: in flight, not counted
    _reject(audit, a, "a.csv", "reject_ratio")
    audit.mark_finished(a)  # a repeated finish (a retried move) changes nothing
    # The file is fixed and sent through again: the same row comes back, then loads.
    assert (
        audit.record_received(
            dataset="sales", key="incoming/sales/a.csv", size=1, sha256="a" * 64, run_id="r2"
        ).id
        == a
    )
    _load(audit, a)
    b = _received(audit, "b.csv", "b")
    audit.mark_stage_failed(
        b, FailedStage.LOADING, error={"error": "OperationalError"},
        final_key="failed/loading_failed/sales/b.csv",
    )  # fmt: skip
    audit.mark_finished(b)

    facts = read_audit(audit.conn)
    assert {k: g.files for k, g in facts.finished.items()} == {
        ("sales", "validation_failed"): 1,  # the rejection stays counted: totals only grow
        ("sales", "loaded"): 1,
        ("sales", "loading_failed"): 1,
    }
    loaded = facts.finished[("sales", "loaded")]
    assert (loaded.rows_loaded, loaded.rows_rejected) == (9, 1)
    assert facts.finished[("sales", "validation_failed")].rows_rejected == 4
    assert facts.quarantined == {
        ("sales", "validation_failed", "reject_ratio"): 1,
        ("sales", "loading_failed", "OperationalError"): 1,
    }
    assert loaded.latency_buckets == [1] * len(facts.latency_bounds)  # took well under 5 s
    assert facts.in_progress == {}


def test_the_migration_counts_the_rows_finished_before_it(
    database: Database, tmp_path: Path
) -> None:
    """An existing install: its log has finished rows when 009 arrives."""
    name = f"{database.name}_pre"
    with psycopg.connect(database.server.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    before = tmp_path / "sql"
    before.mkdir()
    for path in sorted(default_sql_dir().glob("*.sql")):
        if path.name < "010":
            shutil.copy(path, before)
    try:
        with psycopg.connect(database.server.conninfo(name), autocommit=True) as conn:
            migrate(conn, before)
            audit = AuditLog(conn)
            for i in range(3):
                _load(audit, _received(audit, f"f{i}.csv", "abc"[i]))
            _reject(audit, _received(audit, "bad.csv", "d"), "bad.csv", "missing_columns")
            _received(audit, "waiting.csv", "e")
            assert migrate(conn) == ["010_metrics.sql"]
            facts = read_audit(conn)
            assert {k: g.files for k, g in facts.finished.items()} == {
                ("sales", "loaded"): 3,
                ("sales", "validation_failed"): 1,
            }
            assert facts.finished[("sales", "loaded")].rows_loaded == 27
            assert facts.quarantined == {("sales", "validation_failed", "missing_columns"): 1}
            assert facts.in_progress == {("sales", "received"): 1}
    finally:
        with psycopg.connect(database.server.conninfo(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
