"""The generator on real MinIO, and every generated file through the real validate step."""

from __future__ import annotations

import hashlib
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.contracts.registry import builtin_dir
from mdp.errors import ConfigError
from mdp.generate.breakage import BadKind
from mdp.generate.step import generate
from mdp.storage import ObjectStore
from mdp.validate.step import Outcome, validate_object

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _digests(store: ObjectStore, keys: list[str]) -> list[str]:
    return [hashlib.sha256(b"".join(store.stream(k))).hexdigest() for k in keys]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_same_seed_same_files(store: ObjectStore, fmt: str) -> None:
    a = generate(store, "sales", files=2, rows=300, fmt=fmt, bad_fraction=0.5, seed=7, now=NOW)
    first = _digests(store, [f.key for f in a])
    store.delete_prefix("incoming/")
    b = generate(store, "sales", files=2, rows=300, fmt=fmt, bad_fraction=0.5, seed=7, now=NOW)
    assert [f.key for f in a] == [f.key for f in b]
    assert first == _digests(store, [f.key for f in b])


@pytest.mark.parametrize(
    ("dataset", "fmt"),
    [
        ("sales", "csv"),
        ("sales", "json"),
        ("sales", "parquet"),
        ("youtube", "csv"),
        ("youtube", "json"),
        ("youtube", "parquet"),
    ],
)
def test_every_good_file_is_staged_and_every_bad_one_quarantined(
    store: ObjectStore, audit: AuditLog, dataset: str, fmt: str
) -> None:
    manifest = generate(
        store, dataset, files=12, rows=200, fmt=fmt, bad_fraction=0.5, seed=11, now=NOW
    )
    kinds = {f.kind for f in manifest}
    assert kinds - {"good"} == {k.value for k in BadKind}, "each breakage kind appears"
    for item in manifest:
        result = validate_object(item.key, "gen-run", store, audit, now=NOW)
        record = audit.get(result.record_id)
        name = layout.IncomingKey.parse(item.key)
        if item.kind == "good":
            assert result.outcome is Outcome.ACCEPTED, (item, result.detail)
            assert record.status == "validated"
            assert record.rows_in == item.rows
            assert store.exists(layout.staging_data_key(dataset, layout.file_id(record.sha256)))
        else:
            failed = layout.failed_key(layout.FailedStage.VALIDATION, name)
            assert result.outcome is Outcome.REJECTED, item
            assert record.status == "validation_failed"
            report = store.get_json(layout.error_report_key(failed))
            assert report["rule"] == item.expected_rule, (item, report)


def test_youtube_counters_only_grow_across_runs(store: ObjectStore) -> None:
    def snapshot(keys: list[str]) -> dict[str, tuple[int, int, int, datetime]]:
        latest: dict[str, tuple[int, int, int, datetime]] = {}
        for key in keys:
            table = pq.read_table(io.BytesIO(b"".join(store.stream(key))))
            for r in table.to_pylist():
                latest[r["video_id"]] = (
                    r["total_views"],
                    r["total_likes"],
                    r["channel_subscribers"],
                    r["date_updated"],
                )
        return latest

    run1 = generate(store, "youtube", files=2, rows=400, fmt="parquet", seed=3, now=NOW)
    state = store.get_json(layout.generator_state_key("youtube"))
    assert state is not None and state["runs"] == 1
    later = NOW.replace(hour=13)
    run2 = generate(store, "youtube", files=2, rows=400, fmt="parquet", seed=3, now=later)
    before = snapshot([f.key for f in run1])
    after = snapshot([f.key for f in run2])
    common = before.keys() & after.keys()
    assert common
    for vid in common:
        views0, likes0, subs0, t0 = before[vid]
        views1, likes1, subs1, t1 = after[vid]
        assert views1 >= views0 and likes1 >= likes0 and subs1 >= subs0
        assert t1 >= t0
    assert store.get_json(layout.generator_state_key("youtube"))["runs"] == 2


def _evolved(directory: Path, dataset: str, column: str) -> None:
    """The built-in contracts plus a version 2 of ``dataset`` with one more ``column``."""
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, directory / builtin.name)
    head, rules = (builtin_dir() / f"{dataset}.yaml").read_text(encoding="utf-8").split("rules:\n")
    v2 = head.replace("version: 1", "version: 2") + column + "rules:\n" + rules
    (directory / f"{dataset}_v2.yaml").write_text(v2, encoding="utf-8")


@pytest.mark.parametrize(("dataset", "fmt"), [("sales", "parquet"), ("youtube", "csv")])
def test_the_generator_writes_the_active_contract_and_its_files_validate(
    store: ObjectStore,
    audit: AuditLog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dataset: str,
    fmt: str,
) -> None:
    """A newer version's nullable column is written empty (CONTRACTS__DIR, not the built-in)."""
    _evolved(
        tmp_path, dataset, "  - {name: note, type: string, nullable: true, max_null_ratio: 1}\n"
    )
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    (item,) = generate(store, dataset, files=1, rows=50, fmt=fmt, seed=5, now=NOW)
    result = validate_object(item.key, "gen-run", store, audit, now=NOW)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    record = audit.get(result.record_id)
    assert (record.contract_version, record.rows_valid) == (2, 50)
    staged = layout.staging_data_key(dataset, layout.file_id(record.sha256))
    table = pq.read_table(io.BytesIO(b"".join(store.stream(staged))))
    assert table.column_names[-1] == "note"
    assert table.column("note").null_count == 50


def test_a_required_column_the_generator_cannot_fill_is_a_config_error(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a stream of files every one of which validation would reject."""
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, tmp_path / builtin.name)
    sales = (tmp_path / "sales.yaml").read_text(encoding="utf-8")
    (tmp_path / "sales.yaml").write_text(
        sales.replace("rules:\n", "  - {name: shop, type: string}\nrules:\n"), encoding="utf-8"
    )
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="cannot fill the required column 'shop'"):
        generate(store, "sales", files=1, rows=10, fmt="csv", seed=1, now=NOW)
    assert list(store.list("incoming/")) == []


ORDERS = """\
dataset: orders
version: 1
table: warehouse.orders
key: [order_id]
newer: [updated_at]
max_reject_ratio: 0.05
columns:
  - {name: order_id, type: string, pattern: 'O[0-9]{1,9}'}
  - {name: customer_email, type: string, max_length: 100, pattern: '[^@ ]+@[^@ ]+'}
  - {name: status, type: string, allowed: [placed, paid, shipped, cancelled]}
  - {name: items, type: int64, minimum: 1, maximum: 1000}
  - {name: amount, type: float64, minimum: 0, maximum: 1000000, sql_type: 'numeric(12,2)'}
  - {name: note, type: string, nullable: true, max_length: 20, max_null_ratio: 0.5}
  - {name: created_at, type: timestamp, earliest: '2020-01-01T00:00:00Z'}
  - {name: updated_at, type: timestamp, future_tolerance_seconds: 3600}
rules:
  - name: updated_before_created
    check: updated_at >= created_at
"""


def _with_orders(directory: Path, extra: str = "") -> Path:
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, directory / builtin.name)
    (directory / "orders.yaml").write_text(ORDERS + extra, encoding="utf-8")
    return directory


@pytest.mark.parametrize("fmt", ["csv.gz", "tsv", "xlsx"])
@pytest.mark.parametrize("dataset", ["sales", "youtube"])
def test_the_new_formats_are_generated_and_validated(
    store: ObjectStore, audit: AuditLog, dataset: str, fmt: str
) -> None:
    manifest = generate(
        store, dataset, files=12, rows=150, fmt=fmt, bad_fraction=0.5, seed=11, now=NOW
    )
    assert {f.kind for f in manifest} - {"good"} == {k.value for k in BadKind}
    for item in manifest:
        assert item.key.endswith(f".{fmt}")
        result = validate_object(item.key, "gen-run", store, audit, now=NOW)
        record = audit.get(result.record_id)
        if item.kind == "good":
            assert result.outcome is Outcome.ACCEPTED, (item, result.detail)
            assert record.rows_in == item.rows
            assert record.format == {"csv.gz": "csv+gzip"}.get(fmt, fmt)
        else:
            assert result.outcome is Outcome.REJECTED, item
            assert record.error["rule"] == item.expected_rule, (item, record.error)


@pytest.mark.parametrize("fmt", ["csv", "csv.gz", "tsv", "json", "parquet", "xlsx"])
def test_any_contract_is_generated_from_its_columns(
    store: ObjectStore,
    audit: AuditLog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """A dataset declared only in a file: its rows pass every column rule and the cross-field
    rule, and the bad files are caught by the rules the manifest names."""
    monkeypatch.setenv("CONTRACTS__DIR", str(_with_orders(tmp_path)))
    manifest = generate(
        store, "orders", files=8, rows=300, fmt=fmt, bad_fraction=0.75, seed=3, now=NOW
    )
    kinds = {f.kind for f in manifest}
    assert "good" in kinds
    assert BadKind.INCONSISTENT.value not in kinds, "no known cross-field breakage for orders"
    for item in manifest:
        result = validate_object(item.key, "gen-run", store, audit, now=NOW)
        record = audit.get(result.record_id)
        if item.kind == "good":
            assert result.outcome is Outcome.ACCEPTED, (item, result.detail)
            assert (record.rows_in, record.rows_rejected) == (300, 0), result.detail
        else:
            assert result.outcome is Outcome.REJECTED, item
            assert record.error["rule"] == item.expected_rule, (item, record.error)


def test_generated_files_follow_the_contracts_dialect_and_sheet(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = "csv: {delimiter: ';', encoding: cp1252, header: false}\nxlsx: {sheet: Orders}\n"
    monkeypatch.setenv("CONTRACTS__DIR", str(_with_orders(tmp_path, extra)))
    keys = {}
    for fmt in ("csv", "xlsx"):
        (item,) = generate(store, "orders", files=1, rows=100, fmt=fmt, seed=4, now=NOW)
        result = validate_object(item.key, "gen-run", store, audit, now=NOW)
        assert result.outcome is Outcome.ACCEPTED, result.detail
        keys[fmt] = item.key
    data = b"".join(store.stream(keys["csv"]))
    assert b";" in data.splitlines()[0]
    assert not data.startswith(b"order_id"), "no header line"


def test_a_rule_random_rows_cannot_meet_is_a_config_error(
    store: ObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_orders(tmp_path)
    orders = (tmp_path / "orders.yaml").read_text(encoding="utf-8")
    orders += "  - name: exact_total\n    check: amount = items * 3.5\n"
    (tmp_path / "orders.yaml").write_text(orders, encoding="utf-8")
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="cannot produce rows of orders"):
        generate(store, "orders", files=1, rows=10, fmt="csv", seed=1, now=NOW)
    assert list(store.list("incoming/")) == []


def test_an_unknown_dataset_is_a_config_error(store: ObjectStore) -> None:
    with pytest.raises(ConfigError, match="no contract for dataset 'nope'"):
        generate(store, "nope", files=1, rows=10, fmt="csv", seed=1, now=NOW)
