"""Hash partitioning of large files into buckets (no servers needed)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from mdp.transform.partition import bucket_of


def test_buckets_are_stable_and_spread() -> None:
    keys = pa.array([f"S{i:09d}" for i in range(20_000)])
    a = bucket_of(keys, 8)
    assert np.array_equal(a, bucket_of(keys, 8))
    counts = np.bincount(a, minlength=8)
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
    same_suffix = pa.array([f"{i}-X" for i in range(20_000)])
    assert np.bincount(bucket_of(same_suffix, 8), minlength=8).min() > 0
