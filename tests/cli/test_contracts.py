"""`mdp contracts check/show/schema` as a person runs them: output lines and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mdp import exitcodes
from mdp.cli import main
from mdp.contracts.model import json_schema_text
from mdp.contracts.registry import builtin_dir, load_directory

ORDERS = {
    "dataset": "orders",
    "version": 1,
    "table": "warehouse.orders",
    "key": ["order_id"],
    "columns": [{"name": "order_id", "type": "string"}, {"name": "n", "type": "int64"}],
}


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    directory = tmp_path / "contracts"
    directory.mkdir()
    for f in builtin_dir().glob("*.yaml"):
        shutil.copy(f, directory / f.name)
    return directory


def test_check_prints_ok_per_file(contracts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (contracts / "orders.yaml").write_text(yaml.safe_dump(ORDERS))
    assert main(["contracts", "check", str(contracts)]) == exitcodes.OK
    assert capsys.readouterr().out.splitlines() == [
        f"OK {contracts / 'orders.yaml'}: orders v1 (active)",
        f"OK {contracts / 'sales.yaml'}: sales v1 (active)",
        f"OK {contracts / 'youtube.yaml'}: youtube v1 (active)",
    ]


def test_check_prints_every_problem_and_exits_2(
    contracts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {**ORDERS, "key": ["id"], "rules": [{"name": "r", "check": "n > order_id"}]}
    (contracts / "orders.yaml").write_text(yaml.safe_dump(bad))
    (contracts / "broken.yaml").write_text("dataset: [unclosed\n")
    assert main(["contracts", "check", str(contracts)]) == exitcodes.USAGE
    out = capsys.readouterr().out.splitlines()
    assert f"{contracts / 'orders.yaml'}: key[0]: unknown column 'id'" in out
    assert f"{contracts / 'orders.yaml'}: rules[0].check: cannot compare int64 with string" in out
    assert any(line.startswith(f"{contracts / 'broken.yaml'}: (document): ") for line in out)
    assert f"OK {contracts / 'sales.yaml'}: sales v1 (active)" in out


def test_check_of_an_empty_or_missing_directory_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contracts", "check", str(tmp_path)]) == exitcodes.USAGE
    assert "no contract files" in capsys.readouterr().out
    missing = tmp_path / "nope"
    assert main(["contracts", "check", str(missing)]) == exitcodes.USAGE
    assert f"{missing}: (directory): not a directory" in capsys.readouterr().out


def test_show_prints_the_active_version_with_its_source(
    contracts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (contracts / "orders.yaml").write_text(yaml.safe_dump(ORDERS))
    v2 = {**ORDERS, "version": 2}
    v2["columns"] = [*ORDERS["columns"], {"name": "note", "type": "string", "nullable": True}]
    (contracts / "orders-v2.yaml").write_text(yaml.safe_dump(v2))
    assert main(["contracts", "show", "orders", "--dir", str(contracts), "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["source"], shown["version"]) == (str(contracts / "orders-v2.yaml"), 2)
    assert [c["name"] for c in shown["columns"]] == ["order_id", "n", "note"]
    assert main(["contracts", "show", "sales", "--dir", str(contracts)]) == 0
    as_yaml = yaml.safe_load(capsys.readouterr().out)
    assert as_yaml["rules"][0]["check"] == "abs(total_amount - quantity * unit_price) <= 0.01"


def test_show_follows_contracts_dir_and_names_known_datasets(
    contracts: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (contracts / "orders.yaml").write_text(yaml.safe_dump(ORDERS))
    monkeypatch.setenv("CONTRACTS__DIR", str(contracts))
    assert main(["contracts", "show", "orders"]) == exitcodes.OK
    assert "dataset: orders" in capsys.readouterr().out
    assert main(["contracts", "show", "refunds"]) == exitcodes.USAGE
    assert "unknown dataset 'refunds'; known: orders, sales, youtube" in capsys.readouterr().err


def test_schema_command_writes_the_published_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["contracts", "schema"]) == exitcodes.OK
    assert capsys.readouterr().out == json_schema_text()
    target = tmp_path / "schema.json"
    assert main(["contracts", "schema", "--output", str(target)]) == exitcodes.OK
    assert target.read_text(encoding="utf-8") == json_schema_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "must be a mapping with dataset, version"),
        (b"\xff\xfe\x00d", "codec can't decode"),
        (b"dataset: orders\nversion: 1\ndataset: again\n", "duplicate key 'dataset'"),
        (b"dataset: orders\n  version: 1\n", "mapping values are not allowed"),
    ],
    ids=["empty file", "not UTF-8", "a key twice", "bad indentation"],
)
def test_unreadable_files_are_problems_not_crashes(
    tmp_path: Path, content: bytes, message: str
) -> None:
    (tmp_path / "x.yaml").write_bytes(content)
    problems = load_directory(tmp_path).problems
    assert len(problems) == 1, problems
    assert problems[0].path == "(document)"
    assert message in problems[0].message
