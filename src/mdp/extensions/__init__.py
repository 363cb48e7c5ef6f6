"""Code extensions of dataset contracts: one module per extension, named after it.

A contract's ``extension: <name>`` picks the module ``mdp.extensions.<name>``; its hooks
(``mdp.extensions._hooks``) derive the warehouse tables a contract alone cannot describe, and the
generic transform and load call them through :func:`extension_of`, never an extension by name.
``mdp contracts check`` accepts exactly the names of these modules (``mdp.contracts.checks``
lists them without importing them, so checking contracts needs none of their dependencies).

Adding one: a module here defining ``EXTENSION`` (an :class:`Extension` whose ``name`` is the
module's), listed in :data:`EXTENSIONS`, and a numbered migration in ``sql/`` for its tables.
"""

from __future__ import annotations

from mdp.contracts import Contract
from mdp.extensions import youtube_metrics
from mdp.extensions._hooks import PLAIN, Collector, Extension
from mdp.warehouse.tables import TableSpec, main_table

EXTENSIONS: dict[str, Extension] = {e.name: e for e in (youtube_metrics.EXTENSION,)}


def extension_of(contract: Contract) -> Extension:
    """The extension the contract names, or :data:`PLAIN` for a plain keyed dataset."""
    if contract.extension is None:
        return PLAIN
    return EXTENSIONS[contract.extension]


def tables_for(contract: Contract) -> tuple[TableSpec, ...]:
    """Every table a file of the dataset is merged into: its main table first (the load reports
    that one's counts), then its extension's tables."""
    return (main_table(contract), *extension_of(contract).tables(contract))


__all__ = ["EXTENSIONS", "PLAIN", "Collector", "Extension", "extension_of", "tables_for"]
