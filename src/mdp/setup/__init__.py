"""One-time (and every-upgrade) set-up the chart's setup Job runs: storage and database."""
