"""Mini Data Platform: file ingestion from MinIO into PostgreSQL."""
