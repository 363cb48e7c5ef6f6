"""Columns beyond the contract under ``extra_columns: ignore``, in every format, through the real
validate step: dropped, and named in the audit row and the validation report."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from mdp.validate.step import Outcome, validate_object
from tests.support.contracts import use_contracts
from tests.support.samples import SALES_HEADER, sales_rows, to_csv, to_jsonl
from tests.support.workbooks import workbook

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, tzinfo=UTC)
EXTRA = [dict(r, shop="north", internal_note="x") for r in sales_rows(40)]


def _parquet(rows: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _xlsx(rows: list[dict[str, Any]]) -> bytes:
    header = list(rows[0])
    return workbook({"S": [header, *[[r[h] for h in header] for r in rows]]})


FILES: dict[str, Callable[[list[dict[str, Any]]], bytes]] = {
    "csv": to_csv,
    "tsv": lambda rows: to_csv(rows, delimiter="\t"),
    "jsonl": to_jsonl,
    "parquet": _parquet,
    "xlsx": _xlsx,
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_ignored_columns_are_dropped_and_recorded(
    store: ObjectStore,
    audit: AuditLog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    use_contracts(monkeypatch, tmp_path, extra_columns="ignore")
    key = f"incoming/sales/extra.{fmt}"
    store.put_bytes(key, FILES[fmt](EXTRA), "application/octet-stream")

    result = validate_object(key, "r1", store, audit, now=NOW)

    assert result.outcome is Outcome.ACCEPTED, result.detail
    record = audit.get(result.record_id)
    assert record.ignored_columns == ["shop", "internal_note"]
    assert (record.rows_valid, record.rows_rejected) == (40, 0)
    assert result.detail["ignored_columns"] == ["shop", "internal_note"]
    staged = pq.read_table(io.BytesIO(b"".join(store.stream(result.detail["staging"]))))
    assert staged.column_names == SALES_HEADER


def test_a_rejected_file_keeps_its_ignored_columns_in_the_report(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, extra_columns="ignore")
    rows = [dict(r, quantity=0, shop="north") for r in sales_rows(40)]
    store.put_bytes("incoming/sales/bad.csv", to_csv(rows), "text/csv")
    result = validate_object("incoming/sales/bad.csv", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    record = audit.get(result.record_id)
    assert record.ignored_columns == ["shop"]
    failed = layout.failed_key(
        layout.FailedStage.VALIDATION, layout.IncomingKey.parse(record.object_key)
    )
    report = store.get_json(layout.error_report_key(failed))
    assert report is not None
    assert (report["rule"], report["ignored_columns"]) == ("reject_ratio", ["shop"])


def test_json_records_may_each_bring_other_extra_fields(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, extra_columns="ignore")
    rows = sales_rows(40)
    rows[10]["late_field"] = 1
    store.put_bytes("incoming/sales/a.jsonl", to_jsonl(rows), "application/x-ndjson")
    result = validate_object("incoming/sales/a.jsonl", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert audit.get(result.record_id).ignored_columns == ["late_field"]
    assert result.detail["violations"] == []


def test_extra_columns_are_rejected_by_default(store: ObjectStore, audit: AuditLog) -> None:
    store.put_bytes("incoming/sales/extra.csv", to_csv(EXTRA), "text/csv")
    result = validate_object("incoming/sales/extra.csv", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    record = audit.get(result.record_id)
    assert record.error["rule"] == "unexpected_columns"
    assert record.ignored_columns is None


def test_a_file_without_extra_columns_records_none(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, extra_columns="ignore")
    store.put_bytes("incoming/sales/a.csv", to_csv(sales_rows(40)), "text/csv")
    result = validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.ACCEPTED
    assert audit.get(result.record_id).ignored_columns is None
    assert "ignored_columns" not in result.detail
