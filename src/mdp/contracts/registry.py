"""Read a directory of contract files, check them, and serve the active contract of a dataset.

A contracts directory holds ``*.yaml`` files, one document each (``mdp.contracts.model``). Several
versions of one dataset may sit side by side; the highest ``version`` is the active one, and each
newer version must be a safe evolution of the one before (``mdp.contracts.checks``). Files are
read by ``mdp.contracts.loading``.

Which directory: ``CONTRACTS__DIR`` when set (it *replaces* the built-ins: what is mounted is
exactly what runs), else the built-ins shipped in the package (``contracts/`` at the repository
root, ``mdp/contracts/builtin`` in the wheel).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from mdp.contracts.base import Contract
from mdp.contracts.checks import check_directory, check_document
from mdp.contracts.loading import ContractVersion, Problem, build_contract, parse_file
from mdp.errors import ConfigError

CONTRACT_FILES = "*.yaml"
"""The contract files of a directory: one document each, any other file is ignored."""


@dataclass
class Registry:
    """Every valid contract of one directory, by dataset, oldest version first."""

    directory: Path
    versions: dict[str, list[ContractVersion]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def active(self) -> dict[str, Contract]:
        """The highest version of each dataset, by dataset name (sorted)."""
        return {name: self.versions[name][-1].contract for name in sorted(self.versions)}

    def get(self, dataset: str) -> Contract:
        """The active contract of ``dataset``; KeyError names the known datasets."""
        try:
            return self.versions[dataset][-1].contract
        except KeyError:
            raise KeyError(
                f"unknown dataset {dataset!r}; known: {', '.join(sorted(self.versions))}"
            ) from None


def builtin_dir() -> Path:
    """The built-in contracts shipped in the package (installed) or at the repository root."""
    packaged = resources.files("mdp.contracts") / "builtin"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "contracts"


def builtin_contract(dataset: str) -> Contract:
    """The active built-in contract of ``dataset``, whatever ``CONTRACTS__DIR`` says."""
    return _cached(builtin_dir().resolve()).get(dataset)


def configured_dir() -> Path:
    """``CONTRACTS__DIR`` if set, else the built-ins."""
    from mdp.config import ContractSettings

    return ContractSettings().dir or builtin_dir()


def registry() -> Registry:
    """The registry of the configured directory; ConfigError lists every problem in it."""
    return _cached(configured_dir().resolve())


@cache
def _cached(directory: Path) -> Registry:
    reg = load_directory(directory)
    if reg.problems:
        raise ConfigError(
            f"invalid contracts in {directory} (CONTRACTS__DIR); `mdp contracts check` says:\n"
            + "\n".join(str(p) for p in reg.problems)
        )
    if not reg.versions:
        raise ConfigError(f"no contract files (*.yaml) in {directory} (CONTRACTS__DIR)")
    return reg


def load_directory(directory: Path) -> Registry:
    """Read and check every ``*.yaml`` file of ``directory``; problems are collected, not raised."""
    reg = Registry(directory)
    if not directory.is_dir():
        reg.problems.append(Problem(str(directory), "(directory)", "not a directory"))
        return reg
    loaded: list[ContractVersion] = []
    for path in sorted(directory.glob(CONTRACT_FILES)):
        version, problems = load_file(path)
        reg.problems += problems
        if version is not None:
            loaded.append(version)
    reg.problems += check_directory(loaded)
    for v in sorted(loaded, key=lambda v: (v.document.dataset, v.document.version)):
        reg.versions.setdefault(v.document.dataset, []).append(v)
    return reg


def load_file(path: Path) -> tuple[ContractVersion | None, list[Problem]]:
    """Parse, schema-check and semantically check one file."""
    doc, problems = parse_file(path)
    if doc is None:
        return None, problems
    found, rules = check_document(doc)
    if found:
        return None, [Problem(str(path), p, m) for p, m in found]
    return ContractVersion(path, doc, build_contract(doc, rules, path)), []


def describe(version: ContractVersion) -> Mapping[str, Any]:
    """The active contract as ``mdp contracts show`` prints it: the document plus its source."""
    return {
        "source": str(version.path),
        **version.document.model_dump(mode="json", exclude_none=True),
    }
