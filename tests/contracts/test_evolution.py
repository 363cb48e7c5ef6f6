"""Which changes to a contract's table are safe (mdp.contracts.evolution), as pure functions:
widenings, and every refusal explained. Applying them to a live table: tests/db."""

from __future__ import annotations

import pytest

from mdp.contracts.evolution import ColumnShape, TableShape, plan, widens


@pytest.mark.parametrize(
    ("old", "new", "ok"),
    [
        ("character varying(20)", "character varying(40)", True),
        ("character varying(20)", "text", True),
        ("character varying(40)", "character varying(20)", False),
        ("numeric(12,2)", "numeric(16,2)", True),
        ("numeric(12,2)", "numeric(16,4)", False),
        ("numeric(12,2)", "numeric(10,2)", False),
        ("text", "character varying(20)", False),
        ("character(3)", "character(4)", False),
        ("bigint", "double precision", False),
    ],
)
def test_widening(old: str, new: str, ok: bool) -> None:
    assert widens(old, new) is ok


def test_plan_is_pure_and_explains_every_refusal() -> None:
    old = TableShape(
        "warehouse.t", (ColumnShape("id", "text", False), ColumnShape("x", "bigint", True)), ("id",)
    )
    new = TableShape(
        "warehouse.t",
        (ColumnShape("id2", "text", False), ColumnShape("x", "bigint", False)),
        ("id2",),
    )
    refusals = " | ".join(plan("t", old, new).refusals)
    assert "key changed from (id) to (id2)" in refusals
    assert "column id: dropped" in refusals
    assert "column id2: new NOT NULL column" in refusals
    assert "column x: nullable column made required" in refusals
