"""Read one contract file: YAML, then the file format's models, then the frozen ``Contract``.

Reading is strict where PyYAML is lenient: a key written twice in one mapping is refused (PyYAML
keeps the last one), and timestamps stay text (YAML 1.1 would turn ``2000-01-01`` into a date,
while the schema, like JSON, expects a string). What the models cannot say is judged by
``mdp.contracts.checks``; ``mdp.contracts.registry`` puts the two together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mdp.contracts.base import Column, ColumnType, Contract, CsvDialect, RowRule
from mdp.contracts.model import ContractFile


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a contract file."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


@dataclass(frozen=True)
class ContractVersion:
    """A checked contract file: the document as written and the contract built from it."""

    path: Path
    document: ContractFile
    contract: Contract


@cache
def _loader() -> Any:
    """A SafeLoader that keeps timestamps as text (YAML 1.1 turns 2000-01-01 into a date
    object, while the schema, like JSON, expects a string) and refuses a key written twice in
    one mapping (PyYAML would silently keep the last one). PyYAML is imported here, when a
    contract is first read, not when a step module is imported."""
    import yaml

    class KeepTimestampsAsText(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    KeepTimestampsAsText.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return KeepTimestampsAsText


def read_document(path: Path) -> Any:
    """The YAML document of ``path``, parsed the way the schema sees it."""
    import yaml

    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_loader())  # noqa: S506 - a SafeLoader


def parse_file(path: Path) -> tuple[ContractFile | None, list[Problem]]:
    """The document of ``path`` as the file format's model, or the problems that stop it."""
    import yaml

    name = str(path)
    try:
        raw = read_document(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return None, [Problem(name, "(document)", " ".join(str(e).split()))]
    if not isinstance(raw, dict):
        return None, [Problem(name, "(document)", "must be a mapping with dataset, version, ...")]
    try:
        return ContractFile.model_validate(raw), []
    except ValidationError as e:
        return None, [Problem(name, _path(err["loc"]), err["msg"]) for err in e.errors()]


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def build_contract(doc: ContractFile, rules: list[RowRule], path: Path) -> Contract:
    """The contract of a checked document, with its compiled rules."""
    return Contract(
        dataset=doc.dataset,
        description=doc.description,
        columns=tuple(_column(c) for c in doc.columns),
        key_columns=tuple(doc.key),
        row_rules=tuple(rules),
        max_reject_ratio=doc.max_reject_ratio,
        warehouse_table=doc.table,
        version=doc.version,
        newer=tuple(doc.newer),
        extension=doc.extension,
        source=str(path),
        csv=CsvDialect() if doc.csv is None else CsvDialect(**doc.csv.model_dump()),
        xlsx_sheet=None if doc.xlsx is None else doc.xlsx.sheet,
        extra_columns=doc.extra_columns,
        max_uncompressed_bytes=doc.max_uncompressed_bytes,
    )


def _column(c: Any) -> Column:
    return Column(
        name=c.name,
        type=ColumnType(c.type),
        description=c.description,
        nullable=c.nullable,
        minimum=c.minimum,
        maximum=c.maximum,
        exclusive_minimum=c.exclusive_minimum,
        earliest=None if c.earliest is None else datetime.fromisoformat(c.earliest),
        future_tolerance_s=c.future_tolerance_seconds,
        max_length=c.max_length,
        allowed=None if c.allowed is None else frozenset(c.allowed),
        pattern=c.pattern,
        reject_formula=c.reject_formula,
        max_null_ratio=c.max_null_ratio,
        sql_type=c.sql_type,
    )
