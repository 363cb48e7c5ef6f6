"""The validate step's routing and idempotency on real MinIO and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.errors import BusyError, ObjectMissingError
from mdp.storage import ObjectStore
from mdp.validate.step import Outcome, validate_object
from tests.support.crash import retry_busy
from tests.support.samples import sales_rows, to_csv
from tests.support.servers import Database

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, tzinfo=UTC)
GOOD = to_csv(sales_rows(20))
BAD = b""


def test_running_twice_leaves_the_same_state(store: ObjectStore, audit: AuditLog) -> None:
    store.put_bytes("incoming/sales/a.csv", GOOD, "text/csv")
    first = validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    objects = sorted(store.list(""))
    second = validate_object("incoming/sales/a.csv", "r2", store, audit, now=NOW)
    assert (first.outcome, second.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    assert first.record_id == second.record_id
    assert sorted(store.list("")) == objects
    assert audit.get(first.record_id).attempts == 2


def test_rerun_after_quarantine_reports_rejected_again(store: ObjectStore, audit: AuditLog) -> None:
    store.put_bytes("incoming/sales/bad.csv", BAD, "text/csv")
    first = validate_object("incoming/sales/bad.csv", "r1", store, audit, now=NOW)
    second = validate_object("incoming/sales/bad.csv", "r2", store, audit, now=NOW)
    assert first.outcome is Outcome.REJECTED
    assert second.outcome is Outcome.REJECTED
    assert second.record_id == first.record_id


def test_same_bytes_under_another_name_are_archived_as_duplicate(
    store: ObjectStore, audit: AuditLog
) -> None:
    store.put_bytes("incoming/sales/a.csv", GOOD, "text/csv")
    store.put_bytes("incoming/sales/a-again.csv", GOOD, "text/csv")
    first = validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    dup = validate_object("incoming/sales/a-again.csv", "r1", store, audit, now=NOW)
    assert dup.outcome is Outcome.DUPLICATE
    record = audit.get(dup.record_id)
    assert record.status == "duplicate"
    assert record.duplicate_of == first.record_id
    assert record.final_key == "archive/sales/2026/03/02/a-again.csv"
    assert store.exists(record.final_key)
    assert not store.exists("incoming/sales/a-again.csv")


def test_missing_object_without_record_is_terminal(store: ObjectStore, audit: AuditLog) -> None:
    with pytest.raises(ObjectMissingError):
        validate_object("incoming/sales/nothing.csv", "r1", store, audit, now=NOW)


def test_a_claimed_object_is_not_processed_twice(
    store: ObjectStore, audit: AuditLog, database: Database
) -> None:
    store.put_bytes("incoming/sales/a.csv", GOOD, "text/csv")
    with (
        database.connect() as other,
        AuditLog(other).claim("incoming/sales/a.csv"),
        pytest.raises(BusyError),
    ):
        validate_object("incoming/sales/a.csv", "r2", store, audit, now=NOW)
    assert list(store.list("staging/")) == []


def test_rejects_are_staged_beside_the_data(store: ObjectStore, audit: AuditLog) -> None:
    rows = sales_rows(30)
    rows[4]["quantity"] = 0
    store.put_bytes("incoming/sales/a.csv", to_csv(rows), "text/csv")
    result = validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    record = audit.get(result.record_id)
    fid = layout.file_id(record.sha256)
    assert result.detail["rejects"] == layout.staging_rejects_key("sales", fid)
    assert store.exists(layout.staging_rejects_key("sales", fid))
    assert (record.rows_in, record.rows_valid, record.rows_rejected) == (30, 29, 1)


def test_key_outside_incoming_is_refused(store: ObjectStore, audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="not an incoming object key"):
        validate_object("archive/sales/a.csv", "r1", store, audit, now=NOW)


@pytest.mark.parametrize("point", ["validate.duplicate.after_intent", "store.after_copy"])
def test_duplicate_killed_while_archived_keeps_one_audit_row(
    store: ObjectStore, audit: AuditLog, step_env: dict[str, str], point: str
) -> None:
    """The defect of issue 14: killed between 'this duplicate goes to archive/' and the end of the
    move, a rerun used to insert a second duplicate row for the same object version."""
    store.put_bytes("incoming/sales/a.csv", GOOD, "text/csv")
    validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    store.put_bytes("incoming/sales/a-again.csv", GOOD, "text/csv")

    killed = subprocess.run(
        [sys.executable, "-m", "mdp.cli", "validate", "incoming/sales/a-again.csv"],
        env={**step_env, "MDP__CRASH_AT": point},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    rerun = retry_busy(
        lambda: validate_object("incoming/sales/a-again.csv", "r2", store, audit, now=NOW)
    )

    assert rerun.outcome is Outcome.DUPLICATE
    rows = audit.conn.execute(
        "SELECT status, final_key, finished_at IS NOT NULL, attempts"
        " FROM audit.file_ingestion_log WHERE object_key = %s",
        ("incoming/sales/a-again.csv",),
    ).fetchall()
    assert len(rows) == 1, rows
    status, final_key, finished, attempts = rows[0]
    assert (status, finished, attempts) == ("duplicate", True, 2)
    assert store.exists(final_key)
    assert not store.exists("incoming/sales/a-again.csv")
