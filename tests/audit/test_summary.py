"""`summarise_run` on a hand-made audit log: every status lands in its group, rows add up."""

from __future__ import annotations

import pytest

from mdp.audit import AuditLog
from mdp.audit.summary import summarise_run
from mdp.layout import FailedStage

pytestmark = pytest.mark.integration


def _row(audit: AuditLog, name: str, run_id: str, sha: str) -> int:
    return audit.record_received(
        dataset="sales", key=f"incoming/sales/{name}", size=1, sha256=sha * 64, run_id=run_id
    ).id


def test_summary_groups_statuses_and_adds_rows(audit: AuditLog) -> None:
    loaded = _row(audit, "a.csv", "r1", "a")
    audit.mark_validated(loaded, fmt="csv", rows_in=12, rows_valid=10, rows_rejected=2)
    audit.mark_transformed(loaded)
    audit.mark_loaded(loaded, inserted=7, updated=3)
    _row(audit, "copy.csv", "r1", "a")  # same bytes, other name: duplicate
    rejected = _row(audit, "b.csv", "r1", "b")
    audit.mark_validation_failed(
        rejected,
        fmt="csv",
        rows_in=1,
        rows_valid=0,
        rows_rejected=1,
        error={"rule": "reject_ratio"},
        final_key="failed/validation_failed/sales/b.csv",
    )
    failed = _row(audit, "c.csv", "r1", "c")
    audit.mark_stage_failed(
        failed,
        FailedStage.LOADING,
        error={"rule": "fault", "message": "permission denied"},
        final_key="failed/loading_failed/sales/c.csv",
    )
    _row(audit, "d.csv", "r1", "d")  # still in flight
    _row(audit, "other.csv", "r2", "e")  # another run

    s = summarise_run(audit.conn, "r1")

    assert s.files == {"accepted": 1, "duplicate": 1, "rejected": 1, "failed": 1, "unfinished": 1}
    assert (s.rows_loaded, s.rows_inserted, s.rows_updated) == (10, 7, 3)
    assert [(p["key"], p["reason"]) for p in s.problems] == [
        ("incoming/sales/b.csv", "reject_ratio"),
        ("incoming/sales/c.csv", "fault: permission denied"),
        ("incoming/sales/d.csv", ""),
    ]
    text = s.render()
    assert "accepted 1, duplicate 1, rejected 1, failed 1, unfinished 1" in text
    assert "rows loaded 10 (inserted 7, updated 3)" in text


def test_unknown_run_is_all_zero(audit: AuditLog) -> None:
    s = summarise_run(audit.conn, "nobody")
    assert sum(s.files.values()) == 0
    assert s.as_dict()["rows_loaded"] == 0


def test_expected_files_without_an_audit_row_are_counted_as_failed(audit: AuditLog) -> None:
    loaded = _row(audit, "a.csv", "r1", "a")
    audit.mark_validated(loaded, fmt="csv", rows_in=1, rows_valid=1, rows_rejected=0)
    _row(audit, "old.csv", "r0", "b")  # known to the audit log, but from an earlier run

    s = summarise_run(
        audit.conn,
        "r1",
        ["incoming/sales/a.csv", "incoming/sales/gone.csv", "incoming/sales/old.csv"],
    )

    assert s.files == {"accepted": 0, "duplicate": 0, "rejected": 0, "failed": 2, "unfinished": 1}
    problems = {p["key"]: p for p in s.problems}
    assert problems["incoming/sales/gone.csv"]["status"] == "not_recorded"
    assert (
        "failed before its first step recorded it" in problems["incoming/sales/gone.csv"]["reason"]
    )
    assert "'received' of run r0" in problems["incoming/sales/old.csv"]["reason"]
    assert s.render().startswith("run r1: 3 file(s)")
