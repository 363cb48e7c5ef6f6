"""Audit log on real PostgreSQL: retries, duplicates by content, exclusive claims."""

from __future__ import annotations

import pytest

from mdp.audit import AuditLog, Status
from mdp.errors import BusyError
from tests.support.servers import Database

pytestmark = pytest.mark.integration
SHA_A = "a" * 64
SHA_B = "b" * 64


def _receive(audit: AuditLog, key: str, sha: str, run: str = "r1") -> object:
    return audit.record_received(dataset="sales", key=key, size=10, sha256=sha, run_id=run)


def test_same_key_and_content_is_one_row_with_attempts(audit: AuditLog) -> None:
    first = _receive(audit, "incoming/sales/a.csv", SHA_A, "r1")
    again = _receive(audit, "incoming/sales/a.csv", SHA_A, "r2")
    assert again.id == first.id  # type: ignore[attr-defined]
    assert (again.attempts, again.run_id, again.status) == (2, "r2", "received")  # type: ignore[attr-defined]


def test_same_content_under_another_key_is_a_duplicate(audit: AuditLog) -> None:
    first = _receive(audit, "incoming/sales/a.csv", SHA_A)
    dup = _receive(audit, "incoming/sales/copy-of-a.csv", SHA_A)
    assert dup.status == Status.DUPLICATE  # type: ignore[attr-defined]
    assert dup.duplicate_of == first.id  # type: ignore[attr-defined]


def test_new_content_under_the_same_key_is_a_new_row(audit: AuditLog) -> None:
    first = _receive(audit, "incoming/sales/a.csv", SHA_A)
    second = _receive(audit, "incoming/sales/a.csv", SHA_B)
    assert second.id != first.id  # type: ignore[attr-defined]
    assert second.status == Status.RECEIVED  # type: ignore[attr-defined]


def test_failed_content_does_not_block_a_later_upload(audit: AuditLog) -> None:
    first = _receive(audit, "incoming/sales/a.csv", SHA_A)
    audit.mark_validation_failed(
        first.id,
        fmt="csv",
        rows_in=0,
        rows_valid=0,
        rows_rejected=0,  # type: ignore[attr-defined]
        error={"rule": "x"},
        final_key="failed/validation_failed/sales/a.csv",
    )
    other = _receive(audit, "incoming/sales/b.csv", SHA_A)
    assert other.status == Status.RECEIVED  # type: ignore[attr-defined]


def test_a_second_claim_on_the_same_key_is_refused(audit: AuditLog, database: Database) -> None:
    with database.connect() as other_conn:
        other = AuditLog(other_conn)
        with audit.claim("incoming/sales/a.csv"):
            with pytest.raises(BusyError), other.claim("incoming/sales/a.csv"):
                pass
            with other.claim("incoming/sales/b.csv"):
                pass
        with other.claim("incoming/sales/a.csv"):
            pass


def test_a_claim_dies_with_its_connection(database: Database) -> None:
    conn = database.connect()
    AuditLog(conn).claim("incoming/sales/a.csv").__enter__()
    conn.close()  # the process died
    with database.connect() as c2, AuditLog(c2).claim("incoming/sales/a.csv"):
        pass


def test_needs_an_autocommit_connection(database) -> None:
    with database.connect(autocommit=False) as c, pytest.raises(ValueError, match="autocommit"):
        AuditLog(c)


def test_same_bytes_again_after_the_file_finished_is_a_duplicate_row(audit: AuditLog) -> None:
    first = audit.record_received(
        dataset="sales", key="incoming/sales/a.csv", size=3, sha256="a" * 64, run_id="r1"
    )
    audit.mark_validated(first.id, fmt="csv", rows_in=1, rows_valid=1, rows_rejected=0)
    audit.mark_transformed(first.id)
    audit.mark_loaded(first.id, inserted=1, updated=0)
    audit.mark_archived(first.id, final_key="archive/sales/2026/01/01/a.csv")

    again = audit.record_received(
        dataset="sales", key="incoming/sales/a.csv", size=3, sha256="a" * 64, run_id="r2"
    )
    assert again.id != first.id
    assert (again.status, again.duplicate_of, again.run_id) == ("duplicate", first.id, "r2")
    # A retry of that arrival (not archived yet) reuses its row.
    retry = audit.record_received(
        dataset="sales", key="incoming/sales/a.csv", size=3, sha256="a" * 64, run_id="r2"
    )
    assert (retry.id, retry.attempts) == (again.id, 2)
    assert audit.get(first.id).status == "loaded"


def test_a_move_recorded_but_not_finished_is_the_same_arrival(audit: AuditLog) -> None:
    """final_key without finished_at: the archive move may not have happened; the same bytes seen
    again under the same key are that file, not a new arrival (issue 14)."""
    first = _receive(audit, "incoming/sales/a.csv", SHA_A)
    dup = _receive(audit, "incoming/sales/b.csv", SHA_A)
    audit.mark_duplicate(dup.id, final_key="archive/sales/2026/01/01/b.csv")  # type: ignore[attr-defined]
    again = _receive(audit, "incoming/sales/b.csv", SHA_A)
    assert (again.id, again.attempts, again.pending_move) == (dup.id, 2, True)  # type: ignore[attr-defined]
    audit.mark_finished(dup.id)  # type: ignore[attr-defined]
    assert not audit.get(dup.id).pending_move  # type: ignore[attr-defined]
    assert _receive(audit, "incoming/sales/b.csv", SHA_A).id != dup.id  # type: ignore[attr-defined]
    assert audit.get(first.id).status == Status.RECEIVED  # type: ignore[attr-defined]
