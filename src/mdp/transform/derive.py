"""Per-dataset derivations: which warehouse tables a bucket of validated rows becomes."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mdp.transform.dedupe import keep_max
from mdp.warehouse.tables import (
    METRICS_BUCKET_SECONDS,
    SALES_TABLE,
    VIDEO_METRICS,
    VIDEO_SNAPSHOTS,
)


def sales_tables(rows: pa.Table) -> dict[str, pa.Table]:
    """sales: one row per sale_id, the newest version (ties broken by the full row)."""
    return {SALES_TABLE.name: keep_max(rows, SALES_TABLE)}


def video_metrics(snapshots: pa.Table) -> pa.Table:
    """Each snapshot floored to its 30-second bucket; per video and bucket the largest counters
    and the channel and description of the latest snapshot."""
    bucket = pc.floor_temporal(
        snapshots.column("date_updated"), multiple=METRICS_BUCKET_SECONDS, unit="second"
    )
    table = pa.table(
        {
            "video_id": snapshots.column("video_id"),
            "bucket_start": bucket,
            "last_snapshot_at": snapshots.column("date_updated"),
            "channel_id": snapshots.column("channel_id"),
            "channel_name": snapshots.column("channel_name"),
            "description": snapshots.column("description"),
            "max_views": snapshots.column("total_views"),
            "max_likes": snapshots.column("total_likes"),
            "max_dislikes": snapshots.column("total_dislikes"),
        }
    )
    return keep_max(table, VIDEO_METRICS)


def youtube_tables(rows: pa.Table) -> dict[str, pa.Table]:
    snapshots = keep_max(rows, VIDEO_SNAPSHOTS)
    return {
        VIDEO_SNAPSHOTS.name: snapshots,
        VIDEO_METRICS.name: video_metrics(snapshots),
    }


DERIVE = {"sales": sales_tables, "youtube": youtube_tables}
PARTITION_KEY = {"sales": "sale_id", "youtube": "video_id"}
"""Hash-partition column: every row that can collide in any derived table shares it."""
