"""The transform step: deduplicate and derive the warehouse tables from the staging Parquet."""
