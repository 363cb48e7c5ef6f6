"""The warehouse as tests compare it (row counts and checksums), and files pushed through the
real steps in one process."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from mdp.audit import AuditLog
from mdp.run import Pipeline
from mdp.storage import ObjectStore

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)

DUMPS = {
    "warehouse.sales": (
        "sale_id",
        "sale_id, sale_timestamp, customer_id, customer_name, "
        "product_id, product_name, category, quantity, unit_price, total_amount, "
        "currency, payment_method, region",
    ),
    "warehouse.video_snapshots": (
        "video_id, date_updated",
        "video_id, channel_id, channel_name,"
        " channel_subscribers, description, total_views, total_likes,"
        " total_dislikes, date_created, date_updated",
    ),
    "warehouse.video_metrics": (
        "video_id, bucket_start",
        "video_id, bucket_start,"
        " last_snapshot_at, channel_id, channel_name, description,"
        " max_views, max_likes, max_dislikes",
    ),
    "warehouse.channel_stats": (
        "channel_id",
        "channel_id, channel_name, channel_subscribers,"
        " video_count, total_views, total_likes, total_dislikes,"
        " max_views, max_likes, max_dislikes",
    ),
}


def dump(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row in key order) per table, bookkeeping columns left out
    (loaded_at, updated_at, source_file_id depend on when and from which file)."""
    out = {}
    for table, (key, cols) in DUMPS.items():
        row = conn.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {key}), ''))"
            f" FROM (SELECT {cols} FROM {table}) t"
        ).fetchone()
        assert row is not None
        out[table] = (row[0], row[1])
    conn.commit()
    return out


def put_and_run(store: ObjectStore, audit: AuditLog, key: str, data: bytes) -> dict[str, object]:
    store.put_bytes(key, data, "application/octet-stream")
    return Pipeline(store, audit).run(key, "test-run")
