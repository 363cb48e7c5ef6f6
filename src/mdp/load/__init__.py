"""The load step: merge transformed Parquet into the warehouse in one transaction per file."""
