"""The KPI views (sql/007_analytics_views.sql) on real PostgreSQL, against numbers worked out by hand.

One small data set, inserted as the owner; every view is read as ``mdp_reader`` (the role behind
Metabase's login), in a session whose TimeZone is not UTC, so the tests also show that the views
are readable by the read-only role and that "day" and "hour" mean UTC whatever the session says.

Edge cases on purpose: a day with no sales (2026-03-02) and a run of such days (03-04..03-08),
a sale at 00:30 local time that is still the previous UTC day, a customer who changed name,
ties inside and at the edge of the top 10, a video with zero views, growth with no previous value.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal as D
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.integration

_SALE = (
    "INSERT INTO warehouse.sales (sale_id, sale_timestamp, customer_id, customer_name, product_id,"
    " product_name, category, quantity, unit_price, total_amount, currency, payment_method,"
    " source_file_id) VALUES (%s, %s, %s, %s, 'P1', 'Thing', %s, %s, %s, %s, %s, 'card', 1)"
)

# sale_id, timestamp, customer_id, customer_name, category, quantity, unit_price, total, currency
SALES = [
    ("s1", "2026-03-01 10:00:00+00", "C1", "Ann", "Books", 2, "10.00", "20.00", "EUR"),
    ("s2", "2026-03-01 23:59:59+00", "C2", "Bob", "Toys", 1, "5.50", "5.50", "EUR"),
    ("s3", "2026-03-01 12:00:00+00", "C1", "Ann", "Books", 1, "30.00", "30.00", "USD"),
    # 00:30 in UTC+2 on the 2nd is 22:30 UTC on the 1st.
    ("s4", "2026-03-02 00:30:00+02", "C3", "Cy", "Garden", 3, "4.00", "12.00", "EUR"),
    # 2026-03-02: no sales at all.
    ("s5", "2026-03-03 09:00:00+00", "C2", "Bob B.", "Toys", 4, "2.50", "10.00", "EUR"),
    ("s6", "2026-03-03 18:00:00+00", "C4", "Di", "Books", 1, "7.50", "7.50", "EUR"),
    ("s7", "2026-03-09 08:00:00+00", "C5", "Eve", "Garden", 1, "70.00", "70.00", "EUR"),
]
# Twelve GBP customers, one sale each on 03-05: G02/G03 tie at rank 2, G10/G11 tie at rank 10,
# and G12 (rank 12) falls out of the top 10.
GBP = dict(
    zip(
        [f"G{i:02d}" for i in range(1, 13)],
        [120, 110, 110, 90, 80, 70, 60, 50, 40, 30, 30, 20],
        strict=True,
    )
)

# (id, dataset, status, created_at, size, rows_in, rows_rejected, rows_inserted, rows_updated)
AUDIT = [
    (1, "sales", "loaded", "2026-03-01 10:00:00+00", 1000, 100, 2, 98, 0),
    (2, "sales", "validation_failed", "2026-03-01 11:00:00+00", 500, None, None, None, None),
    # 23:30 at UTC-2 on the 1st is 01:30 UTC on the 2nd.
    (3, "sales", "validation_failed", "2026-03-01 23:30:00-02", 700, None, None, None, None),
    (4, "youtube", "loading_failed", "2026-03-01 12:00:00+00", 300, 10, 0, None, None),
    (5, "youtube", "duplicate", "2026-03-01 13:00:00+00", 200, None, None, None, None),
    (6, "youtube", "processing_failed", "2026-03-02 09:00:00+00", 50, 5, 0, None, None),
]

# video, channel, channel name, subscribers, views, likes, dislikes, date_updated
SNAPSHOTS = [
    ("V1", "K1", "Cooking", 1000, 100, 10, 1, "2026-03-01 10:00:10+00"),
    ("V1", "K1", "Cooking", 1000, 160, 12, 1, "2026-03-01 10:00:40+00"),
    ("V1", "K1", "Cooking", 1010, 400, 30, 2, "2026-03-01 10:59:50+00"),
    ("V1", "K1", "Cooking", 1050, 1000, 80, 5, "2026-03-01 11:00:20+00"),
    ("V2", "K1", "Cooking", 1005, 50, 5, 0, "2026-03-01 10:30:05+00"),
    ("V2", "K1", "Cooking", 1060, 300, 20, 5, "2026-03-01 11:10:00+00"),
    ("V3", "K2", "Travel", 10, 0, 0, 0, "2026-03-01 10:15:00+00"),
    ("V3", "K2", "Travel", 12, 0, 0, 0, "2026-03-01 11:45:00+00"),
]
# The 30-second buckets the transform derives from SNAPSHOTS: video, bucket, views, likes, dislikes.
METRICS = [
    ("V1", "K1", "Cooking", "2026-03-01 10:00:00+00", 100, 10, 1),
    ("V1", "K1", "Cooking", "2026-03-01 10:00:30+00", 160, 12, 1),
    ("V1", "K1", "Cooking", "2026-03-01 10:59:30+00", 400, 30, 2),
    ("V1", "K1", "Cooking", "2026-03-01 11:00:00+00", 1000, 80, 5),
    ("V2", "K1", "Cooking", "2026-03-01 10:30:00+00", 50, 5, 0),
    ("V2", "K1", "Cooking", "2026-03-01 11:10:00+00", 300, 20, 5),
    ("V3", "K2", "Travel", "2026-03-01 10:15:00+00", 0, 0, 0),
    ("V3", "K2", "Travel", "2026-03-01 11:45:00+00", 0, 0, 0),
]


def _insert(conn: psycopg.Connection) -> None:
    with conn.cursor() as cur:
        for sale_id, ts, cust, name, cat, qty, price, total, cur_code in SALES:
            cur.execute(_SALE, (sale_id, ts, cust, name, cat, qty, price, total, cur_code))
        for cust, amount in GBP.items():
            cur.execute(
                _SALE,
                (f"g-{cust}", "2026-03-05 12:00:00+00", cust, f"Name {cust}", "Sports", 1,
                 amount, amount, "GBP"),
            )  # fmt: skip
        for row_id, dataset, status, created, size, r_in, r_rej, r_ins, r_upd in AUDIT:
            cur.execute(
                "INSERT INTO audit.file_ingestion_log (id, dataset, object_key, size_bytes, sha256,"
                " status, rows_in, rows_rejected, rows_inserted, rows_updated, run_id, created_at)"
                " OVERRIDING SYSTEM VALUE"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'run', %s)",
                (row_id, dataset, f"incoming/{dataset}/f{row_id}.csv", size,
                 f"{row_id:064x}", status, r_in, r_rej, r_ins, r_upd, created),
            )  # fmt: skip
        cur.execute(
            "UPDATE audit.file_ingestion_log SET error = %s, final_key = %s,"
            " finished_at = '2026-03-01 11:00:05+00' WHERE id = 2",
            ('{"rule": "missing_column", "message": "no column quantity"}',
             "failed/validation_failed/sales/f2.csv"),
        )  # fmt: skip
        for video, channel, cname, subs, views, likes, dislikes, updated in SNAPSHOTS:
            cur.execute(
                "INSERT INTO warehouse.video_snapshots (video_id, channel_id, channel_name,"
                " channel_subscribers, total_views, total_likes, total_dislikes, date_created,"
                " date_updated, source_file_id)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, '2026-03-01 09:00:00+00', %s, 1)",
                (video, channel, cname, subs, views, likes, dislikes, updated),
            )
        for video, channel, cname, bucket, views, likes, dislikes in METRICS:
            cur.execute(
                "INSERT INTO warehouse.video_metrics (video_id, bucket_start, last_snapshot_at,"
                " channel_id, channel_name, max_views, max_likes, max_dislikes)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (video, bucket, bucket, channel, cname, views, likes, dislikes),
            )
        cur.execute(
            "INSERT INTO warehouse.channel_stats (channel_id, channel_name, channel_subscribers,"
            " video_count, total_views, total_likes, total_dislikes, max_views, max_likes,"
            " max_dislikes) VALUES"
            " ('K1', 'Cooking', 1060, 2, 1300, 100, 10, 1000, 80, 5),"
            " ('K2', 'Travel', 12, 1, 0, 0, 0, 0, 0, 0)"
        )


@pytest.fixture
def reader(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The test database with the data set, as mdp_reader, in a non-UTC session."""
    _insert(conn)
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
