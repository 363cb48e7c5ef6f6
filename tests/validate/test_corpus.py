"""Every corpus case through the real validate step: MinIO in, MinIO + PostgreSQL out."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from mdp.validate.step import Outcome, validate_object
from tests.validate.corpus import CASES, Case, Quarantined

NOW = datetime(2026, 3, 2, tzinfo=UTC)

pytestmark = pytest.mark.integration


def _read_parquet(store: ObjectStore, key: str) -> list[dict[str, object]]:
    data = b"".join(store.stream(key))
    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_corpus_has_at_least_25_distinct_bad_inputs() -> None:
    ids = [c.id for c in CASES]
    assert len(set(ids)) == len(ids)
    bad = [c for c in CASES if isinstance(c.expected, Quarantined) or c.expected.rejects]
    assert len(bad) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, store: ObjectStore, audit: AuditLog) -> None:
    data = case.content()
    store.put_bytes(case.key, data, "application/octet-stream")

    result = validate_object(case.key, "run-1", store, audit, now=NOW)

    record = audit.get(result.record_id)
    incoming = layout.IncomingKey.parse(case.key)
    expected = case.expected
    if isinstance(expected, Quarantined):
        failed = layout.failed_key(layout.FailedStage.VALIDATION, incoming)
        assert result.outcome is Outcome.REJECTED
        report = store.get_json(layout.error_report_key(failed))
        assert report is not None, "the report sits next to the quarantined file"
        assert (report["rule"], report["column"]) == (expected.rule, expected.column), report
        assert report["stage"] == "validation_failed"
        assert report["key"] == case.key
        assert report["message"]
        assert not store.exists(case.key)
        assert b"".join(store.stream(failed)) == data, "the raw file is moved byte for byte"
        assert list(store.list("staging/")) == []
        assert record.status == "validation_failed"
        assert record.final_key == failed
        assert record.error["rule"] == expected.rule
    else:
        assert result.outcome is Outcome.ACCEPTED, result.detail
        assert record.status == "validated"
        n_rejected = len({r for rows in expected.rejects.values() for r in rows})
        assert (record.rows_valid, record.rows_rejected) == (expected.valid, n_rejected)
        assert store.exists(case.key), "accepted files wait in incoming/ for transform and load"
        fid = layout.file_id(record.sha256)
        staged = _read_parquet(store, layout.staging_data_key(incoming.dataset, fid))
        assert len(staged) == expected.valid
        found = {(v["rule"], v["column"]): v["rows"] for v in result.detail["violations"]}
        assert found == expected.rejects
        rejects_key = layout.staging_rejects_key(incoming.dataset, fid)
        if expected.rejects:
            rejects = _read_parquet(store, rejects_key)
            assert sorted(r["_row_number"] for r in rejects) == sorted(
                {r for rows in expected.rejects.values() for r in rows}
            )
        else:
            assert not store.exists(rejects_key)


def test_sql_looking_string_is_stored_verbatim(store: ObjectStore, audit: AuditLog) -> None:
    case = next(c for c in CASES if c.id == "sql_looking_string")
    store.put_bytes(case.key, case.content(), "text/csv")
    result = validate_object(case.key, "run-1", store, audit, now=NOW)
    staged = _read_parquet(store, result.detail["staging"])
    assert staged[-1]["customer_name"] == "Robert'); DROP TABLE sales;--"


def test_quoted_newline_and_bom_survive(store: ObjectStore, audit: AuditLog) -> None:
    case = next(c for c in CASES if c.id == "bom_crlf_quoted_newline")
    store.put_bytes(case.key, case.content(), "text/csv")
    result = validate_object(case.key, "run-1", store, audit, now=NOW)
    staged = _read_parquet(store, result.detail["staging"])
    assert staged[0]["sale_id"] == "S000001", "the BOM is not part of the first column name"
    assert staged[-1]["customer_name"] == 'Ada "The Countess"\nLovelace'
