"""The youtube_metrics extension (mdp/extensions/youtube_metrics.py): its derivation, its tables
against their migration, and an evolved youtube contract (a version 2 with a new nullable column)
through transform and load on the real servers."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from mdp.audit import AuditLog
from mdp.contracts.registry import builtin_contract, builtin_dir, registry
from mdp.db.migrate import migrate_contracts, table_shape
from mdp.extensions import EXTENSIONS, extension_of, tables_for
from mdp.extensions.youtube_metrics import VIDEO_METRICS, video_metrics
from mdp.run import Pipeline
from mdp.storage import ObjectStore
from mdp.transform.dedupe import keep_max
from tests.support.samples import to_jsonl, youtube_row

AT_30 = datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC)  # youtube_row's snapshot time
LANGUAGE = "  - {name: language, type: string, nullable: true, max_length: 8, max_null_ratio: 1}\n"


def test_metrics_take_maxima_and_latest_description() -> None:
    snaps = pa.Table.from_pylist(
        [
            {
                "video_id": "v",
                "date_updated": datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC),
                "channel_id": "c",
                "channel_name": "n",
                "description": "old",
                "total_views": 10,
                "total_likes": 9,
                "total_dislikes": 1,
            },
            {
                "video_id": "v",
                "date_updated": datetime(2026, 3, 1, 10, 0, 25, tzinfo=UTC),
                "channel_id": "c",
                "channel_name": "n",
                "description": "new",
                "total_views": 8,
                "total_likes": 3,
                "total_dislikes": 2,
            },
            {
                "video_id": "v",
                "date_updated": datetime(2026, 3, 1, 10, 0, 31, tzinfo=UTC),
                "channel_id": "c",
                "channel_name": "n",
                "description": "next",
                "total_views": 12,
                "total_likes": 3,
                "total_dislikes": 2,
            },
        ]
    )
    out = keep_max(video_metrics(snaps), VIDEO_METRICS).to_pylist()
    assert [
        (
            r["bucket_start"].second,
            r["max_views"],
            r["max_likes"],
            r["max_dislikes"],
            r["description"],
        )
        for r in out
    ] == [(0, 10, 9, 2, "new"), (30, 12, 3, 2, "next")]
    assert VIDEO_METRICS.column_names == tuple(video_metrics(snaps).column_names)


def test_the_youtube_contract_gets_the_extensions_tables_after_its_own() -> None:
    youtube = builtin_contract("youtube")
    assert extension_of(youtube) is EXTENSIONS["youtube_metrics"]
    assert [t.name for t in tables_for(youtube)] == [
        "warehouse.video_snapshots",
        "warehouse.video_metrics",
    ]
    assert [t.name for t in tables_for(builtin_contract("sales"))] == ["warehouse.sales"]


@pytest.mark.integration
def test_video_metrics_is_the_table_its_migration_creates(conn: psycopg.Connection) -> None:
    """sql/004_youtube.sql creates the table; the spec the transform writes and the load merges
    must have its columns, types, nullability and key."""
    shape = table_shape(conn, VIDEO_METRICS.name)
    assert shape is not None
    columns = {c.name: (c.sql_type, c.nullable) for c in shape.columns}
    assert columns == {c.name: (c.pg_type, c.nullable) for c in VIDEO_METRICS.columns}
    assert shape.key == VIDEO_METRICS.key


def _youtube_v2(directory: Path) -> None:
    """The built-in contracts plus youtube version 2: the same columns and a nullable language."""
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, directory / builtin.name)
    v1 = (builtin_dir() / "youtube.yaml").read_text(encoding="utf-8")
    head, rules = v1.split("rules:\n")
    v2 = head.replace("version: 1", "version: 2") + LANGUAGE + "rules:\n" + rules
    (directory / "youtube_v2.yaml").write_text(v2, encoding="utf-8")


@pytest.mark.integration
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
