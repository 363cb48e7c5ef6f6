"""``youtube_metrics``: per-video 30-second metrics and per-channel totals from video snapshots.

The youtube contract's main table keeps every snapshot (``video_snapshots``, keyed by video and
snapshot time). This extension adds:

- ``video_metrics``: each snapshot floored to its 30-second bucket; per video and bucket the
  largest views, likes and dislikes seen (merged with ``GREATEST`` across files) and the channel
  and description of the bucket's latest snapshot;
- ``channel_stats``: per channel, its latest name and subscribers, its number of videos and the
  summed and largest counters of each video's latest snapshot. It is not merged but recomputed
  by the load for the channels a file touched (the transform writes them to
  :data:`CHANNELS_FILE`), from every committed snapshot, so the totals are right whatever order
  the files arrive in.

Both tables are created by ``sql/004_youtube.sql``. The columns read are the built-in youtube
contract's; a contract version may add columns (they reach ``video_snapshots``), not rename these.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from psycopg import sql

from mdp.contracts import ColumnType, Contract
from mdp.extensions._hooks import Extension
from mdp.warehouse.tables import TableColumn, TableSpec

log = logging.getLogger(__name__)

METRICS_BUCKET_SECONDS = 30
CHANNELS_FILE = "channels.parquet"
"""The channel ids a file touched, whose channel_stats the load recomputes."""

_TS = ColumnType.TIMESTAMP.arrow()

VIDEO_METRICS = TableSpec(
    name="warehouse.video_metrics",
    file_name="video_metrics.parquet",
    columns=(
        TableColumn("video_id", pa.string(), "text"),
        TableColumn("bucket_start", _TS, "timestamp with time zone"),
        TableColumn("last_snapshot_at", _TS, "timestamp with time zone"),
        TableColumn("channel_id", pa.string(), "text"),
        TableColumn("channel_name", pa.string(), "text"),
        TableColumn("description", pa.string(), "text", nullable=True),
        TableColumn("max_views", pa.int64(), "bigint"),
        TableColumn("max_likes", pa.int64(), "bigint"),
        TableColumn("max_dislikes", pa.int64(), "bigint"),
    ),
    key=("video_id", "bucket_start"),
    newer=("last_snapshot_at",),
    greatest=("max_views", "max_likes", "max_dislikes"),
    has_source_file=False,
)


def video_metrics(snapshots: pa.Table) -> pa.Table:
    """Each snapshot as a ``video_metrics`` row of its 30-second bucket (one per snapshot; the
    transform keeps the latest per bucket, with the largest counters)."""
    bucket = pc.floor_temporal(
        snapshots.column("date_updated"), multiple=METRICS_BUCKET_SECONDS, unit="second"
    )
    return pa.table(
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


RECOMPUTE_CHANNEL_STATS = sql.SQL("""
INSERT INTO warehouse.channel_stats AS t (
    channel_id, channel_name, channel_subscribers, video_count,
    total_views, total_likes, total_dislikes, max_views, max_likes, max_dislikes, updated_at)
SELECT v.channel_id, c.channel_name, c.channel_subscribers, count(*),
       sum(v.total_views), sum(v.total_likes), sum(v.total_dislikes),
       max(v.total_views), max(v.total_likes), max(v.total_dislikes), now()
FROM (
    -- each video's latest snapshot
    SELECT DISTINCT ON (video_id) video_id, channel_id, total_views, total_likes, total_dislikes
    FROM {snapshots}
    WHERE channel_id = ANY(%(channels)s)
    ORDER BY video_id, date_updated DESC
) v
JOIN (
    -- the channel's name and subscribers as of its latest snapshot
    SELECT DISTINCT ON (channel_id) channel_id, channel_name, channel_subscribers
    FROM {snapshots}
    WHERE channel_id = ANY(%(channels)s)
    ORDER BY channel_id, date_updated DESC, channel_subscribers DESC,
             channel_name COLLATE "C" DESC
) c USING (channel_id)
GROUP BY v.channel_id, c.channel_name, c.channel_subscribers
ON CONFLICT (channel_id) DO UPDATE SET
    channel_name = excluded.channel_name,
    channel_subscribers = excluded.channel_subscribers,
    video_count = excluded.video_count,
    total_views = excluded.total_views,
    total_likes = excluded.total_likes,
    total_dislikes = excluded.total_dislikes,
    max_views = excluded.max_views,
    max_likes = excluded.max_likes,
    max_dislikes = excluded.max_dislikes,
    updated_at = now()
""")
"""channel_stats of the given channels from ``{snapshots}`` (the contract's main table)."""


class _Channels:
    """The channel ids of every row of a file."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def add(self, rows: pa.Table) -> None:
        self.seen.update(pc.unique(rows.column("channel_id")).to_pylist())

    def write(self, out: Path) -> dict[str, tuple[Path, int]]:
        path = out / CHANNELS_FILE
        pq.write_table(pa.table({"channel_id": pa.array(sorted(self.seen), pa.string())}), path)
        return {"channels": (path, len(self.seen))}


class YoutubeMetrics(Extension):
    name = "youtube_metrics"

    def tables(self, contract: Contract) -> tuple[TableSpec, ...]:
        return (VIDEO_METRICS,)

    def derive(self, contract: Contract, newest: pa.Table) -> dict[str, pa.Table]:
        return {VIDEO_METRICS.name: video_metrics(newest)}

    def collector(self, contract: Contract) -> _Channels:
        return _Channels()

    def after_merge(
        self, conn: psycopg.Connection, contract: Contract, files: Mapping[str, Path]
    ) -> None:
        if CHANNELS_FILE not in files:
            return
        channels = pq.read_table(files[CHANNELS_FILE]).column("channel_id").to_pylist()
        snapshots = sql.Identifier(*contract.warehouse_table.split("."))
        conn.execute(RECOMPUTE_CHANNEL_STATS.format(snapshots=snapshots), {"channels": channels})
        log.info("channel_stats recomputed for %d channel(s)", len(channels))


EXTENSION = YoutubeMetrics()
