"""Read a directory of contract files, check them, and serve the active contract of a dataset.

A contracts directory holds ``*.yaml`` files, one document each (``mdp.contracts.model``). Several
versions of one dataset may sit side by side; the highest ``version`` is the active one, and each
newer version must be a safe evolution of the one before (``mdp.contracts.evolution``), so a
directory that passes ``mdp contracts check`` is one ``mdp db migrate`` can apply.

Every problem is reported as ``FILE: PATH: what is wrong`` (PATH like ``columns[3].pattern``),
all problems of every file at once, so one run of the check lists everything to fix.

Which directory: ``CONTRACTS__DIR`` when set (it *replaces* the built-ins: what is mounted is
exactly what runs), else the built-ins shipped in the package (``contracts/`` at the repository
root, ``mdp/contracts/builtin`` in the wheel).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mdp.contracts.base import Column, ColumnType, Contract, RowRule
from mdp.contracts.evolution import plan, shape_of
from mdp.contracts.expressions import ExpressionError, compile_rule
from mdp.contracts.extensions import EXTENSIONS
from mdp.contracts.model import ContractFile, sql_type_ok
from mdp.errors import ConfigError

_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]")


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
    for path in sorted(directory.glob("*.yaml")):
        version, problems = load_file(path)
        reg.problems += problems
        if version is not None:
            loaded.append(version)
    reg.problems += _check_directory(loaded)
    for v in sorted(loaded, key=lambda v: (v.document.dataset, v.document.version)):
        reg.versions.setdefault(v.document.dataset, []).append(v)
    return reg


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


def load_file(path: Path) -> tuple[ContractVersion | None, list[Problem]]:
    """Parse, schema-check and semantically check one file."""
    import yaml

    name = str(path)
    try:
        raw = read_document(path)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return None, [Problem(name, "(document)", " ".join(str(e).split()))]
    if not isinstance(raw, dict):
        return None, [Problem(name, "(document)", "must be a mapping with dataset, version, ...")]
    try:
        doc = ContractFile.model_validate(raw)
    except ValidationError as e:
        return None, [Problem(name, _path(err["loc"]), err["msg"]) for err in e.errors()]
    problems, rules = _check_document(doc)
    out = [Problem(name, p, m) for p, m in problems]
    if out:
        return None, out
    return ContractVersion(path, doc, _contract(doc, rules, path)), []


def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def _check_document(doc: ContractFile) -> tuple[list[tuple[str, str]], list[RowRule]]:
    """Everything the schema cannot say; (path, message) pairs and the compiled rules."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, col in enumerate(doc.columns):
        if col.name in seen:
            problems.append(
                (f"columns[{i}].name", f"duplicate column {col.name!r} (columns[{seen[col.name]}])")
            )
        seen.setdefault(col.name, i)
        problems += [(f"columns[{i}].{p}", m) for p, m in _check_column(col)]
    problems += _check_key_and_newer(doc)
    if doc.extension is not None and doc.extension not in EXTENSIONS:
        known = ", ".join(sorted(EXTENSIONS))
        problems.append(("extension", f"unknown extension {doc.extension!r} (known: {known})"))
    rules: list[RowRule] = []
    types = {c.name: c.type for c in doc.columns}
    rule_names: set[str] = set()
    for i, rule in enumerate(doc.rules):
        if rule.name in rule_names:
            problems.append((f"rules[{i}].name", f"duplicate rule {rule.name!r}"))
        rule_names.add(rule.name)
        try:
            compiled = compile_rule(rule.check, types)
        except ExpressionError as e:
            problems.append((f"rules[{i}].check", str(e)))
            continue
        rules.append(RowRule(rule.name, rule.description, compiled.columns, compiled.check))
    return problems, rules


def _check_key_and_newer(doc: ContractFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    columns = {c.name: c for c in doc.columns}
    for i, name in enumerate(doc.key):
        if name not in columns:
            problems.append((f"key[{i}]", f"unknown column {name!r}"))
        elif columns[name].nullable:
            problems.append((f"key[{i}]", f"key column {name!r} is nullable; a key needs a value"))
        if doc.key.index(name) != i:
            problems.append((f"key[{i}]", f"{name!r} is listed twice"))
    for i, name in enumerate(doc.newer):
        if name not in columns:
            problems.append((f"newer[{i}]", f"unknown column {name!r}"))
        elif name in doc.key:
            problems.append((f"newer[{i}]", f"{name!r} is a key column; it cannot order versions"))
        if doc.newer.index(name) != i:
            problems.append((f"newer[{i}]", f"{name!r} is listed twice"))
    return problems


_TYPED_FIELDS = {
    "minimum": {"int64", "float64"},
    "maximum": {"int64", "float64"},
    "exclusive_minimum": {"int64", "float64"},
    "earliest": {"timestamp"},
    "future_tolerance_seconds": {"timestamp"},
    "max_length": {"string"},
    "allowed": {"string"},
    "pattern": {"string"},
    "reject_formula": {"string"},
}


def _check_column(col: Any) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for name, types in _TYPED_FIELDS.items():
        if name in col.model_fields_set and col.type not in types:
            problems.append((name, f"does not apply to a {col.type} column"))
    if col.name in ("source_file_id", "loaded_at"):
        problems.append(("name", f"{col.name!r} is a bookkeeping column every table has"))
    if col.max_null_ratio > 0 and not col.nullable:
        problems.append(("max_null_ratio", "only a nullable column may have nulls"))
    if col.exclusive_minimum and col.minimum is None:
        problems.append(("exclusive_minimum", "needs a minimum"))
    if col.minimum is not None and col.maximum is not None and col.minimum > col.maximum:
        problems.append(("maximum", f"is below minimum {col.minimum}"))
    return problems + _check_column_values(col)


def _check_column_values(col: Any) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if col.earliest is not None:
        try:
            when = datetime.fromisoformat(col.earliest)
        except ValueError:
            problems.append(("earliest", f"{col.earliest!r} is not an ISO 8601 date-time"))
        else:
            if when.tzinfo is None:
                problems.append(("earliest", "needs a time zone, e.g. 2000-01-01T00:00:00Z"))
    if col.pattern is not None:
        problems += [("pattern", m) for m in _pattern_problems(col.pattern)]
    if col.allowed is not None and len(set(col.allowed)) != len(col.allowed):
        problems.append(("allowed", "lists a value twice"))
    if col.sql_type is not None and not sql_type_ok(col.type, col.sql_type):
        problems.append(("sql_type", f"{col.sql_type!r} cannot hold a {col.type} column"))
    elif col.sql_type is not None:
        problems += _bounded_by_sql_type(col)
    return problems


_SIZED = re.compile(r"^(character|character varying)\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


def _bounded_by_sql_type(col: Any) -> list[tuple[str, str]]:
    """A value that passes validation must fit the warehouse column: otherwise the load, not
    the validation, would fail on it (a whole file in failed/loading_failed/ for one row)."""
    if (m := _SIZED.match(col.sql_type)) is not None:
        size = int(m[2])
        fits = (col.max_length is not None and col.max_length <= size) or (
            col.allowed is not None and all(len(v) <= size for v in col.allowed)
        )
        if not fits:
            return [
                (
                    "max_length",
                    f"sql_type {col.sql_type} holds {size} characters; set "
                    f"max_length <= {size} (or an allowed list that fits)",
                )
            ]
    if (m := _NUMERIC.match(col.sql_type)) is not None:
        limit = 10.0 ** (int(m[1]) - int(m[2]))
        out = []
        if col.maximum is None or col.maximum >= limit:
            out.append(
                (
                    "maximum",
                    f"sql_type {col.sql_type} holds values below {limit:g}; "
                    f"set maximum < {limit:g}",
                )
            )
        if col.minimum is None or col.minimum <= -limit:
            out.append(
                (
                    "minimum",
                    f"sql_type {col.sql_type} holds values above {-limit:g}; "
                    f"set minimum > {-limit:g}",
                )
            )
        return out
    return []


def _pattern_problems(pattern: str) -> list[str]:
    """Python's parser catches syntax errors; RE2 (what Arrow runs) also lacks look-around and
    back-references, which Python would accept."""
    try:
        re.compile(pattern)
    except re.error as e:
        return [f"bad regular expression: {e}"]
    if _RE2_UNSUPPORTED.search(pattern):
        return ["look-around and back-references are not supported (RE2 syntax)"]
    return []


def _check_directory(loaded: list[ContractVersion]) -> list[Problem]:
    """Across files: one file per (dataset, version), one dataset per table, safe evolutions."""
    problems: list[Problem] = []
    by_dataset: dict[str, list[ContractVersion]] = {}
    for v in sorted(loaded, key=lambda v: (v.document.dataset, v.document.version)):
        by_dataset.setdefault(v.document.dataset, []).append(v)
    tables: dict[str, str] = {}
    for dataset, versions in by_dataset.items():
        for older, newer in pairwise(versions):
            if older.document.version == newer.document.version:
                problems.append(
                    Problem(
                        str(newer.path),
                        "version",
                        f"dataset {dataset} version {newer.document.version} is also "
                        f"declared in {older.path}",
                    )
                )
                continue
            step = plan(dataset, shape_of(older.contract), shape_of(newer.contract))
            problems += [
                Problem(
                    str(newer.path),
                    "(document)",
                    f"unsafe change from version {older.document.version} ({older.path.name}): "
                    f"{why}",
                )
                for why in step.refusals
            ]
        table = versions[-1].document.table
        if table in tables:
            problems.append(
                Problem(
                    str(versions[-1].path),
                    "table",
                    f"{table} is already the table of dataset {tables[table]}",
                )
            )
        tables.setdefault(table, dataset)
    return problems


def _contract(doc: ContractFile, rules: list[RowRule], path: Path) -> Contract:
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


def describe(version: ContractVersion) -> Mapping[str, Any]:
    """The active contract as ``mdp contracts show`` prints it: the document plus its source."""
    return {
        "source": str(version.path),
        **version.document.model_dump(mode="json", exclude_none=True),
    }
