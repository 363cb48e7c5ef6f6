"""Contract files: the published schema, the built-ins, every way a file can be wrong, versions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mdp.contracts import get_contract, known_datasets
from mdp.contracts.currencies import ISO_4217
from mdp.contracts.loading import read_document
from mdp.contracts.model import json_schema_text
from mdp.contracts.registry import builtin_contract, builtin_dir, load_directory, registry
from mdp.errors import ConfigError

SALES = builtin_contract("sales")
YOUTUBE = builtin_contract("youtube")

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "contracts" / "contract.schema.json"


def plain(**changes: Any) -> dict[str, Any]:
    """A small valid contract document, with top-level ``changes``."""
    doc: dict[str, Any] = {
        "dataset": "orders",
        "version": 1,
        "table": "warehouse.orders",
        "key": ["order_id"],
        "newer": ["updated_at"],
        "columns": [
            {"name": "order_id", "type": "string", "pattern": "[A-Z]{2}[0-9]{1,8}"},
            {"name": "updated_at", "type": "timestamp"},
            {
                "name": "amount",
                "type": "float64",
                "minimum": 0,
                "maximum": 1e6,
                "sql_type": "numeric(12,2)",
            },
            {"name": "note", "type": "string", "nullable": True, "max_length": 50},
        ],
        "rules": [{"name": "positive", "check": "amount >= 0"}],
    }
    doc.update(changes)
    return doc


def write(directory: Path, name: str, doc: Any) -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False) if not isinstance(doc, str) else doc)
    return path


def problems_of(directory: Path) -> list[tuple[str, str, str]]:
    reg = load_directory(directory)
    return [(Path(p.file).name, p.path, p.message) for p in reg.problems]


def test_committed_schema_is_generated_from_the_models() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == json_schema_text(), (
        "contracts/contract.schema.json is stale: run `mdp contracts schema --output "
        "contracts/contract.schema.json`"
    )


@pytest.mark.parametrize("name", ["sales.yaml", "youtube.yaml"])
def test_builtin_files_are_valid_against_the_published_schema(name: str) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(read_document(REPO / "contracts" / name))


def test_published_schema_rejects_what_the_loader_rejects() -> None:
    """The schema is real: an unknown field and a bad type fail it, as they fail the loader."""
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    bad = plain(columns=[{"name": "order_id", "type": "decimal", "colour": "red"}])
    messages = [e.message for e in validator.iter_errors(bad)]
    assert messages
    assert any("decimal" in m for m in messages)


def test_builtins_are_the_repository_files_and_load_cleanly() -> None:
    assert builtin_dir() == REPO / "contracts"
    reg = load_directory(builtin_dir())
    assert reg.problems == []
    assert list(reg.active) == ["sales", "youtube"]
    assert SALES.source is not None and SALES.source.endswith("sales.yaml")
    assert (SALES.version, SALES.newer, YOUTUBE.extension) == (
        1,
        ("sale_timestamp",),
        "youtube_metrics",
    )


def test_sales_currencies_are_the_iso_4217_list() -> None:
    assert SALES.column("currency").allowed == ISO_4217


def test_valid_plain_contract_loads(tmp_path: Path) -> None:
    write(tmp_path, "orders.yaml", plain())
    reg = load_directory(tmp_path)
    assert reg.problems == []
    orders = reg.get("orders")
    assert orders.key_columns == ("order_id",)
    assert orders.newer == ("updated_at",)
    assert orders.row_rules[0].columns == ("amount",)
    assert orders.column("amount").pg_type() == "numeric(12,2)"


BAD_DOCUMENTS = [
    ("not yaml", "a: [1, 2", "(document)", "expected"),
    ("a list", "- 1\n- 2\n", "(document)", "must be a mapping"),
    (
        "missing dataset",
        {k: v for k, v in plain().items() if k != "dataset"},
        "dataset",
        "required",
    ),
    ("bad dataset name", plain(dataset="Orders"), "dataset", "pattern"),
    ("version zero", plain(version=0), "version", "greater than or equal to 1"),
    ("unknown field", plain(owner="me"), "owner", "Extra inputs"),
    ("table outside warehouse", plain(table="public.orders"), "table", "pattern"),
    ("empty key", plain(key=[]), "key", "at least 1"),
    (
        "unknown type",
        plain(columns=[{"name": "order_id", "type": "decimal"}]),
        "columns[0].type",
        "string",
    ),
    (
        "bad sql_type",
        plain(columns=[{"name": "order_id", "type": "string", "sql_type": "blob"}]),
        "columns[0].sql_type",
        "pattern",
    ),
    ("reject ratio 1", plain(max_reject_ratio=1), "max_reject_ratio", "less than 1"),
]


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [case[1:] for case in BAD_DOCUMENTS],
    ids=[case[0] for case in BAD_DOCUMENTS],
)
def test_schema_errors_name_file_and_path(
    tmp_path: Path, doc: Any, path: str, message: str
) -> None:
    write(tmp_path, "orders.yaml", doc)
    found = problems_of(tmp_path)
    assert any(f == "orders.yaml" and p == path and message in m for f, p, m in found), found


def _columns(*changes: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
    columns = [dict(c) for c in plain()["columns"]]
    for i, change in changes:
        columns[i].update(change)
    return columns


SEMANTIC = [
    ("unknown key column", plain(key=["id"]), "key[0]", "unknown column 'id'"),
    ("key twice", plain(key=["order_id", "order_id"]), "key[1]", "listed twice"),
    (
        "nullable key",
        plain(columns=_columns((0, {"nullable": True}))),
        "key[0]",
        "is nullable",
    ),
    ("unknown newer column", plain(newer=["ts"]), "newer[0]", "unknown column 'ts'"),
    ("newer is the key", plain(newer=["order_id"]), "newer[0]", "is a key column"),
    (
        "duplicate column",
        plain(columns=[*_columns(), {"name": "note", "type": "string", "nullable": True}]),
        "columns[4].name",
        "duplicate column 'note'",
    ),
    (
        "null ratio on a required column",
        plain(columns=_columns((2, {"max_null_ratio": 0.5}))),
        "columns[2].max_null_ratio",
        "only a nullable column",
    ),
    (
        "bad regex",
        plain(columns=_columns((0, {"pattern": "[A-Z"}))),
        "columns[0].pattern",
        "bad regular expression",
    ),
    (
        "look-ahead is not RE2",
        plain(columns=_columns((0, {"pattern": "(?=A)[A-Z]+"}))),
        "columns[0].pattern",
        "RE2",
    ),
    (
        "pattern on a number",
        plain(columns=_columns((2, {"pattern": "[0-9]+"}))),
        "columns[2].pattern",
        "does not apply to a float64 column",
    ),
    (
        "minimum above maximum",
        plain(columns=_columns((2, {"minimum": 5, "maximum": 1}))),
        "columns[2].maximum",
        "below minimum",
    ),
    (
        "earliest without zone",
        plain(columns=_columns((1, {"earliest": "2020-01-01T00:00:00"}))),
        "columns[1].earliest",
        "time zone",
    ),
    (
        "earliest not a date",
        plain(columns=_columns((1, {"earliest": "yesterday"}))),
        "columns[1].earliest",
        "not an ISO 8601",
    ),
    (
        "sql_type of another type",
        plain(columns=_columns((1, {"sql_type": "text"}))),
        "columns[1].sql_type",
        "cannot hold a timestamp",
    ),
    (
        "allowed twice",
        plain(columns=_columns((3, {"allowed": ["a", "a"]}))),
        "columns[3].allowed",
        "twice",
    ),
    (
        "bookkeeping name",
        plain(columns=[*_columns(), {"name": "loaded_at", "type": "timestamp", "nullable": True}]),
        "columns[4].name",
        "bookkeeping",
    ),
    ("unknown extension", plain(extension="magic"), "extension", "unknown extension 'magic'"),
    (
        "rule on unknown column",
        plain(rules=[{"name": "r", "check": "total >= 0"}]),
        "rules[0].check",
        "unknown column 'total'",
    ),
    (
        "rule comparing a timestamp with a number",
        plain(rules=[{"name": "r", "check": "updated_at > 3"}]),
        "rules[0].check",
        "cannot compare timestamp with int64",
    ),
    (
        "rule with a function call",
        plain(rules=[{"name": "r", "check": "__import__('os') == 1"}]),
        "rules[0].check",
        "only function is abs()",
    ),
    (
        "duplicate rule",
        plain(rules=[{"name": "r", "check": "amount >= 0"}, {"name": "r", "check": "amount < 9"}]),
        "rules[1].name",
        "duplicate rule",
    ),
]


@pytest.mark.parametrize(
    ("doc", "path", "message"),
    [case[1:] for case in SEMANTIC],
    ids=[case[0] for case in SEMANTIC],
)
def test_semantic_errors_name_file_and_path(
    tmp_path: Path, doc: Any, path: str, message: str
) -> None:
    write(tmp_path, "orders.yaml", doc)
    found = problems_of(tmp_path)
    assert any(f == "orders.yaml" and p == path and message in m for f, p, m in found), found


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        "orders.yaml",
        plain(key=["id"], newer=["ts"], rules=[{"name": "r", "check": "nope > 1"}]),
    )
    paths = {p for _, p, _ in problems_of(tmp_path)}
    assert {"key[0]", "newer[0]", "rules[0].check"} <= paths


def test_highest_version_is_active(tmp_path: Path) -> None:
    write(tmp_path, "orders-v1.yaml", plain())
    v2 = plain(version=2)
    v2["columns"] = [*v2["columns"], {"name": "channel", "type": "string", "nullable": True}]
    write(tmp_path, "orders-v2.yaml", v2)
    reg = load_directory(tmp_path)
    assert reg.problems == []
    assert reg.get("orders").version == 2
    assert [v.document.version for v in reg.versions["orders"]] == [1, 2]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"type": "int64", "sql_type": None}, "type change from numeric(12,2) to bigint"),
        ({"sql_type": "numeric(12,4)"}, "type change from numeric(12,2) to numeric(12,4)"),
    ],
)
def test_unsafe_change_between_versions_is_reported(
    tmp_path: Path, change: dict[str, Any], why: str
) -> None:
    write(tmp_path, "orders-v1.yaml", plain())
    columns = _columns()
    columns[2] = {k: v for k, v in {**columns[2], **change}.items() if v is not None}
    write(tmp_path, "orders-v2.yaml", plain(version=2, columns=columns))
    found = problems_of(tmp_path)
    assert any(
        f == "orders-v2.yaml" and "unsafe change from version 1" in m and why in m
        for f, _, m in found
    ), found


def test_dropped_column_and_new_required_column_are_unsafe(tmp_path: Path) -> None:
    write(tmp_path, "orders-v1.yaml", plain())
    columns = [c for c in _columns() if c["name"] != "note"]
    columns.append({"name": "channel", "type": "string"})
    write(tmp_path, "orders-v2.yaml", plain(version=2, columns=columns))
    messages = " | ".join(m for _, _, m in problems_of(tmp_path))
    assert "column note: dropped" in messages
    assert "column channel: new NOT NULL column without a default" in messages


def test_same_version_twice_and_shared_table_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", plain())
    write(tmp_path, "b.yaml", plain())
    write(tmp_path, "c.yaml", plain(dataset="refunds"))
    found = problems_of(tmp_path)
    assert ("b.yaml", "version") in {(f, p) for f, p, _ in found}
    assert any(f == "c.yaml" and p == "table" and "already the table" in m for f, p, m in found)


def test_contracts_dir_replaces_the_builtins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "orders.yaml", plain())
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    assert known_datasets() == ["orders"]
    assert get_contract("orders").warehouse_table == "warehouse.orders"
    with pytest.raises(KeyError, match="known: orders"):
        get_contract("sales")


def test_an_invalid_contracts_dir_is_a_config_error_listing_the_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "orders.yaml", plain(key=["id"]))
    monkeypatch.setenv("CONTRACTS__DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"orders\.yaml: key\[0\]: unknown column 'id'"):
        registry()
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CONTRACTS__DIR", str(empty))
    with pytest.raises(ConfigError, match="no contract files"):
        registry()


def test_checking_contracts_needs_no_pyarrow(tmp_path: Path) -> None:
    """The setup Job's image has no pyarrow: `mdp contracts check` must not import it."""
    write(tmp_path, "orders.yaml", plain())
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.compute'] = None\n"
        "from mdp.cli import main\n"
        f"sys.exit(main(['contracts', 'check', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


@pytest.mark.parametrize(
    ("column", "path", "message"),
    [
        (
            {"name": "code", "type": "string", "sql_type": "character varying(8)"},
            "columns[4].max_length",
            "holds 8 characters",
        ),
        (
            {"name": "code", "type": "string", "max_length": 9, "sql_type": "character(8)"},
            "columns[4].max_length",
            "set max_length <= 8",
        ),
        (
            {"name": "price", "type": "float64", "minimum": 0, "sql_type": "numeric(6,2)"},
            "columns[4].maximum",
            "set maximum < 10000",
        ),
        (
            {"name": "price", "type": "float64", "maximum": 1, "sql_type": "numeric(6,2)"},
            "columns[4].minimum",
            "set minimum > -10000",
        ),
    ],
    ids=["varchar without max_length", "char shorter", "numeric without maximum", "no minimum"],
)
def test_values_that_pass_validation_must_fit_the_sql_type(
    tmp_path: Path, column: dict[str, Any], path: str, message: str
) -> None:
    """Otherwise one long value would fail the load of a whole file instead of its row."""
    write(tmp_path, "orders.yaml", plain(columns=[*_columns(), column]))
    found = problems_of(tmp_path)
    assert any(p == path and message in m for _, p, m in found), found


def test_an_allowed_list_that_fits_bounds_a_sized_column(tmp_path: Path) -> None:
    column = {"name": "code", "type": "string", "allowed": ["EUR"], "sql_type": "character(3)"}
    write(tmp_path, "orders.yaml", plain(columns=[*_columns(), column]))
    assert problems_of(tmp_path) == []
