"""The contract's options for how files arrive: the CSV dialect, the Excel sheet, the policy for
extra columns and the decompression limit; parsed into the contract, and judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdp.contracts import CsvDialect
from mdp.contracts.registry import load_directory
from tests.contracts.test_registry import plain, problems_of, write


def test_options_reach_the_contract(tmp_path: Path) -> None:
    write(
        tmp_path,
        "orders.yaml",
        plain(
            csv={
                "delimiter": ";",
                "quote": "'",
                "escape": "\\",
                "encoding": "cp1252",
                "header": False,
            },
            xlsx={"sheet": "Orders"},
            extra_columns="ignore",
            max_uncompressed_bytes=1000,
        ),
    )
    contract = load_directory(tmp_path).versions["orders"][-1].contract
    assert contract.csv == CsvDialect(
        delimiter=";", quote="'", escape="\\", encoding="cp1252", header=False
    )
    assert (contract.xlsx_sheet, contract.extra_columns, contract.max_uncompressed_bytes) == (
        "Orders",
        "ignore",
        1000,
    )


def test_without_options_the_contract_behaves_as_before(tmp_path: Path) -> None:
    write(tmp_path, "orders.yaml", plain())
    contract = load_directory(tmp_path).versions["orders"][-1].contract
    assert contract.csv == CsvDialect()
    assert (contract.xlsx_sheet, contract.extra_columns, contract.max_uncompressed_bytes) == (
        None,
        "reject",
        None,
    )


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        ({"csv": {"encoding": "utf-16"}}, "csv.encoding", "Input should be"),
        ({"csv": {"delimiter": ";;"}}, "csv.delimiter", "at most 1 character"),
        ({"csv": {"delimiter": '"'}}, "csv.delimiter", "must differ from csv.quote"),
        ({"csv": {"delimiter": "\n"}}, "csv.delimiter", "cannot be a line break"),
        ({"csv": {"escape": '"'}}, "csv.escape", "must differ from csv.quote"),
        ({"csv": {"separator": ";"}}, "csv.separator", "Extra inputs"),
        ({"extra_columns": "keep"}, "extra_columns", "Input should be"),
        ({"max_uncompressed_bytes": 0}, "max_uncompressed_bytes", "greater than or equal"),
        ({"xlsx": {"sheet": ""}}, "xlsx.sheet", "at least 1 character"),
    ],
)
def test_bad_options_are_problems_with_their_path(
    tmp_path: Path, changes: dict[str, object], path: str, message: str
) -> None:
    write(tmp_path, "orders.yaml", plain(**changes))
    found = problems_of(tmp_path)
    assert any(p == path and message in m for _, p, m in found), found
