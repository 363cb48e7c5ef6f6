"""What a contract's schema cannot say: checks across fields, files and versions.

Every problem is reported as ``FILE: PATH: what is wrong`` (PATH like ``columns[3].pattern``),
all problems of every file at once, so one run of ``mdp contracts check`` lists everything to fix.
Between versions of one dataset the rules of ``mdp.contracts.evolution`` apply, the same ones
``mdp db migrate`` applies to the live table, so a directory that passes is one migrate can apply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from mdp.contracts.base import RowRule
from mdp.contracts.evolution import plan, shape_of
from mdp.contracts.expressions import ExpressionError, compile_rule
from mdp.contracts.loading import ContractVersion, Problem
from mdp.contracts.model import ContractFile, sql_type_ok

_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\\[1-9]")
EXTENSIONS_DIR = Path(__file__).resolve().parents[1] / "extensions"
"""The package of the code extensions (``mdp.extensions``), one module per extension."""


def known_extensions() -> list[str]:
    """The names a contract's ``extension:`` may say: the modules of ``mdp.extensions``, listed
    from the package's directory, not imported (their code needs the transform's packages, and
    the contracts must not depend on a higher layer)."""
    return sorted(p.stem for p in EXTENSIONS_DIR.glob("*.py") if not p.stem.startswith("_"))


def check_document(doc: ContractFile) -> tuple[list[tuple[str, str]], list[RowRule]]:
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
    problems += _check_csv(doc)
    if doc.extension is not None and doc.extension not in (names := known_extensions()):
        known = ", ".join(names)
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


def _check_csv(doc: ContractFile) -> list[tuple[str, str]]:
    """A dialect the CSV parser could not tell apart: a delimiter that is also the quote or
    the escape, or a line break as either."""
    if doc.csv is None:
        return []
    problems: list[tuple[str, str]] = []
    chars = {"delimiter": doc.csv.delimiter, "quote": doc.csv.quote, "escape": doc.csv.escape}
    for name, char in chars.items():
        if char is not None and char in "\r\n":
            problems.append((f"csv.{name}", "cannot be a line break"))
    if doc.csv.delimiter is not None and doc.csv.delimiter in {doc.csv.quote, doc.csv.escape}:
        problems.append(("csv.delimiter", "must differ from csv.quote and csv.escape"))
    if doc.csv.escape is not None and doc.csv.escape == doc.csv.quote:
        problems.append(("csv.escape", "must differ from csv.quote (doubled quotes need none)"))
    return problems


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


def check_directory(loaded: Sequence[ContractVersion]) -> list[Problem]:
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
