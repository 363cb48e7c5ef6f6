"""The validate step: detect format, check the contract, write typed Parquet or quarantine."""
