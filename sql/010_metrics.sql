-- Running totals for the Prometheus exporter (`mdp metrics serve`), kept by triggers, so a scrape
-- reads a few small rows instead of aggregating the whole audit log (an aggregate over 1M audit
-- rows took seconds: docs/benchmark.md). Each time a file reaches its final place (finished_at
-- set), its dataset's row for its final status counts it: files, rows, the latency buckets and
-- the newest finish. A file that is sent through again and ends again is counted again, so the
-- totals only grow: they are counters of arrivals at a final place.

-- Upper bounds (seconds) of the latency histogram; the exporter reads them from here.
CREATE FUNCTION audit.latency_bounds() RETURNS float8[]
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT ARRAY[5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400]::float8[] $$;

CREATE TABLE audit.file_ingestion_totals (
    dataset          text        NOT NULL,
    status           text        NOT NULL,          -- the final status
    files            bigint      NOT NULL,
    rows_loaded      bigint      NOT NULL,          -- rows inserted + updated
    rows_rejected    bigint      NOT NULL,          -- bad rows set aside by validation
    latency_sum      float8      NOT NULL,          -- seconds from created_at to finished_at
    latency_buckets  bigint[]    NOT NULL,          -- cumulative, one per audit.latency_bounds()
    last_finished_at timestamptz NOT NULL,
    PRIMARY KEY (dataset, status)
);

CREATE TABLE audit.quarantine_totals (
    dataset text   NOT NULL,
    stage   text   NOT NULL,                        -- the failed status (failed/<stage>/)
    rule    text   NOT NULL,                        -- the rule broken, or the error type
    files   bigint NOT NULL,
    PRIMARY KEY (dataset, stage, rule)
);

-- Count finished rows into the totals (the one place the counting is written).
CREATE FUNCTION audit.count_finished(finished audit.file_ingestion_log[]) RETURNS void
    LANGUAGE sql
    AS $$
    WITH f AS (
        SELECT dataset, status, rows_inserted, rows_updated, rows_rejected, finished_at,
               extract(epoch FROM finished_at - created_at)::float8 AS latency
        FROM unnest(finished)
    ),
    buckets AS (
        SELECT dataset, status, array_agg(n ORDER BY i) AS counts
        FROM (
            SELECT f.dataset, f.status, b.i, count(*) FILTER (WHERE f.latency <= b.bound) AS n
            FROM f CROSS JOIN unnest(audit.latency_bounds()) WITH ORDINALITY AS b (bound, i)
            GROUP BY 1, 2, 3
        ) AS per_bound
        GROUP BY 1, 2
    )
    INSERT INTO audit.file_ingestion_totals AS t
    SELECT f.dataset, f.status, count(*),
           coalesce(sum(f.rows_inserted), 0) + coalesce(sum(f.rows_updated), 0),
           coalesce(sum(f.rows_rejected), 0), coalesce(sum(f.latency), 0),
           min(b.counts), max(f.finished_at)
    FROM f JOIN buckets AS b USING (dataset, status)
    GROUP BY f.dataset, f.status
    ON CONFLICT (dataset, status) DO UPDATE SET
        files = t.files + excluded.files,
        rows_loaded = t.rows_loaded + excluded.rows_loaded,
        rows_rejected = t.rows_rejected + excluded.rows_rejected,
        latency_sum = t.latency_sum + excluded.latency_sum,
        latency_buckets = ARRAY(
            SELECT a + b FROM unnest(t.latency_buckets, excluded.latency_buckets) AS u (a, b)
        ),
        last_finished_at = greatest(t.last_finished_at, excluded.last_finished_at);

    INSERT INTO audit.quarantine_totals AS t
    SELECT dataset, status, coalesce(error->>'rule', error->>'error', 'unknown'), count(*)
    FROM unnest(finished)
    WHERE status IN ('validation_failed', 'processing_failed', 'loading_failed')
    GROUP BY 1, 2, 3
    ON CONFLICT (dataset, stage, rule) DO UPDATE SET files = t.files + excluded.files;
$$;

-- Statement-level triggers with transition tables: one call per statement whatever the rows,
-- and only rows whose finished_at went from unset to set are counted.
CREATE FUNCTION audit.count_finished_rows() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    -- Transition rows are records: ROW(...)::type makes them the table's row type again.
    IF TG_OP = 'INSERT' THEN
        PERFORM audit.count_finished(ARRAY(
            SELECT ROW(n.*)::audit.file_ingestion_log FROM new_rows AS n
            WHERE n.finished_at IS NOT NULL));
    ELSE
        PERFORM audit.count_finished(ARRAY(
            SELECT ROW(n.*)::audit.file_ingestion_log FROM new_rows AS n
            JOIN old_rows AS o USING (id)
            WHERE o.finished_at IS NULL AND n.finished_at IS NOT NULL));
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER file_ingestion_log_count_inserted
    AFTER INSERT ON audit.file_ingestion_log
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.count_finished_rows();

CREATE TRIGGER file_ingestion_log_count_finished
    AFTER UPDATE ON audit.file_ingestion_log
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION audit.count_finished_rows();

-- The rows finished before this migration, in batches of ids (bounded memory on a large log).
DO $$
DECLARE
    low bigint := 0;
    top bigint := (SELECT coalesce(max(id), 0) FROM audit.file_ingestion_log);
BEGIN
    WHILE low < top LOOP
        PERFORM audit.count_finished(ARRAY(
            SELECT l FROM audit.file_ingestion_log AS l
            WHERE l.id > low AND l.id <= low + 50000 AND l.finished_at IS NOT NULL));
        low := low + 50000;
    END LOOP;
END
$$;

-- Files still in flight: a handful of rows at any time, found without a scan.
CREATE INDEX file_ingestion_log_unfinished_idx ON audit.file_ingestion_log (dataset, status)
    WHERE finished_at IS NULL;

-- mdp_monitor: the exporter's group role. It reads the totals and the audit log, nothing else
-- (not the warehouse, whose rows are business data, nor the reprocessing requests). Its login
-- (mdp_metrics) is created by the deployment, as the other logins are (chart init script).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mdp_monitor') THEN
        CREATE ROLE mdp_monitor NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO mdp_monitor', current_database());
END
$$;
GRANT USAGE ON SCHEMA audit TO mdp_monitor;
GRANT SELECT ON audit.file_ingestion_log, audit.file_ingestion_totals, audit.quarantine_totals
    TO mdp_monitor;
GRANT EXECUTE ON FUNCTION audit.latency_bounds() TO mdp_monitor;
