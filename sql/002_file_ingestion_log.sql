-- The audit log: one row per incoming object version (key + content hash), saying where the file
-- is in the pipeline, where it ended and why. Steps update their own columns; nothing deletes.
CREATE TABLE audit.file_ingestion_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset          text        NOT NULL,
    object_key       text        NOT NULL,          -- the incoming/<dataset>/<file> key
    size_bytes       bigint      NOT NULL CHECK (size_bytes >= 0),
    sha256           text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    format           text,                          -- csv | json | jsonl | parquet, once detected
    status           text        NOT NULL,
    validation_status text,                         -- validated | rejected
    transform_status  text,                         -- transformed | failed
    load_status       text,                         -- loaded | failed
    rows_in          bigint,
    rows_valid       bigint,
    rows_rejected    bigint,
    rows_inserted    bigint,
    rows_updated     bigint,
    error            jsonb,                         -- the machine-readable report of the failure
    duplicate_of     bigint REFERENCES audit.file_ingestion_log (id),
    final_key        text,                          -- where the raw file ended (archive/ or failed/)
    attempts         integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    run_id           text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT file_ingestion_log_status_check CHECK (status IN (
        'received', 'validated', 'transformed', 'loaded', 'duplicate',
        'validation_failed', 'processing_failed', 'loading_failed'
    )),
    -- Re-uploading the same bytes under the same name is the same file, retried.
    CONSTRAINT file_ingestion_log_key_content_unique UNIQUE (object_key, sha256)
);

-- Nothing twice: at most one live (not failed, not duplicate) file per content in a dataset.
-- A second object with the same bytes fails this index and is recorded as a duplicate instead.
CREATE UNIQUE INDEX file_ingestion_log_live_content_unique
    ON audit.file_ingestion_log (dataset, sha256)
    WHERE status NOT IN ('duplicate', 'validation_failed', 'processing_failed', 'loading_failed');

CREATE INDEX file_ingestion_log_status_idx ON audit.file_ingestion_log (status, updated_at);
CREATE INDEX file_ingestion_log_created_idx ON audit.file_ingestion_log (created_at);
