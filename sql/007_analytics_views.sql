-- KPI views for the dashboards, in their own schema so Metabase (the mdp_reader role) sees one
-- tidy list and the SQL behind every chart can be tested on real PostgreSQL (tests/db/test_views.py).
--
-- Conventions shared by every view:
--   * "day" and "hour" are UTC calendar days and hours, whatever the session's TimeZone.
--   * Money is never summed across currencies: every revenue figure is per currency.
--   * "growth" is the change since the previous observation of the same thing (NULL on the first).
--   * Ratios with a zero denominator are NULL, never an error and never 0.
CREATE SCHEMA IF NOT EXISTS analytics;

GRANT USAGE ON SCHEMA analytics TO mdp_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO mdp_reader;

-- One row per UTC day and currency, from the first to the last sale day, days without sales
-- included with zeros, so a chart and a rolling average see every calendar day.
CREATE VIEW analytics.sales_daily AS
WITH sales AS (
    SELECT (sale_timestamp AT TIME ZONE 'UTC')::date AS day,
           currency::text AS currency, sale_id, customer_id, quantity, total_amount
    FROM warehouse.sales
),
days AS (
    SELECT generate_series(min(day), max(day), interval '1 day')::date AS day FROM sales
),
currencies AS (
    SELECT DISTINCT currency FROM sales
)
SELECT d.day,
       c.currency,
       count(s.sale_id)                                             AS orders,
       coalesce(sum(s.quantity), 0)::bigint                         AS units,
       coalesce(sum(s.total_amount), 0)::numeric(18, 2)             AS revenue,
       count(DISTINCT s.customer_id)                                AS customers,
       round(sum(s.total_amount) / nullif(count(s.sale_id), 0), 2)  AS average_order_value
FROM days d
CROSS JOIN currencies c
LEFT JOIN sales s ON s.day = d.day AND s.currency = c.currency
GROUP BY d.day, c.currency;

-- Average daily revenue over the day and the six before it. The first six days of the data have
-- shorter windows; days_in_window says how many days each average covers.
CREATE VIEW analytics.sales_revenue_7d AS
SELECT day,
       currency,
       revenue,
       round(avg(revenue) OVER w, 2) AS revenue_7d_avg,
       count(*) OVER w               AS days_in_window
FROM analytics.sales_daily
WINDOW w AS (PARTITION BY currency ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW);

-- The ten best customers by revenue in each currency, ties included: customers with equal revenue
-- share a rank (1, 2, 2, 4, ...), and everyone ranked 10 is listed, so there can be more than ten
-- rows. The name is the one on the customer's latest sale.
CREATE VIEW analytics.top_customers AS
WITH per_customer AS (
    SELECT currency::text AS currency,
           customer_id,
           (array_agg(customer_name ORDER BY sale_timestamp DESC, sale_id DESC))[1] AS customer_name,
           count(*)             AS orders,
           sum(quantity)::bigint AS units,
           sum(total_amount)    AS revenue,
           max(sale_timestamp)  AS last_sale_at
    FROM warehouse.sales
    GROUP BY currency, customer_id
),
ranked AS (
    SELECT *, rank() OVER (PARTITION BY currency ORDER BY revenue DESC) AS revenue_rank
    FROM per_customer
)
SELECT revenue_rank, currency, customer_id, customer_name, orders, units, revenue, last_sale_at
FROM ranked
WHERE revenue_rank <= 10;

-- All-time performance of each product category, per currency.
CREATE VIEW analytics.category_performance AS
SELECT category,
       currency::text                             AS currency,
       count(*)                                   AS orders,
       sum(quantity)::bigint                      AS units,
       sum(total_amount)                          AS revenue,
       round(sum(total_amount) / count(*), 2)     AS average_order_value,
       count(DISTINCT customer_id)                AS customers
FROM warehouse.sales
GROUP BY category, currency;

-- Files by the UTC day they arrived, dataset and status, with their row counts: the pipeline's
-- throughput and outcomes. A re-processed file counts under its current status.
CREATE VIEW analytics.ingestion_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date  AS day,
       dataset,
       status,
       count(*)                               AS files,
       sum(size_bytes)::bigint                AS bytes,
       coalesce(sum(rows_in), 0)::bigint      AS rows_in,
       coalesce(sum(rows_rejected), 0)::bigint AS rows_rejected,
       coalesce(sum(rows_inserted), 0)::bigint AS rows_inserted,
       coalesce(sum(rows_updated), 0)::bigint  AS rows_updated
FROM audit.file_ingestion_log
GROUP BY 1, dataset, status;

-- Files now quarantined, by the UTC day they arrived and the stage that failed them (the
-- failed/<stage>/ folder they are in). A file re-processed successfully no longer counts.
CREATE VIEW analytics.failed_files_daily AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       status                                AS stage,
       dataset,
       count(*)                              AS files,
       sum(size_bytes)::bigint               AS bytes
FROM audit.file_ingestion_log
WHERE status IN ('validation_failed', 'processing_failed', 'loading_failed')
GROUP BY 1, status, dataset;

-- Every file now quarantined: where it is and why (the rule of its error report), for the
-- pipeline dashboard's list of failures to look at.
CREATE VIEW analytics.failed_files AS
SELECT id                  AS audit_id,
       dataset,
       status              AS stage,
       object_key,
       final_key,
       error ->> 'rule'    AS reason,
       error ->> 'message' AS message,
       size_bytes,
       attempts,
       created_at          AS arrived_at,
       finished_at         AS failed_at
FROM audit.file_ingestion_log
WHERE status IN ('validation_failed', 'processing_failed', 'loading_failed');

-- Each video's views per 30-second bucket (the largest count seen in the bucket) and the growth
-- since the video's previous bucket with data.
CREATE VIEW analytics.video_views_30s AS
SELECT video_id,
       channel_id,
       channel_name,
       bucket_start,
       max_views                                AS views,
       max_likes                                AS likes,
       max_dislikes                             AS dislikes,
       max_views - lag(max_views) OVER w        AS view_growth
FROM warehouse.video_metrics
WINDOW w AS (PARTITION BY video_id ORDER BY bucket_start);

-- The same per UTC hour, with each video's rank by view growth within the hour: trend_rank 1 is
-- the video that gained the most views that hour (NULL while there is no previous hour to compare).
CREATE VIEW analytics.video_views_hourly AS
WITH hourly AS (
    SELECT video_id,
           date_trunc('hour', bucket_start, 'UTC')                          AS hour,
           (array_agg(channel_id ORDER BY bucket_start DESC))[1]            AS channel_id,
           (array_agg(channel_name ORDER BY bucket_start DESC))[1]          AS channel_name,
           max(max_views)                                                   AS views,
           max(max_likes)                                                   AS likes,
           max(max_dislikes)                                                AS dislikes
    FROM warehouse.video_metrics
    GROUP BY video_id, 2
),
growth AS (
    SELECT *, views - lag(views) OVER (PARTITION BY video_id ORDER BY hour) AS view_growth
    FROM hourly
)
SELECT video_id, channel_id, channel_name, hour, views, likes, dislikes, view_growth,
       CASE WHEN view_growth IS NOT NULL
            THEN rank() OVER (PARTITION BY hour ORDER BY view_growth DESC NULLS LAST)
       END AS trend_rank
FROM growth;

-- Each channel at the end of every UTC hour it had snapshots: subscribers from its latest snapshot
-- so far, views/likes/dislikes summed over its videos (each video's largest count so far).
CREATE VIEW analytics.channel_growth AS
WITH hours AS (
    SELECT DISTINCT channel_id, date_trunc('hour', date_updated, 'UTC') AS hour
    FROM warehouse.video_snapshots
),
totals AS (
    SELECT h.channel_id, h.hour, latest.channel_name, latest.channel_subscribers AS subscribers,
           so_far.videos, so_far.views, so_far.likes, so_far.dislikes
    FROM hours h
    CROSS JOIN LATERAL (
        SELECT s.channel_name, s.channel_subscribers
        FROM warehouse.video_snapshots s
        WHERE s.channel_id = h.channel_id AND s.date_updated < h.hour + interval '1 hour'
        ORDER BY s.date_updated DESC, s.video_id DESC
        LIMIT 1
    ) latest
    CROSS JOIN LATERAL (
        SELECT count(*) AS videos,
               sum(v.views)::bigint AS views,
               sum(v.likes)::bigint AS likes,
               sum(v.dislikes)::bigint AS dislikes
        FROM (
            SELECT max(s.total_views) AS views, max(s.total_likes) AS likes,
                   max(s.total_dislikes) AS dislikes
            FROM warehouse.video_snapshots s
            WHERE s.channel_id = h.channel_id AND s.date_updated < h.hour + interval '1 hour'
            GROUP BY s.video_id
        ) v
    ) so_far
)
SELECT channel_id, channel_name, hour, subscribers,
       subscribers - lag(subscribers) OVER w AS subscriber_growth,
       videos, views,
       views - lag(views) OVER w             AS view_growth,
       likes, dislikes
FROM totals
WINDOW w AS (PARTITION BY channel_id ORDER BY hour);

-- Likes and dislikes per 1,000 views of each video, from its latest snapshot.
CREATE VIEW analytics.video_engagement AS
SELECT DISTINCT ON (video_id)
       video_id,
       channel_id,
       channel_name,
       total_views                                                 AS views,
       total_likes                                                 AS likes,
       total_dislikes                                              AS dislikes,
       round(total_likes * 1000.0 / nullif(total_views, 0), 2)     AS likes_per_1000_views,
       round(total_dislikes * 1000.0 / nullif(total_views, 0), 2)  AS dislikes_per_1000_views,
       date_updated                                                AS as_of
FROM warehouse.video_snapshots
ORDER BY video_id, date_updated DESC;

-- The same per channel, from warehouse.channel_stats (each video's latest snapshot, summed).
CREATE VIEW analytics.channel_engagement AS
SELECT channel_id,
       channel_name,
       channel_subscribers                                         AS subscribers,
       video_count                                                 AS videos,
       total_views                                                 AS views,
       total_likes                                                 AS likes,
       total_dislikes                                              AS dislikes,
       round(total_likes * 1000.0 / nullif(total_views, 0), 2)     AS likes_per_1000_views,
       round(total_dislikes * 1000.0 / nullif(total_views, 0), 2)  AS dislikes_per_1000_views,
       updated_at                                                  AS as_of
FROM warehouse.channel_stats;

GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO mdp_reader;
