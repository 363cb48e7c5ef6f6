"""Contract of the ``youtube`` dataset: snapshots of video statistics."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mdp.contracts.base import Column, ColumnType, Contract, RowRule

_EARLIEST = datetime(2005, 4, 23, tzinfo=UTC)  # the first YouTube upload
_COUNTER_MAX = 10**15


def _updated_after_created(cols: Mapping[str, Any]) -> Any:
    import pyarrow.compute as pc

    return pc.greater_equal(cols["date_updated"], cols["date_created"])


def _counter(name: str, what: str) -> Column:
    return Column(name, ColumnType.INT64, what, minimum=0, maximum=_COUNTER_MAX)


YOUTUBE = Contract(
    dataset="youtube",
    description="Point-in-time statistics of videos; a video appears once per snapshot.",
    warehouse_table="warehouse.video_snapshots",
    key_columns=("video_id", "date_updated"),
    max_reject_ratio=0.05,
    columns=(
        Column("video_id", ColumnType.STRING, "YouTube video id.", pattern=r"[A-Za-z0-9_\-]{1,64}"),
        Column(
            "channel_id", ColumnType.STRING, "YouTube channel id.", pattern=r"[A-Za-z0-9_\-]{1,64}"
        ),
        Column(
            "channel_name",
            ColumnType.STRING,
            "Channel display name.",
            max_length=200,
            reject_formula=True,
        ),
        _counter("channel_subscribers", "Subscribers of the channel at snapshot time."),
        Column(
            "description",
            ColumnType.STRING,
            "Video description; often empty.",
            nullable=True,
            max_length=5000,
            max_null_ratio=0.9,
        ),
        _counter("total_views", "Views at snapshot time; never decreases for a video."),
        _counter("total_likes", "Likes at snapshot time."),
        _counter("total_dislikes", "Dislikes at snapshot time."),
        Column(
            "date_created",
            ColumnType.TIMESTAMP,
            "When the video was published.",
            earliest=_EARLIEST,
            future_tolerance_s=3600,
        ),
        Column(
            "date_updated",
            ColumnType.TIMESTAMP,
            "When this snapshot was taken.",
            earliest=_EARLIEST,
            future_tolerance_s=3600,
        ),
    ),
    row_rules=(
        RowRule(
            "updated_before_created",
            "date_updated must not be earlier than date_created",
            ("date_created", "date_updated"),
            _updated_after_created,
        ),
    ),
)
