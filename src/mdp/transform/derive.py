"""Per-dataset derivations: which warehouse tables a bucket of validated rows becomes.

A plain keyed dataset becomes its main table, newest row per key (``keyed_tables``); a dataset
with an extension gets the extension's derivation (``EXTENSION_DERIVE``, see
mdp.warehouse.extensions).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from mdp.contracts import Contract, get_contract, known_datasets
from mdp.transform.dedupe import keep_max
from mdp.warehouse.tables import (
    METRICS_BUCKET_SECONDS,
    SALES_TABLE,
    VIDEO_METRICS,
    main_table,
)

Derive = Callable[[pa.Table], dict[str, pa.Table]]
T = TypeVar("T")


def sales_tables(rows: pa.Table) -> dict[str, pa.Table]:
    """sales: one row per sale_id, the newest version (ties broken by the full row)."""
    return {SALES_TABLE.name: keep_max(rows, SALES_TABLE)}


def video_metrics(snapshots: pa.Table) -> pa.Table:
    """Each snapshot floored to its 30-second bucket; per video and bucket the largest counters
    and the channel and description of the latest snapshot."""
    bucket = pc.floor_temporal(
        snapshots.column("date_updated"), multiple=METRICS_BUCKET_SECONDS, unit="second"
    )
    table = pa.table(
        {
            "video_id": snapshots.column("video_id"),
            "bucket_start": bucket,
            "last_snapshot_at": snapshots.column("date_updated"),
            "channel_id": snapshots.column("channel_id"),
            "channel_name": snapshots.column("channel_name"),
            "description": snapshots.column("description"),
            "max_views": snapshots.column("total_views"),
            "max_likes": snapshots.column("total_likes"),
            "max_dislikes": snapshots.column("total_dislikes"),
        }
    )
    return keep_max(table, VIDEO_METRICS)


def youtube_tables(contract: Contract) -> Derive:
    """youtube: the snapshots table of the active contract (a newer version may add columns),
    then the 30-second metrics."""
    spec = main_table(contract)

    def derive(rows: pa.Table) -> dict[str, pa.Table]:
        snapshots = keep_max(rows, spec)
        return {spec.name: snapshots, VIDEO_METRICS.name: video_metrics(snapshots)}

    return derive


EXTENSION_DERIVE: dict[str, Callable[[Contract], Derive]] = {"youtube_metrics": youtube_tables}
"""Derivations of the contract extensions (mdp.warehouse.extensions), by extension name."""


def keyed_tables(contract: Contract) -> Derive:
    """A plain keyed dataset: its main table, one row per key, the newest version."""
    spec = main_table(contract)

    def derive(rows: pa.Table) -> dict[str, pa.Table]:
        return {spec.name: keep_max(rows, spec)}

    return derive


def derive_for(contract: Contract) -> Derive:
    """The derivation of a dataset: its extension's, or newest-row-per-key."""
    if contract.extension:
        return EXTENSION_DERIVE[contract.extension](contract)
    return keyed_tables(contract)


def partition_key(contract: Contract) -> str:
    """Hash-partition column: every row that can collide in any derived table shares it. The
    first key column does (extension tables of youtube are keyed by video_id too)."""
    return contract.key_columns[0]


class _ByDataset(Mapping[str, T]):
    """A read-only mapping dataset -> f(active contract), so ``DERIVE[dataset]`` follows
    ``CONTRACTS__DIR`` like ``get_contract``."""

    def __init__(self, of: Callable[[Contract], T]) -> None:
        self._of = of

    def __getitem__(self, dataset: str) -> T:
        return self._of(get_contract(dataset))

    def __iter__(self) -> Iterator[str]:
        return iter(known_datasets())

    def __len__(self) -> int:
        return len(known_datasets())


DERIVE: Mapping[str, Derive] = _ByDataset(derive_for)
PARTITION_KEY: Mapping[str, str] = _ByDataset(partition_key)
"""Hash-partition column of each dataset (see ``partition_key``)."""
