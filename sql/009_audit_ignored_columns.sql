-- The columns a file had beyond its contract, dropped because the contract says
-- `extra_columns: ignore`: the audit row keeps their names, so what was left out of the
-- warehouse stays visible. NULL when the file had none (or the contract rejects extra columns).
ALTER TABLE audit.file_ingestion_log
    ADD COLUMN ignored_columns text[];
