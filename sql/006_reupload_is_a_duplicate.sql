-- Re-uploading the same bytes under the same name after the file finished (loaded and archived,
-- or archived as a duplicate) is a new arrival of a file already in the warehouse: it gets its
-- own row with status 'duplicate' pointing at the loaded one, so the run that saw it can say so.
-- (object_key, sha256) therefore stays unique only among rows that are not such duplicates; a
-- retry of a file still in flight keeps finding and reusing its one row.
ALTER TABLE audit.file_ingestion_log DROP CONSTRAINT file_ingestion_log_key_content_unique;

CREATE UNIQUE INDEX file_ingestion_log_key_content_unique
    ON audit.file_ingestion_log (object_key, sha256)
    WHERE status <> 'duplicate';

CREATE INDEX file_ingestion_log_key_idx ON audit.file_ingestion_log (object_key, sha256, id);
