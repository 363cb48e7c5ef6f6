"""`mdp requeue` on real MinIO and PostgreSQL: back to incoming/, recorded, idempotent, and the
file then goes through the pipeline again."""

from __future__ import annotations

import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.errors import ObjectMissingError, TerminalError
from mdp.reprocess import requeue_object
from mdp.run import Pipeline
from mdp.steps import Outcome
from mdp.storage import ObjectStore
from tests.support.samples import sales_row, to_csv

pytestmark = pytest.mark.integration

KEY = "incoming/sales/day1.csv"
FAILED = "failed/validation_failed/sales/day1.csv"


def _rejected(store: ObjectStore, audit: AuditLog) -> None:
    store.put_bytes(KEY, to_csv([sales_row(1, quantity="many")]), "text/csv")
    assert Pipeline(store, audit).run(KEY, "run-1")["outcome"] == "rejected"
    assert store.exists(FAILED)
    assert store.exists(layout.error_report_key(FAILED))


def test_fixed_file_goes_back_and_through(store: ObjectStore, audit: AuditLog, conn) -> None:
    _rejected(store, audit)
    store.put_bytes(FAILED, to_csv([sales_row(1)]), "text/csv")  # someone fixed it in place

    result = requeue_object(FAILED, "re-1", store, audit)

    assert result.outcome is Outcome.ACCEPTED
    assert result.key == KEY
    assert store.exists(KEY)
    assert not store.exists(FAILED)
    assert not store.exists(layout.error_report_key(FAILED))
    rows = conn.execute(
        "SELECT failed_key, incoming_key, previous_status, previous_error->>'rule', run_id"
        " FROM audit.file_reprocessing"
    ).fetchall()
    assert rows == [(FAILED, KEY, "validation_failed", "reject_ratio", "re-1")]
    assert Pipeline(store, audit).run(KEY, "re-1")["outcome"] == "loaded"
    assert conn.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (1,)


def test_retried_request_is_one_row_and_changes_nothing(
    store: ObjectStore, audit: AuditLog, conn
) -> None:
    _rejected(store, audit)
    requeue_object(FAILED, "re-1", store, audit)
    again = requeue_object(FAILED, "re-1", store, audit)
    assert again.outcome is Outcome.SKIPPED
    assert conn.execute("SELECT count(*) FROM audit.file_reprocessing").fetchone() == (1,)


def test_same_content_revives_the_audit_row(store: ObjectStore, audit: AuditLog, conn) -> None:
    _rejected(store, audit)
    requeue_object(FAILED, "re-1", store, audit)
    assert Pipeline(store, audit).run(KEY, "re-1")["outcome"] == "rejected"
    rows = conn.execute("SELECT status, attempts FROM audit.file_ingestion_log").fetchall()
    assert rows == [("validation_failed", 2)]


@pytest.mark.parametrize(
    "key",
    [
        "incoming/sales/x.csv",
        "failed/nonsense_failed/sales/x.csv",
        "failed/validation_failed/sales/x.csv.error.json",
        "failed/validation_failed/x.csv",
    ],
)
def test_not_a_quarantined_key_is_terminal(store: ObjectStore, audit: AuditLog, key: str) -> None:
    with pytest.raises(TerminalError, match="not a quarantined file key"):
        requeue_object(key, "re-1", store, audit)


def test_missing_file_is_reported(store: ObjectStore, audit: AuditLog) -> None:
    with pytest.raises(ObjectMissingError, match="no quarantined file"):
        requeue_object(FAILED, "re-1", store, audit)


def test_refuses_to_overwrite_a_waiting_upload(store: ObjectStore, audit: AuditLog) -> None:
    _rejected(store, audit)
    store.put_bytes(KEY, to_csv([sales_row(2)]), "text/csv")
    with pytest.raises(TerminalError, match="exists"):
        requeue_object(FAILED, "re-1", store, audit)
    assert store.exists(FAILED)
