"""Object keys of every stage come from one module."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mdp import layout


def test_incoming_key_round_trip() -> None:
    key = layout.IncomingKey.parse("incoming/sales/2026/a.CSV")
    assert (key.dataset, key.name, key.suffix, key.key) == (
        "sales",
        "2026/a.CSV",
        "csv",
        "incoming/sales/2026/a.CSV",
    )


@pytest.mark.parametrize("bad", ["sales/a.csv", "incoming/sales", "incoming/../x/a.csv", ""])
def test_bad_incoming_keys(bad: str) -> None:
    with pytest.raises(ValueError, match="not an incoming object key"):
        layout.IncomingKey.parse(bad)


def test_stage_keys() -> None:
    key = layout.IncomingKey.parse("incoming/youtube/v.json")
    assert layout.archive_key(key, datetime(2026, 1, 2, tzinfo=UTC)) == (
        "archive/youtube/2026/01/02/v.json"
    )
    failed = layout.failed_key(layout.FailedStage.VALIDATION, key)
    assert failed == "failed/validation_failed/youtube/v.json"
    assert layout.error_report_key(failed) == failed + ".error.json"
    assert (
        layout.staging_data_key("youtube", "f" * 32) == f"staging/youtube/{'f' * 32}/data.parquet"
    )
