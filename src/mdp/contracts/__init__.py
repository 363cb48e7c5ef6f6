"""Dataset contracts: declared in YAML files, checked, and shared by validation, transform, load,
the generator and ``mdp db migrate``.

A dataset is a file in a contracts directory (``contracts/`` at the repository root holds the
built-ins; ``CONTRACTS__DIR`` names another one). ``mdp.contracts.loading`` reads a file,
``mdp.contracts.checks`` judges it (and each version against the one before, by the rules of
``mdp.contracts.evolution``), ``mdp.contracts.registry`` holds a directory's contracts, and
``get_contract`` serves the active version of a dataset. ``CONTRACTS`` is the active
contracts of the configured directory by dataset name, read when first used.
"""

from __future__ import annotations

from typing import Any

from mdp.contracts.base import Column, ColumnType, Contract, CsvDialect, RowRule


def get_contract(dataset: str) -> Contract:
    """The active contract for ``dataset``; KeyError names the known datasets."""
    from mdp.contracts.registry import registry

    return registry().get(dataset)


def known_datasets() -> list[str]:
    """The datasets of the configured contracts directory, sorted."""
    from mdp.contracts.registry import registry

    return list(registry().active)


def __getattr__(name: str) -> Any:
    if name == "CONTRACTS":
        from mdp.contracts.registry import registry

        return registry().active
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONTRACTS",
    "Column",
    "ColumnType",
    "Contract",
    "CsvDialect",
    "RowRule",
    "get_contract",
    "known_datasets",
]
