"""Excel workbooks through the real validate step: the first or the named sheet, typed cells,
formulas by their cached values, and the rejects of a missing sheet, a password, a broken or
fake workbook and a zip bomb."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from mdp.validate.excel import cell_text
from mdp.validate.step import Outcome, StepResult, validate_object
from tests.support.contracts import use_contracts
from tests.support.samples import SALES_HEADER, sales_rows, to_csv
from tests.support.workbooks import encrypted_workbook, with_cached_values, workbook
from tests.validate.outputs import error_report, staged_rows

NOW = datetime(2026, 3, 2, tzinfo=UTC)
TOTAL = SALES_HEADER.index("total_amount")


def sales_sheet(n: int = 40, *, formulas: bool = False) -> list[list[Any]]:
    """A header and ``n`` sale rows; timestamps as date cells, totals optionally formulas."""
    rows: list[list[Any]] = [SALES_HEADER]
    for i, r in enumerate(sales_rows(n), start=2):
        cells = [r[h] for h in SALES_HEADER]
        cells[1] = datetime(2026, 3, 1, 10, 0, 0)
        if formulas:
            cells[TOTAL] = f"=H{i}*I{i}"
        rows.append(cells)
    return [*rows, [None] * len(SALES_HEADER)]  # a blank row, as spreadsheets often end


def _validate(store: ObjectStore, audit: AuditLog, key: str, data: bytes) -> StepResult:
    store.put_bytes(key, data, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return validate_object(key, "r1", store, audit, now=NOW)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("x", "x"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (datetime(2026, 3, 1, 10, 0), "2026-03-01T10:00:00"),
    ],
)
def test_cells_become_the_text_a_csv_export_holds(value: Any, text: str | None) -> None:
    assert cell_text(value) == text


@pytest.mark.integration
def test_the_first_sheet_is_validated_with_typed_checks(
    store: ObjectStore, audit: AuditLog
) -> None:
    sheet = sales_sheet()
    sheet[4][SALES_HEADER.index("quantity")] = 0  # data row 4 breaks the minimum
    sheet[4][TOTAL] = 0
    data = workbook({"Sales": sheet, "Notes": [["not", "data"]]})
    result = _validate(store, audit, "incoming/sales/march.xlsx", data)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    record = audit.get(result.record_id)
    assert (record.format, record.rows_in, record.rows_valid, record.rows_rejected) == (
        "xlsx",
        40,
        39,
        1,
    )
    assert result.detail["violations"] == [
        {"rule": "minimum", "column": "quantity", "count": 1, "rows": [4]}
    ]
    staged = staged_rows(store, result)
    assert staged[0]["sale_timestamp"] == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert (staged[0]["quantity"], staged[0]["unit_price"]) == (3, 2.5)


@pytest.mark.integration
def test_the_sheet_the_contract_names(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, xlsx={"sheet": "Sales"})
    data = workbook({"Cover": [["March export"]], "Sales": sales_sheet()})
    result = _validate(store, audit, "incoming/sales/march.xlsx", data)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert len(staged_rows(store, result)) == 40


@pytest.mark.integration
def test_a_missing_sheet_is_rejected_naming_the_sheets(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, xlsx={"sheet": "Sales"})
    data = workbook({"Cover": [["March export"]], "Data": sales_sheet()})
    result = _validate(store, audit, "incoming/sales/march.xlsx", data)
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/march.xlsx")
    assert report["rule"] == "missing_sheet"
    assert report["details"] == {"sheet": "Sales", "sheets": ["Cover", "Data"]}


@pytest.mark.integration
def test_formulas_are_read_by_their_cached_values(store: ObjectStore, audit: AuditLog) -> None:
    data = with_cached_values(workbook({"Sales": sales_sheet(formulas=True)}), "7.5")
    result = _validate(store, audit, "incoming/sales/march.xlsx", data)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert {r["total_amount"] for r in staged_rows(store, result)} == {7.5}


@pytest.mark.integration
def test_a_formula_never_computed_is_a_missing_value(store: ObjectStore, audit: AuditLog) -> None:
    """No cached value (a workbook written by a library, never opened in Excel): the cell is
    empty, so the required column's not_null reports it, not the formula text."""
    result = _validate(
        store, audit, "incoming/sales/march.xlsx", workbook({"Sales": sales_sheet(formulas=True)})
    )
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/march.xlsx")
    assert report["rule"] == "reject_ratio"
    assert report["violations"][0]["rule"] == "not_null"


@pytest.mark.integration
def test_a_password_protected_workbook_is_rejected(store: ObjectStore, audit: AuditLog) -> None:
    result = _validate(store, audit, "incoming/sales/march.xlsx", encrypted_workbook())
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, "incoming/sales/march.xlsx")["rule"] == "encrypted_workbook"


@pytest.mark.integration
def test_a_legacy_ole_file_is_not_called_encrypted(store: ObjectStore, audit: AuditLog) -> None:
    data = encrypted_workbook().replace("EncryptedPackage".encode("utf-16-le"), bytes(32))
    result = _validate(store, audit, "incoming/sales/march.xls", data)
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/march.xls")
    assert report["rule"] == "unknown_format"
    assert "legacy .xls" in report["message"], report["message"]


def _plain_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("sales.csv", to_csv(sales_rows(3)))
    return buf.getvalue()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "content", "rule", "says"),
    [
        ("truncated.xlsx", lambda: workbook({"S": sales_sheet()})[:3000], "corrupt_xlsx", "zip"),
        ("zip.xlsx", _plain_zip, "corrupt_xlsx", "not an Excel workbook"),
        ("zip.csv", _plain_zip, "unknown_format", "not an Excel workbook"),
        ("csv.xlsx", lambda: to_csv(sales_rows(40)), "format_mismatch", "content is csv"),
        ("book.csv", lambda: workbook({"S": sales_sheet()}), "format_mismatch", "is xlsx"),
    ],
)
def test_what_is_not_a_workbook_is_rejected(
    store: ObjectStore, audit: AuditLog, name: str, content: Any, rule: str, says: str
) -> None:
    key = f"incoming/sales/{name}"
    result = _validate(store, audit, key, content())
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, key)
    assert report["rule"] == rule
    assert says in report["message"], report["message"]


@pytest.mark.integration
def test_a_workbook_expanding_past_the_limit_is_refused_unopened(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, max_uncompressed_bytes=20_000)
    result = _validate(store, audit, "incoming/sales/big.xlsx", workbook({"S": sales_sheet(200)}))
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/big.xlsx")
    assert (report["rule"], report["details"]) == ("uncompressed_too_large", {"limit": 20_000})
