"""A small warehouse worked out by hand: the data set of the KPI view tests (test_views.py), also
used to run every dashboard question (tests/metabase/test_content.py).

Edge cases on purpose: a day with no sales (2026-03-02) and a run of such days (03-04..03-08),
a sale at 00:30 local time that is still the previous UTC day, a customer who changed name,
ties inside and at the edge of the top 10, a video with zero views, growth with no previous value.
"""

from __future__ import annotations

import psycopg

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


def insert_sample(conn: psycopg.Connection) -> None:
    """Insert the data set (as the owner; the tests then read it as mdp_reader)."""
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
