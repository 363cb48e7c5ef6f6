"""Vectorised typing and rules on single batches (no servers needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from mdp.contracts import Column, ColumnType, Contract
from mdp.contracts.registry import builtin_contract
from mdp.validate.checks import check_batch
from tests.support.samples import sales_row

SALES = builtin_contract("sales")

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _one_column(column: Column) -> Contract:
    return Contract(dataset="t", description="", columns=(column,), key_columns=())


def _check(column: Column, values: list[object], native: bool = False) -> dict[int, str]:
    arr = pa.array(values) if native else pa.array(values, pa.string())
    result = check_batch(_one_column(column), {column.name: arr}, NOW, native=native)
    return {i: r for i, r in enumerate(result.first_rule.to_pylist()) if r is not None}


def test_integers() -> None:
    col = Column("n", ColumnType.INT64, "", minimum=0, exclusive_minimum=True)
    got = _check(col, ["1", " 2 ", "3.0", "-1", "0", "x", "1.5", "99999999999999999999", ""])
    assert got == {
        3: "minimum",
        4: "minimum",
        5: "type",
        6: "type",
        7: "integer_overflow",
        8: "not_null",
    }


def test_floats() -> None:
    col = Column("f", ColumnType.FLOAT64, "", minimum=0, maximum=100)
    got = _check(col, ["1.5", ".5", "1e2", "1e3", "-0.1", "NaN", "-inf", "1e400", "1,5"])
    assert got == {
        3: "maximum",
        4: "minimum",
        5: "not_finite",
        6: "not_finite",
        7: "not_finite",
        8: "type",
    }


def test_timestamps() -> None:
    col = Column(
        "t",
        ColumnType.TIMESTAMP,
        "",
        future_tolerance_s=3600,
        earliest=datetime(2000, 1, 1, tzinfo=UTC),
    )
    got = _check(
        col,
        [
            "2026-03-01T10:00:00Z",
            "2026-03-01 10:00:00",
            "2026-03-01",
            "2026-03-01T10:00:00+02:00",
            "2026-03-01T10:00:00.123456Z",
            "1999-12-31T00:00:00Z",
            "2026-03-02T02:00:00Z",
            "2026-02-30T00:00:00Z",
            "01/03/2026",
        ],
    )
    assert got == {5: "too_early", 6: "in_future", 7: "type", 8: "type"}


def test_naive_timestamps_mean_utc() -> None:
    col = Column("t", ColumnType.TIMESTAMP, "")
    result = check_batch(
        _one_column(col), {"t": pa.array(["2026-03-01 10:00:00"])}, NOW, native=False
    )
    assert result.valid.column(0)[0].as_py() == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_strings() -> None:
    col = Column("s", ColumnType.STRING, "", max_length=5, pattern=r"[a-z]+", reject_formula=True)
    got = _check(col, ["abc", "abcdef", "ABC", "=abc", "-x", "@x", "a b"])
    assert got == {
        1: "max_length",
        2: "pattern",
        3: "pattern",
        4: "pattern",
        5: "pattern",
        6: "pattern",
    }
    col = Column("s", ColumnType.STRING, "", reject_formula=True)
    assert _check(col, ["ok", "=1+1", "+1", "-1", "@SUM(A1)", "a=b"]) == {
        1: "formula_like",
        2: "formula_like",
        3: "formula_like",
        4: "formula_like",
    }


def test_native_parquet_types() -> None:
    col = Column("n", ColumnType.INT64, "")
    assert _check(col, [1.0, 2.5, None, float("nan")], native=True) == {
        1: "type",
        2: "not_null",
        3: "type",
    }
    uint = pa.array([1, 2**64 - 1], pa.uint64())
    result = check_batch(_one_column(col), {"n": uint}, NOW, native=True)
    assert result.first_rule.to_pylist() == [None, "integer_overflow"]


def test_cross_field_rule_and_first_rule_order() -> None:
    rows = [sales_row(1), sales_row(2, total_amount=9.99), sales_row(3, quantity=-1)]
    cols = {c: pa.array([str(r[c]) for r in rows]) for c in SALES.column_names}
    result = check_batch(SALES, cols, NOW, native=False)
    assert result.first_rule.to_pylist() == [None, "total_mismatch", "minimum"]
    assert result.first_column.to_pylist() == [None, None, "quantity"]
    assert result.valid.num_rows == 1


@pytest.mark.parametrize("total", ["7.50", "7.51", "7.49"])
def test_total_tolerance_is_one_cent(total: str) -> None:
    cols = {c: pa.array([str(sales_row(1, total_amount=total)[c])]) for c in SALES.column_names}
    assert check_batch(SALES, cols, NOW, native=False).valid.num_rows == 1
