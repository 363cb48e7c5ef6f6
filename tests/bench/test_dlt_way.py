"""bench/dlt_way.py: dlt's view of the sales file is the contract's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from bench import dlt_way
from mdp.contracts import get_contract


def test_schema_is_the_sales_contract() -> None:
    """Written out by hand (no pydantic in dlt's start-up): it must not drift from the
    contract the steps validate against."""
    assert get_contract("sales").arrow_schema() == dlt_way.SCHEMA


def test_only_an_empty_field_is_null(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    names = dlt_way.SCHEMA.names
    row = "S-1,2026-03-01T10:00:00Z,C1,Ann,P1,Pen,Books,2,1.50,3.00,EUR,card"
    csv.write_text(",".join(names) + "\n" + row + ",NA\n" + row.replace("S-1", "S-2") + ",\n")
    table = pa.concat_tables(dlt_way.read_tables(csv))
    assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in dlt_way.SCHEMA]
    assert table.column("region").to_pylist() == ["NA", None]
