"""Keeping the maximum version per key (no servers needed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from mdp.contracts.registry import builtin_contract
from mdp.transform.dedupe import keep_max
from mdp.warehouse.tables import main_table

SALES = builtin_contract("sales")
SALES_TABLE = main_table(SALES)

T = datetime(2026, 3, 1, 10, tzinfo=UTC)


def _sales(rows: list[dict[str, object]]) -> pa.Table:
    base = {
        "customer_id": "C1",
        "customer_name": "Ada",
        "product_id": "P1",
        "product_name": "W",
        "category": "Tools",
        "quantity": 1,
        "unit_price": 1.0,
        "total_amount": 1.0,
        "currency": "EUR",
        "payment_method": "cash",
        "region": "EU",
    }
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=SALES.arrow_schema())


def test_newest_version_wins() -> None:
    t = _sales(
        [
            {"sale_id": "A", "sale_timestamp": T, "quantity": 1},
            {"sale_id": "A", "sale_timestamp": T.replace(hour=11), "quantity": 2},
            {"sale_id": "B", "sale_timestamp": T, "quantity": 3},
        ]
    )
    out = keep_max(t, SALES_TABLE).to_pylist()
    assert [(r["sale_id"], r["quantity"]) for r in out] == [("A", 2), ("B", 3)]


def test_ties_are_broken_by_the_row_not_by_position() -> None:
    rows = [
        {"sale_id": "A", "sale_timestamp": T, "customer_name": "Zed", "region": None},
        {"sale_id": "A", "sale_timestamp": T, "customer_name": "Ann", "region": "EU"},
    ]
    first = keep_max(_sales(rows), SALES_TABLE).to_pylist()
    second = keep_max(_sales(rows[::-1]), SALES_TABLE).to_pylist()
    assert first == second
    assert first[0]["customer_name"] == "Zed"  # customer_id ties, then customer_name decides


def test_null_sorts_below_any_value() -> None:
    rows = [
        {"sale_id": "A", "sale_timestamp": T, "region": None},
        {"sale_id": "A", "sale_timestamp": T, "region": ""},
    ]
    assert keep_max(_sales(rows), SALES_TABLE).to_pylist()[0]["region"] == ""


def test_money_is_rounded_to_cents_before_comparing() -> None:
    t = _sales([{"sale_id": "A", "sale_timestamp": T, "unit_price": 2.499999999}])
    assert keep_max(t, SALES_TABLE).column("unit_price").to_pylist() == [2.5]
