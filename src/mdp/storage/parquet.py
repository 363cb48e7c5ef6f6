"""Open local Parquet files for bounded-memory batch reading."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

READ_BUFFER_BYTES = 1024 * 1024


def open_parquet(path: Path) -> pq.ParquetFile:
    """A ParquetFile that reads through a fixed-size buffer without pre-buffering.

    pyarrow's defaults pre-buffer whole column chunks, and iterating a 4M-row file that way
    peaked at 244 MiB against 166 MiB for 1M rows; buffered reading stays at ~170 MiB for both.
    """
    return pq.ParquetFile(path, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
