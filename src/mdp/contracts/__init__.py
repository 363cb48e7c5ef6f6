"""Dataset contracts, declared once and shared by validation, the generator and the DDL tests.

Adding a dataset means adding one module here and registering it in ``CONTRACTS``.
"""

from __future__ import annotations

from mdp.contracts.base import Column, ColumnType, Contract, RowRule
from mdp.contracts.sales import SALES
from mdp.contracts.youtube import YOUTUBE

CONTRACTS: dict[str, Contract] = {c.dataset: c for c in (SALES, YOUTUBE)}


def get_contract(dataset: str) -> Contract:
    """The contract for ``dataset``; KeyError names the known datasets."""
    try:
        return CONTRACTS[dataset]
    except KeyError:
        raise KeyError(
            f"unknown dataset {dataset!r}; known: {', '.join(sorted(CONTRACTS))}"
        ) from None


__all__ = ["CONTRACTS", "Column", "ColumnType", "Contract", "RowRule", "get_contract"]
