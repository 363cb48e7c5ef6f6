"""Spill a large file into hash buckets on local disk, so each bucket fits in memory.

Deduplication needs every version of a key side by side. Instead of sorting the whole file in
memory, rows are routed by a hash of their first key column into buckets of bounded size; all
versions of a key land in the same bucket, and buckets are then deduplicated one at a time. Peak
memory is one bucket plus one batch, whatever the file size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

KEY_BYTES = 64
"""Key bytes that feed the hash; contract patterns cap ids at 64 characters."""
_WEIGHTS = np.random.default_rng(0x6D6470).integers(1, 2**32, KEY_BYTES, dtype=np.uint64) | 1


def bucket_of(keys: pa.Array, buckets: int) -> np.ndarray:
    """Bucket number per key: a fixed random linear hash over the key's bytes (vectorised)."""
    if buckets == 1:
        return np.zeros(len(keys), dtype=np.int64)
    raw = pc.cast(pc.utf8_slice_codeunits(keys, 0, KEY_BYTES), pa.binary())
    fixed = np.asarray(raw.to_numpy(zero_copy_only=False), dtype=f"S{KEY_BYTES}")
    matrix = fixed.view(np.uint8).reshape(len(fixed), KEY_BYTES).astype(np.uint64)
    hashed = (matrix * _WEIGHTS).sum(axis=1, dtype=np.uint64)
    bucket: np.ndarray = ((hashed >> np.uint64(17)) % np.uint64(buckets)).astype(np.int64)
    return bucket


def spill(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    key: str,
    buckets: int,
    directory: Path,
) -> list[Path]:
    """Write every row to ``directory/bucket-N.parquet`` by the hash of ``key``."""
    paths = [directory / f"bucket-{i:04d}.parquet" for i in range(buckets)]
    writers = [pq.ParquetWriter(p, schema, compression="lz4") for p in paths]
    try:
        for batch in batches:
            ids = bucket_of(batch.column(key), buckets)
            order = np.argsort(ids, kind="stable")
            ordered = batch.take(pa.array(order))
            bounds = np.searchsorted(ids[order], np.arange(buckets + 1))
            for i in range(buckets):
                if bounds[i + 1] > bounds[i]:
                    writers[i].write_batch(ordered.slice(bounds[i], bounds[i + 1] - bounds[i]))
    finally:
        for w in writers:
            w.close()
    return paths
