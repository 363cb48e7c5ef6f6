"""Keeping the maximum version per key, and hash partitioning (no servers needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from mdp.contracts.sales import SALES
from mdp.transform.dedupe import keep_max
from mdp.transform.derive import video_metrics
from mdp.transform.partition import bucket_of
from mdp.warehouse.tables import SALES_TABLE, VIDEO_METRICS

T = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _sales(rows: list[dict[str, object]]) -> pa.Table:
    base = {
        "customer_id": "C1",
        "customer_name": "Ada",
        "product_id": "P1",
        "product_name": "W",
        "category": "Tools",
        "quantity": 1,
        "unit_price": 1.0,
        "total_amount": 1.0,
        "currency": "EUR",
        "payment_method": "cash",
        "region": "EU",
    }
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=SALES.arrow_schema())


def test_newest_version_wins() -> None:
    t = _sales(
        [
            {"sale_id": "A", "sale_timestamp": T, "quantity": 1},
            {"sale_id": "A", "sale_timestamp": T.replace(hour=11), "quantity": 2},
            {"sale_id": "B", "sale_timestamp": T, "quantity": 3},
        ]
    )
    out = keep_max(t, SALES_TABLE).to_pylist()
    assert [(r["sale_id"], r["quantity"]) for r in out] == [("A", 2), ("B", 3)]


def test_ties_are_broken_by_the_row_not_by_position() -> None:
    rows = [
        {"sale_id": "A", "sale_timestamp": T, "customer_name": "Zed", "region": None},
        {"sale_id": "A", "sale_timestamp": T, "customer_name": "Ann", "region": "EU"},
    ]
    first = keep_max(_sales(rows), SALES_TABLE).to_pylist()
    second = keep_max(_sales(rows[::-1]), SALES_TABLE).to_pylist()
    assert first == second
    assert first[0]["customer_name"] == "Zed"  # customer_id ties, then customer_name decides


def test_null_sorts_below_any_value() -> None:
    rows = [
        {"sale_id": "A", "sale_timestamp": T, "region": None},
        {"sale_id": "A", "sale_timestamp": T, "region": ""},
    ]
    assert keep_max(_sales(rows), SALES_TABLE).to_pylist()[0]["region"] == ""


def test_money_is_rounded_to_cents_before_comparing() -> None:
    t = _sales([{"sale_id": "A", "sale_timestamp": T, "unit_price": 2.499999999}])
    assert keep_max(t, SALES_TABLE).column("unit_price").to_pylist() == [2.5]


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
    out = video_metrics(snaps).to_pylist()
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


def test_buckets_are_stable_and_spread() -> None:
    keys = pa.array([f"S{i:09d}" for i in range(20_000)])
    a = bucket_of(keys, 8)
    assert np.array_equal(a, bucket_of(keys, 8))
    counts = np.bincount(a, minlength=8)
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
    same_suffix = pa.array([f"{i}-X" for i in range(20_000)])
    assert np.bincount(bucket_of(same_suffix, 8), minlength=8).min() > 0
