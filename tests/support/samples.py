"""Small, readable builders of valid rows and files, which tests then break on purpose."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

SALES_HEADER = [
    "sale_id",
    "sale_timestamp",
    "customer_id",
    "customer_name",
    "product_id",
    "product_name",
    "category",
    "quantity",
    "unit_price",
    "total_amount",
    "currency",
    "payment_method",
    "region",
]
YOUTUBE_HEADER = [
    "video_id",
    "channel_id",
    "channel_name",
    "channel_subscribers",
    "description",
    "total_views",
    "total_likes",
    "total_dislikes",
    "date_created",
    "date_updated",
]


def sales_row(i: int = 1, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sale_id": f"S{i:06d}",
        "sale_timestamp": "2026-03-01T10:00:00Z",
        "customer_id": "C000001",
        "customer_name": "Ada Lovelace",
        "product_id": "P00001",
        "product_name": "Blue Widget",
        "category": "Tools",
        "quantity": 3,
        "unit_price": 2.5,
        "total_amount": 7.5,
        "currency": "EUR",
        "payment_method": "credit_card",
        "region": "EMEA",
    }
    row.update(overrides)
    return row


def youtube_row(i: int = 1, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "video_id": f"vid{i:08d}",
        "channel_id": "UCchannel0001",
        "channel_name": "Data Engineering Daily",
        "channel_subscribers": 12000,
        "description": "How to build a pipeline",
        "total_views": 1000 + i,
        "total_likes": 50,
        "total_dislikes": 2,
        "date_created": "2025-01-01T00:00:00Z",
        "date_updated": "2026-03-01T10:00:30Z",
    }
    row.update(overrides)
    return row


def sales_rows(n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [sales_row(i, **overrides) for i in range(1, n + 1)]


def to_csv(
    rows: list[dict[str, Any]],
    header: list[str] | None = None,
    *,
    delimiter: str = ",",
    newline: str = "\n",
) -> bytes:
    header = header or list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row.get(h) is None else row.get(h) for h in header])
    return out.getvalue().encode("utf-8")


def to_jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def to_json_array(rows: list[Any]) -> bytes:
    return json.dumps(rows, indent=1).encode()
