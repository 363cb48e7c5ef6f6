-- What the Prometheus exporter (`mdp metrics serve`) reads at every scrape, kept cheap on a large
-- audit table, and the group role of its read-only login.
--
-- The totals, the latency buckets and the last load per dataset come from one pass over this
-- covering index: every column the query touches is in it, so PostgreSQL reads the index only
-- (the heap just for pages not yet marked all-visible by vacuum).
CREATE INDEX file_ingestion_log_metrics_idx ON audit.file_ingestion_log (dataset, status)
    INCLUDE (created_at, finished_at, rows_inserted, rows_updated, rows_rejected);

-- Files still in flight: a handful of rows at any time, found without a scan.
CREATE INDEX file_ingestion_log_unfinished_idx ON audit.file_ingestion_log (dataset, status)
    WHERE finished_at IS NULL;

-- Quarantined files and their rule: a small share of the table.
CREATE INDEX file_ingestion_log_quarantined_idx ON audit.file_ingestion_log (dataset, status)
    WHERE status IN ('validation_failed', 'processing_failed', 'loading_failed');

-- mdp_monitor: the exporter's group role. It reads the audit log and nothing else (not the
-- warehouse, whose rows are business data, nor the reprocessing requests). Its login
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
GRANT SELECT ON audit.file_ingestion_log TO mdp_monitor;
