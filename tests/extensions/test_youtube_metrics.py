"""An evolved youtube contract (a version 2 with a new nullable column) through transform and
load on the real servers: the extension's tables follow the active contract, not the built-in."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from mdp.audit import AuditLog
from mdp.contracts.registry import builtin_dir, registry
from mdp.db.migrate import migrate_contracts
from mdp.run import Pipeline
from mdp.storage import ObjectStore
from tests.samples import to_jsonl, youtube_row

pytestmark = pytest.mark.integration

AT_30 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)  # youtube_row's snapshot time
LANGUAGE = "  - {name: language, type: string, nullable: true, max_length: 8, max_null_ratio: 1}\n"


def _youtube_v2(directory: Path) -> None:
    """The built-in contracts plus youtube version 2: the same columns and a nullable language."""
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, directory / builtin.name)
    v1 = (builtin_dir() / "youtube.yaml").read_text(encoding="utf-8")
    head, rules = v1.split("rules:\n")
    v2 = head.replace("version: 1", "version: 2") + LANGUAGE + "rules:\n" + rules
    (directory / "youtube_v2.yaml").write_text(v2, encoding="utf-8")


def test_an_evolved_youtube_contract_flows_through_transform_and_load(
    store: ObjectStore,
    audit: AuditLog,
    conn: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _youtube_v2(tmp_path)
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    assert registry().get("youtube").version == 2
    assert migrate_contracts(conn, registry().active.values()) == [
        "ALTER TABLE warehouse.video_snapshots ADD COLUMN language text"
    ]
    rows = [
        youtube_row(1, language="en"),
        youtube_row(2, language=None),
        youtube_row(1, language="en", total_views=5000, date_updated="2026-03-01T10:00:50Z"),
    ]
    key = "incoming/youtube/evolved.jsonl"
    store.put_bytes(key, to_jsonl(rows), "application/json")

    result = Pipeline(store, audit).run(key, "evolved")

    assert (result["outcome"], result["inserted"], result["updated"]) == ("loaded", 3, 0)
    snapshots = conn.execute(
        "SELECT video_id, date_updated, total_views, language"
        " FROM warehouse.video_snapshots ORDER BY video_id, date_updated"
    ).fetchall()
    assert snapshots == [
        ("vid00000001", AT_30, 1001, "en"),
        ("vid00000001", AT_30 + timedelta(seconds=20), 5000, "en"),
        ("vid00000002", AT_30, 1002, None),
    ]
    metrics = conn.execute(
        "SELECT video_id, bucket_start, max_views FROM warehouse.video_metrics"
        " ORDER BY video_id, bucket_start"
    ).fetchall()
    assert metrics == [
        ("vid00000001", AT_30, 5000),
        ("vid00000002", AT_30, 1002),
    ]
    channels = conn.execute(
        "SELECT channel_id, video_count, total_views FROM warehouse.channel_stats"
    ).fetchall()
    assert channels == [("UCchannel0001", 2, 5000 + 1002)]
    record = audit.latest_for_key(key)
    assert record is not None and record.contract_version == 2
