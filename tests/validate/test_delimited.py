"""The CSV dialect a contract declares (delimiter, quote, escape, encoding, header), and TSV,
through the real validate step on MinIO and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mdp.audit import AuditLog
from mdp.contracts import CsvDialect
from mdp.storage import ObjectStore
from mdp.validate.step import Outcome, StepResult, validate_object
from tests.support.contracts import use_contracts
from tests.support.samples import SALES_HEADER, sales_rows, to_csv
from tests.validate.outputs import error_report, staged_rows

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, tzinfo=UTC)
NAME = "Zoë Ñúñez – “café”"
"""Characters Latin-1 has (ë, Ñ, ú) and characters only cp1252 has (– “ ”)."""


def _validate(store: ObjectStore, audit: AuditLog, key: str, data: bytes) -> StepResult:
    store.put_bytes(key, data, "text/csv")
    return validate_object(key, "r1", store, audit, now=NOW)


def _lines(rows: list[dict[str, Any]], sep: str, cell: Any = str) -> str:
    return "\n".join(
        [sep.join(SALES_HEADER)] + [sep.join(cell(k, r[k]) for k in SALES_HEADER) for r in rows]
    )


def test_tsv_means_tab(store: ObjectStore, audit: AuditLog) -> None:
    result = _validate(store, audit, "incoming/sales/a.tsv", to_csv(sales_rows(40), delimiter="\t"))
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert audit.get(result.record_id).format == "tsv"
    assert len(staged_rows(store, result)) == 40


def test_a_comma_file_named_tsv_gets_the_hint_naming_the_tab(
    store: ObjectStore, audit: AuditLog
) -> None:
    result = _validate(store, audit, "incoming/sales/a.tsv", to_csv(sales_rows(40)))
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/a.tsv")
    assert report["rule"] == "missing_columns"
    assert "delimited by something other than '\\t'?" in report["message"], report["message"]


def test_the_contracts_delimiter(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, csv={"delimiter": ";"})
    good = _validate(store, audit, "incoming/sales/a.csv", to_csv(sales_rows(40), delimiter=";"))
    assert good.outcome is Outcome.ACCEPTED, good.detail
    # The contract's delimiter wins over .tsv too: it is the producer's setting.
    tsv = _validate(store, audit, "incoming/sales/b.tsv", to_csv(sales_rows(41), delimiter=";"))
    assert tsv.outcome is Outcome.ACCEPTED, tsv.detail
    bad = _validate(store, audit, "incoming/sales/c.csv", to_csv(sales_rows(42)))
    assert bad.outcome is Outcome.REJECTED
    message = error_report(store, "incoming/sales/c.csv")["message"]
    assert "delimited by something other than ';'?" in message, message


def test_the_contracts_quote(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, csv={"quote": "'"})
    rows = sales_rows(40, customer_name="O'Brien, Ann")
    text = _lines(rows, ",", lambda k, v: "'O''Brien, Ann'" if k == "customer_name" else str(v))
    result = _validate(store, audit, "incoming/sales/a.csv", text.encode())
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert staged_rows(store, result)[0]["customer_name"] == "O'Brien, Ann"


def test_the_contracts_escape(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, csv={"escape": "\\"})
    rows = sales_rows(40)
    text = _lines(
        rows, ",", lambda k, v: '"Ada \\"The Countess\\""' if k == "customer_name" else str(v)
    )
    result = _validate(store, audit, "incoming/sales/a.csv", text.encode())
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert staged_rows(store, result)[0]["customer_name"] == 'Ada "The Countess"'


def test_a_file_without_a_header(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, csv={"header": False})
    body = to_csv(sales_rows(40)).split(b"\n", 1)[1]
    result = _validate(store, audit, "incoming/sales/a.csv", body)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    staged = staged_rows(store, result)
    assert (len(staged), staged[0]["sale_id"]) == (40, "S000001")


def test_a_row_of_the_wrong_width_without_a_header_is_malformed(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_contracts(monkeypatch, tmp_path, csv={"header": False})
    body = to_csv(sales_rows(40)).split(b"\n", 1)[1] + b"S9,2026-03-01T10:00:00Z\n"
    result = _validate(store, audit, "incoming/sales/a.csv", body)
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, "incoming/sales/a.csv")["rule"] == "malformed_csv"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8-sig", "utf-8"])
def test_each_encoding_is_transcoded(
    store: ObjectStore,
    audit: AuditLog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoding: str,
) -> None:
    name = NAME if encoding != "latin-1" else "Zoë Ñúñez"
    use_contracts(monkeypatch, tmp_path, csv={"encoding": encoding})
    data = to_csv(sales_rows(40, customer_name=name)).decode().encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    result = _validate(store, audit, "incoming/sales/a.csv", data)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    staged = staged_rows(store, result)
    assert staged[0]["sale_id"] == "S000001"
    assert {r["customer_name"] for r in staged} == {name}


def test_bytes_the_encoding_does_not_have_are_an_encoding_reject(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0x81 is undefined in cp1252: a file that claims cp1252 and is not."""
    use_contracts(monkeypatch, tmp_path, csv={"encoding": "cp1252"})
    data = to_csv(sales_rows(40)).replace(b"Ada Lovelace", b"Ada \x81 Lovelace")
    result = _validate(store, audit, "incoming/sales/a.csv", data)
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/a.csv")
    assert (report["rule"], report["details"]) == ("encoding", {"encoding": "cp1252"})


def test_the_default_dialect_is_todays() -> None:
    dialect = CsvDialect()
    assert (dialect.delimiter_for("csv"), dialect.delimiter_for("tsv")) == (",", "\t")
    assert (dialect.quote, dialect.escape, dialect.encoding, dialect.header) == (
        '"',
        None,
        "utf-8",
        True,
    )
    assert CsvDialect(delimiter="|").delimiter_for("tsv") == "|"
