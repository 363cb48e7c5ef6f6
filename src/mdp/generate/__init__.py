"""The generate step: realistic sales and youtube files, a share of them deliberately broken;
files of any other contract sampled from its columns."""

FORMATS = ("csv", "csv.gz", "tsv", "json", "parquet", "xlsx")
"""What ``mdp generate --format`` writes (``json`` files alternate array and JSON Lines). Here,
not in the writers, so the command line offers them without importing pyarrow."""
