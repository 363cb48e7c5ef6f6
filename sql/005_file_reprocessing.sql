-- Re-processing requests: one row each time a quarantined file is sent from failed/<stage>/ back
-- to incoming/ (the mdp_reprocess DAG, `mdp requeue`). The audit row of the file keeps its own
-- history (attempts, run id); this table keeps what it said before it was revived, which
-- reviving clears, and who asked. (failed_key, run_id) is unique so a retried request is one row.
CREATE TABLE audit.file_reprocessing (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    audit_id         bigint REFERENCES audit.file_ingestion_log (id),  -- NULL: no row (put by hand)
    failed_key       text        NOT NULL,
    incoming_key     text        NOT NULL,
    previous_status  text,
    previous_error   jsonb,
    run_id           text        NOT NULL,
    requested_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT file_reprocessing_request_unique UNIQUE (failed_key, run_id)
);

CREATE INDEX file_reprocessing_audit_idx ON audit.file_reprocessing (audit_id);
