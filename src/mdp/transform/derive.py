"""Which warehouse tables a bucket of validated rows becomes.

Every dataset gets its main table, the newest row per key under the contract's order; a dataset
whose contract names an extension also gets the extension's tables (``mdp.extensions``), derived
from those newest rows. Every table is deduplicated here under its own spec's order, so the load
never receives a key twice, whoever computed the rows.
"""

from __future__ import annotations

import pyarrow as pa

from mdp.contracts import Contract
from mdp.extensions import Extension
from mdp.transform.dedupe import keep_max
from mdp.warehouse.tables import main_table


def derive_tables(contract: Contract, extension: Extension, rows: pa.Table) -> dict[str, pa.Table]:
    """The rows of every table of the dataset, by table name, from one bucket of rows."""
    main = main_table(contract)
    newest = keep_max(rows, main)
    specs = {spec.name: spec for spec in extension.tables(contract)}
    derived = extension.derive(contract, newest)
    return {main.name: newest} | {name: keep_max(t, specs[name]) for name, t in derived.items()}


def partition_key(contract: Contract) -> str:
    """Hash-partition column: every row that can collide in any derived table shares it. The
    first key column does; an extension's tables are keyed by it too (``mdp.extensions``)."""
    return contract.key_columns[0]
