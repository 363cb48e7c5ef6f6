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

_WEIGHTS = np.random.default_rng(0x6D6470).integers(1, 2**32, 64, dtype=np.uint64) | 1


HASH_CHUNK_ROWS = 8192
"""Keys hashed per numpy pass. The hash needs a few 8-byte temporaries per key *byte*: hashing a
whole batch at once was the largest single item of the transform's peak memory."""


def bucket_of(keys: pa.Array, buckets: int) -> np.ndarray:
    """Bucket number per key: a fixed random linear hash over the key's UTF-8 bytes.

    Computed on Arrow's own offset and data buffers with numpy, so no Python object is made per
    row, ``HASH_CHUNK_ROWS`` keys at a time so the temporaries stay small.
    """
    n = len(keys)
    if buckets == 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if n > HASH_CHUNK_ROWS:
        return np.concatenate(
            [
                bucket_of(keys.slice(start, HASH_CHUNK_ROWS), buckets)
                for start in range(0, n, HASH_CHUNK_ROWS)
            ]
        )
    keys = pc.cast(keys, pa.large_string()) if keys.type != pa.large_string() else keys
    keys = pa.concat_arrays([keys])  # drop any slice offset: buffers then start at row 0
    _, offsets_buf, data_buf = keys.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1)
    data = np.frombuffer(data_buf, dtype=np.uint8, count=int(offsets[-1])) if data_buf else None
    lengths = np.diff(offsets)
    hashed = np.zeros(n, dtype=np.uint64)
    if data is not None and len(data):
        position = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        terms = data.astype(np.uint64) * _WEIGHTS[position % len(_WEIGHTS)]
        nonempty = lengths > 0
        hashed[nonempty] = np.add.reduceat(terms, offsets[:-1][nonempty])
    bucket: np.ndarray = ((hashed >> np.uint64(17)) % np.uint64(buckets)).astype(np.int64)
    return bucket


SPILL_COMPRESSION: str | None = None
"""Compression of the spilled buckets: none. They live on local scratch disk for seconds, and
compressing them cost more time than the disk it saved was worth (docs/benchmark.md)."""


def spill(
    batches: Iterator[pa.RecordBatch],
    schema: pa.Schema,
    key: str,
    buckets: int,
    directory: Path,
) -> list[Path]:
    """Write every row to ``directory/bucket-N.arrow`` by the hash of ``key``.

    Arrow IPC streams, not Parquet: an IPC writer writes each batch straight through and keeps no
    buffers of its own, so memory does not grow with the number of buckets (that is, with the
    file size); Parquet writers each hold page and compression buffers."""
    paths = [directory / f"bucket-{i:04d}.arrow" for i in range(buckets)]
    options = pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)
    sinks = [pa.OSFile(str(p), "wb") for p in paths]
    writers = [pa.ipc.new_stream(s, schema, options=options) for s in sinks]
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
        for w, s in zip(writers, sinks, strict=True):
            w.close()
            s.close()
    return paths


def read_bucket(path: Path) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_stream(source).read_all()
