"""The KPI views (sql/007_analytics_views.sql) on real PostgreSQL, against hand-computed numbers.

One small data set (sample_warehouse.py), inserted as the owner; every view is read as
``mdp_reader`` (the role behind Metabase's login), in a session whose TimeZone is not UTC, so the
tests also show that the views are readable by the read-only role and that "day" and "hour" mean
UTC whatever the session says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal as D  # noqa: N817 - tables of money read better
from typing import Any

import psycopg
import pytest

from tests.db.sample_warehouse import insert_sample

pytestmark = pytest.mark.integration


@pytest.fixture
def reader(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The test database with the data set, as mdp_reader, in a non-UTC session."""
    insert_sample(conn)
    conn.execute("SET TIME ZONE 'Pacific/Kiritimati'")  # UTC+14: every local day differs
    conn.execute("SET ROLE mdp_reader")
    yield conn
    conn.execute("RESET ROLE")


def rows(conn: psycopg.Connection, sql: str) -> list[tuple[Any, ...]]:
    return conn.execute(sql).fetchall()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_sales_daily_has_every_day_with_zeros(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT day, orders, units, revenue, customers, average_order_value"
        " FROM analytics.sales_daily WHERE currency = 'EUR' ORDER BY day",
    )
    zero = (0, 0, D("0.00"), 0, None)
    assert got == [
        # s1 + s2 + s4 (22:30 UTC): 20.00 + 5.50 + 12.00
        (date(2026, 3, 1), 3, 6, D("37.50"), 3, D("12.50")),
        (date(2026, 3, 2), *zero),  # no sales: a row of zeros, no average order value
        (date(2026, 3, 3), 2, 5, D("17.50"), 2, D("8.75")),
        *[(date(2026, 3, d), *zero) for d in range(4, 9)],
        (date(2026, 3, 9), 1, 1, D("70.00"), 1, D("70.00")),
    ]
    usd = rows(reader, "SELECT day, revenue FROM analytics.sales_daily WHERE currency = 'USD'")
    assert len(usd) == 9  # the same calendar, zeros after its one sale
    assert sorted(usd)[0] == (date(2026, 3, 1), D("30.00"))
    assert sum(r for _, r in usd) == D("30.00")
    gbp = rows(
        reader,
        "SELECT orders, units, revenue, customers, average_order_value FROM analytics.sales_daily"
        " WHERE currency = 'GBP' AND day = '2026-03-05'",
    )
    assert gbp == [(12, 12, D("810.00"), 12, D("67.50"))]


def test_rolling_average_covers_seven_calendar_days(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT day, revenue, revenue_7d_avg, days_in_window FROM analytics.sales_revenue_7d"
        " WHERE currency = 'EUR' ORDER BY day",
    )
    assert got == [
        (date(2026, 3, 1), D("37.50"), D("37.50"), 1),
        (date(2026, 3, 2), D("0.00"), D("18.75"), 2),  # the empty day counts as 0
        (date(2026, 3, 3), D("17.50"), D("18.33"), 3),  # 55 / 3
        (date(2026, 3, 4), D("0.00"), D("13.75"), 4),
        (date(2026, 3, 5), D("0.00"), D("11.00"), 5),
        (date(2026, 3, 6), D("0.00"), D("9.17"), 6),
        (date(2026, 3, 7), D("0.00"), D("7.86"), 7),  # 55 / 7
        (date(2026, 3, 8), D("0.00"), D("2.50"), 7),  # 03-01 left the window: 17.50 / 7
        (date(2026, 3, 9), D("70.00"), D("12.50"), 7),  # (17.50 + 70.00) / 7
    ]


def test_top_customers_per_currency_with_ties(reader: psycopg.Connection) -> None:
    gbp = rows(
        reader,
        "SELECT revenue_rank, customer_id, revenue FROM analytics.top_customers"
        " WHERE currency = 'GBP' ORDER BY revenue_rank, customer_id",
    )
    assert gbp == [
        (1, "G01", D("120.00")),
        (2, "G02", D("110.00")),
        (2, "G03", D("110.00")),
        (4, "G04", D("90.00")),
        (5, "G05", D("80.00")),
        (6, "G06", D("70.00")),
        (7, "G07", D("60.00")),
        (8, "G08", D("50.00")),
        (9, "G09", D("40.00")),
        (10, "G10", D("30.00")),
        (10, "G11", D("30.00")),  # eleven rows: the tie at 10 is kept, G12 (20.00) is not
    ]
    eur = rows(
        reader,
        "SELECT revenue_rank, customer_id, customer_name, orders, units, revenue"
        " FROM analytics.top_customers WHERE currency = 'EUR' ORDER BY revenue_rank",
    )
    assert eur == [
        (1, "C5", "Eve", 1, 1, D("70.00")),
        (2, "C1", "Ann", 1, 2, D("20.00")),  # Ann's USD sale counts under USD only
        (3, "C2", "Bob B.", 2, 5, D("15.50")),  # the name of the latest sale
        (4, "C3", "Cy", 1, 3, D("12.00")),
        (5, "C4", "Di", 1, 1, D("7.50")),
    ]


def test_category_performance(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT category, currency, orders, units, revenue, average_order_value, customers"
        " FROM analytics.category_performance ORDER BY category, currency",
    )
    assert got == [
        ("Books", "EUR", 2, 3, D("27.50"), D("13.75"), 2),
        ("Books", "USD", 1, 1, D("30.00"), D("30.00"), 1),
        ("Garden", "EUR", 2, 4, D("82.00"), D("41.00"), 2),
        ("Sports", "GBP", 12, 12, D("810.00"), D("67.50"), 12),
        ("Toys", "EUR", 2, 5, D("15.50"), D("7.75"), 1),
    ]


def test_failed_files_per_day_and_stage(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT day, stage, dataset, files, bytes FROM analytics.failed_files_daily"
        " ORDER BY day, stage",
    )
    assert got == [
        (date(2026, 3, 1), "loading_failed", "youtube", 1, 300),
        (date(2026, 3, 1), "validation_failed", "sales", 1, 500),
        (date(2026, 3, 2), "processing_failed", "youtube", 1, 50),
        (date(2026, 3, 2), "validation_failed", "sales", 1, 700),  # 23:30 at UTC-2
    ]


def test_failed_files_say_where_and_why(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT audit_id, stage, object_key, final_key, reason, message, failed_at"
        " FROM analytics.failed_files ORDER BY audit_id",
    )
    assert [r[0] for r in got] == [2, 3, 4, 6]  # not the loaded file, not the duplicate
    assert got[0] == (
        2,
        "validation_failed",
        "incoming/sales/f2.csv",
        "failed/validation_failed/sales/f2.csv",
        "missing_column",
        "no column quantity",
        utc("2026-03-01T11:00:05+00:00"),
    )


def test_ingestion_daily(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT day, dataset, status, files, bytes, rows_in, rows_rejected, rows_inserted,"
        " rows_updated FROM analytics.ingestion_daily ORDER BY day, dataset, status",
    )
    assert got == [
        (date(2026, 3, 1), "sales", "loaded", 1, 1000, 100, 2, 98, 0),
        (date(2026, 3, 1), "sales", "validation_failed", 1, 500, 0, 0, 0, 0),
        (date(2026, 3, 1), "youtube", "duplicate", 1, 200, 0, 0, 0, 0),
        (date(2026, 3, 1), "youtube", "loading_failed", 1, 300, 10, 0, 0, 0),
        (date(2026, 3, 2), "sales", "validation_failed", 1, 700, 0, 0, 0, 0),
        (date(2026, 3, 2), "youtube", "processing_failed", 1, 50, 5, 0, 0, 0),
    ]


def test_video_views_per_30_seconds(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT video_id, bucket_start, views, view_growth FROM analytics.video_views_30s"
        " ORDER BY video_id, bucket_start",
    )
    assert got == [
        ("V1", utc("2026-03-01T10:00:00+00:00"), 100, None),  # no previous bucket
        ("V1", utc("2026-03-01T10:00:30+00:00"), 160, 60),
        ("V1", utc("2026-03-01T10:59:30+00:00"), 400, 240),  # since the previous bucket with data
        ("V1", utc("2026-03-01T11:00:00+00:00"), 1000, 600),
        ("V2", utc("2026-03-01T10:30:00+00:00"), 50, None),
        ("V2", utc("2026-03-01T11:10:00+00:00"), 300, 250),
        ("V3", utc("2026-03-01T10:15:00+00:00"), 0, None),
        ("V3", utc("2026-03-01T11:45:00+00:00"), 0, 0),  # zero views, zero growth
    ]


def test_video_views_per_hour_and_trend_rank(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT video_id, hour, views, likes, dislikes, view_growth, trend_rank"
        " FROM analytics.video_views_hourly ORDER BY hour, video_id",
    )
    ten, eleven = utc("2026-03-01T10:00:00+00:00"), utc("2026-03-01T11:00:00+00:00")
    assert got == [
        ("V1", ten, 400, 30, 2, None, None),  # the hour's largest count; nothing to compare
        ("V2", ten, 50, 5, 0, None, None),
        ("V3", ten, 0, 0, 0, None, None),
        ("V1", eleven, 1000, 80, 5, 600, 1),
        ("V2", eleven, 300, 20, 5, 250, 2),
        ("V3", eleven, 0, 0, 0, 0, 3),
    ]


def test_channel_growth_per_hour(reader: psycopg.Connection) -> None:
    got = rows(
        reader,
        "SELECT channel_id, channel_name, hour, subscribers, subscriber_growth, videos, views,"
        " view_growth, likes, dislikes FROM analytics.channel_growth ORDER BY channel_id, hour",
    )
    ten, eleven = utc("2026-03-01T10:00:00+00:00"), utc("2026-03-01T11:00:00+00:00")
    assert got == [
        # V1's 10:59:50 snapshot is the channel's latest before 11:00; V1 400 + V2 50 views
        ("K1", "Cooking", ten, 1010, None, 2, 450, None, 35, 2),
        # V2's 11:10 snapshot is the latest; V1 1000 + V2 300
        ("K1", "Cooking", eleven, 1060, 50, 2, 1300, 850, 100, 10),
        ("K2", "Travel", ten, 10, None, 1, 0, None, 0, 0),
        ("K2", "Travel", eleven, 12, 2, 1, 0, 0, 0, 0),
    ]


def test_engagement_per_video_and_channel(reader: psycopg.Connection) -> None:
    videos = rows(
        reader,
        "SELECT video_id, views, likes, dislikes, likes_per_1000_views, dislikes_per_1000_views"
        " FROM analytics.video_engagement ORDER BY video_id",
    )
    assert videos == [
        ("V1", 1000, 80, 5, D("80.00"), D("5.00")),
        ("V2", 300, 20, 5, D("66.67"), D("16.67")),  # 20 000 / 300, 5 000 / 300
        ("V3", 0, 0, 0, None, None),  # zero views: no ratio, no division error
    ]
    channels = rows(
        reader,
        "SELECT channel_id, subscribers, videos, views, likes_per_1000_views,"
        " dislikes_per_1000_views FROM analytics.channel_engagement ORDER BY channel_id",
    )
    assert channels == [
        ("K1", 1060, 2, 1300, D("76.92"), D("7.69")),  # 100 000 / 1300, 10 000 / 1300
        ("K2", 12, 1, 0, None, None),
    ]


def test_views_on_an_empty_warehouse_return_no_rows(conn: psycopg.Connection) -> None:
    conn.execute("SET ROLE mdp_reader")
    views = [
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'"
        )
    ]
    assert len(views) == 12
    for view in views:
        assert rows(conn, f"SELECT * FROM analytics.{view}") == [], view


def test_reader_cannot_create_objects_in_analytics(conn: psycopg.Connection) -> None:
    conn.execute("SET ROLE mdp_reader")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE VIEW analytics.mine AS SELECT 1")
