"""Contract directories for tests: the built-ins, with one contract given more top-level fields."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from mdp.contracts.registry import builtin_dir


def contracts_with(directory: Path, dataset: str = "sales", **fields: Any) -> Path:
    """Copy the built-in contracts into ``directory`` and append ``fields`` (e.g.
    ``csv={"delimiter": ";"}``) to ``dataset``'s contract; returns the directory."""
    for builtin in builtin_dir().glob("*.yaml"):
        shutil.copy(builtin, directory / builtin.name)
    path = directory / f"{dataset}.yaml"
    text = path.read_text(encoding="utf-8").rstrip("\n") + "\n"
    path.write_text(text + yaml.safe_dump(fields, sort_keys=False), encoding="utf-8")
    return directory


def use_contracts(monkeypatch: pytest.MonkeyPatch, directory: Path, **fields: Any) -> None:
    """Make the steps read the built-ins with the sales contract extended by ``fields``."""
    monkeypatch.setenv("CONTRACTS__DIR", str(contracts_with(directory, **fields)))
