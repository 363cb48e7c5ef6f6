"""Rows for any contract, built from its columns alone: a dataset declared in a file gets sample
files without code.

Each column is sampled inside its own rules (allowed values, pattern, bounds, earliest and
future tolerance, maximum length, a share of nulls below its limit), so rows pass the column
checks by construction. Cross-field rules cannot be solved in general; rows are generated and
the contract's own compiled rules keep those that pass. A rule almost no random row passes
(an equality such as ``total = quantity * price``) is a configuration error that names it:
such a dataset needs a generator of its own, as ``sales`` has.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from mdp.contracts import Column, ColumnType, Contract
from mdp.errors import ConfigError
from mdp.generate.patterns import sample

_WINDOW = timedelta(days=7)
_MARGIN = timedelta(hours=1)
"""Timestamps end this long before ``now``: inside any future tolerance, and an update of the
same key 30 minutes later still is."""
_MAX_ROUNDS = 50
"""Candidate batches drawn for one output batch before a cross-field rule is declared unmet."""
_FORMULA_START = ("=", "+", "-", "@")


def _bounds(column: Column) -> tuple[float, float]:
    low = column.minimum if column.minimum is not None else None
    high = column.maximum if column.maximum is not None else None
    if low is None:
        low = 0.0 if high is None or high >= 0 else high - 1000
    if high is None:
        high = low + 1000
    return float(low), float(high)


def _strings(rng: np.random.Generator, column: Column, words: list[str], n: int) -> list[str]:
    if column.allowed:
        pool = sorted(column.allowed)
        return [pool[i] for i in rng.integers(len(pool), size=n)]
    if column.pattern:
        values = [sample(rng, column.pattern) for _ in range(n)]
    else:
        values = [words[i] for i in rng.integers(len(words), size=n)]
    if column.max_length is not None:
        values = [v[: column.max_length] for v in values]
    if column.reject_formula:
        values = [("x" + v[1:]) if v.startswith(_FORMULA_START) else v for v in values]
    return values


def _column(
    rng: np.random.Generator,
    column: Column,
    n: int,
    now: datetime,
    words: list[str],
    ids: np.ndarray,
) -> pa.Array:
    if column.type is ColumnType.STRING:
        if column.pattern is None and not column.allowed and ids.size:
            values: pa.Array = pa.array(ids)
        else:
            values = pa.array(_strings(rng, column, words, n), pa.string())
    elif column.type is ColumnType.INT64:
        low, high = _bounds(column)
        first = int(np.ceil(low)) + (1 if column.exclusive_minimum and low.is_integer() else 0)
        values = pa.array(rng.integers(first, int(np.floor(high)) + 1, n), pa.int64())
    elif column.type is ColumnType.FLOAT64:
        low, high = _bounds(column)
        low = low + 0.01 if column.exclusive_minimum else low
        values = pa.array(np.round(rng.uniform(low, high, n), 2).clip(low, high), pa.float64())
    else:
        latest = now - _MARGIN
        earliest = max(column.earliest or latest - _WINDOW, latest - _WINDOW)
        span = max(int((latest - earliest).total_seconds()), 1)
        start_us = int(earliest.timestamp()) * 1_000_000
        offsets = rng.integers(0, span, n) * 1_000_000
        values = pa.array(start_us + offsets, pa.timestamp("us", tz="UTC"))
    if column.nullable and column.max_null_ratio > 0:
        share = min(0.05, column.max_null_ratio / 2)
        values = pc.if_else(pa.array(rng.random(n) < share), pa.nulls(n, values.type), values)
    return values


def contract_batches(
    rng: np.random.Generator,
    contract: Contract,
    rows: int,
    id_prefix: str,
    now: datetime,
    *,
    seed: int,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """``rows`` valid rows of ``contract`` in batches of its schema. String key columns without a
    pattern get ids unique within the file (``<id_prefix>-<n>``)."""
    fake = Faker()
    fake.seed_instance(seed)
    words = [fake.word() for _ in range(200)]
    schema = contract.arrow_schema()
    done = 0
    while done < rows:
        n = min(batch_rows, rows - done)
        kept: list[pa.RecordBatch] = []
        have = 0
        for _ in range(_MAX_ROUNDS):
            seq = np.arange(done + have, done + have + n)
            ids = np.char.add(f"{id_prefix}-", np.char.zfill(seq.astype(str), 9))
            arrays = {
                c.name: _column(
                    rng, c, n, now, words, ids if c.name in contract.key_columns else np.array([])
                )
                for c in contract.columns
            }
            passing = _passing(contract, arrays, n)
            batch = pa.RecordBatch.from_arrays(
                [arrays[c.name] for c in contract.columns], schema=schema
            ).filter(passing)
            kept.append(batch)
            have += batch.num_rows
            if have >= n:
                break
        else:
            raise ConfigError(
                f"the generator cannot produce rows of {contract.dataset} that pass its rules "
                f"(only {have} of {n} after {_MAX_ROUNDS} tries; {contract.source}): a rule "
                "like an equality needs a generator of its own"
            )
        yield pa.Table.from_batches(kept).slice(0, n).combine_chunks().to_batches()[0]
        done += n


def _passing(contract: Contract, arrays: dict[str, pa.Array], n: int) -> pa.BooleanArray:
    keep = pa.array(np.ones(n, dtype=bool))
    for rule in contract.row_rules:
        ok = pc.fill_null(rule.check(arrays), pa.scalar(True))
        keep = pc.and_(keep, ok)
    return keep
