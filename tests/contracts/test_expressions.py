"""The rule expression vocabulary: what compiles, how it evaluates on Arrow, what is refused."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from mdp.contracts.expressions import ExpressionError, compile_rule
from mdp.contracts.registry import builtin_contract

SALES = builtin_contract("sales")
YOUTUBE = builtin_contract("youtube")

TYPES = {
    "q": "int64",
    "price": "float64",
    "total": "float64",
    "n": "int64",
    "start": "timestamp",
    "end": "timestamp",
    "code": "string",
    "other": "string",
}


def run(text: str, **columns: list[Any]) -> list[bool | None]:
    arrays = {
        "q": pa.array(columns.get("q", [1]), pa.int64()),
        "price": pa.array(columns.get("price", [1.0]), pa.float64()),
        "total": pa.array(columns.get("total", [1.0]), pa.float64()),
        "n": pa.array(columns.get("n", [0]), pa.int64()),
        "start": pa.array(columns.get("start", [datetime(2024, 1, 1, tzinfo=UTC)])),
        "end": pa.array(columns.get("end", [datetime(2024, 1, 2, tzinfo=UTC)])),
        "code": pa.array(columns.get("code", ["a"]), pa.string()),
        "other": pa.array(columns.get("other", ["a"]), pa.string()),
    }
    result: list[bool | None] = compile_rule(text, TYPES).check(arrays).to_pylist()
    return result


def test_the_sales_total_rule_keeps_the_cent_tolerance() -> None:
    rule = "abs(total - q * price) <= 0.01"
    # 3 × 19.99 = 59.97; off by exactly one cent passes (0.01 written as text), two cents fail.
    assert run(rule, q=[3, 3, 3], price=[19.99] * 3, total=[59.97, 59.98, 59.99]) == [
        True,
        True,
        False,
    ]


def test_builtin_rules_are_the_expressions() -> None:
    assert [r.name for r in SALES.row_rules] == ["total_mismatch"]
    assert SALES.row_rules[0].columns == ("quantity", "unit_price", "total_amount")
    assert YOUTUBE.row_rules[0].columns == ("date_created", "date_updated")
    created = pa.array([datetime(2024, 1, 2, tzinfo=UTC)] * 2)
    updated = pa.array([datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)])
    check = YOUTUBE.row_rules[0].check
    assert check({"date_created": created, "date_updated": updated}).to_pylist() == [True, False]


@pytest.mark.parametrize(
    ("text", "columns", "expected"),
    [
        ("end >= start", {}, [True]),
        ("end < start", {}, [False]),
        ("q = 1", {"q": [1, 2]}, [True, False]),
        ("q == 1", {"q": [1, 2]}, [True, False]),
        ("q != 1", {"q": [1, 2]}, [False, True]),
        ("0 < q <= 2", {"q": [0, 1, 2, 3]}, [False, True, True, False]),
        ("q > 0 and n >= 0", {"q": [1, 1], "n": [0, -1]}, [True, False]),
        ("q > 5 or n = 0", {"q": [1, 9], "n": [1, 1]}, [False, True]),
        ("not (q > 5)", {"q": [1, 9]}, [True, False]),
        ("-q < 0", {"q": [1, -1]}, [True, False]),
        ("total / q >= 2.5", {"total": [5.0, 4.0], "q": [2, 2]}, [True, False]),
        ("price + 1 - 1 = price", {"price": [0.1]}, [True]),
        ("code = other", {"code": ["a", "b"], "other": ["a", "a"]}, [True, False]),
        ("q >= 1", {"q": [None, 1]}, [None, True]),
    ],
)
def test_vocabulary_evaluates(
    text: str, columns: dict[str, list[Any]], expected: list[Any]
) -> None:
    n = len(expected)
    defaults = {
        "start": [datetime(2024, 1, 1, tzinfo=UTC)] * n,
        "end": [datetime(2024, 1, 2, tzinfo=UTC)] * n,
    }
    filled = {k: columns.get(k, v) for k, v in defaults.items()}
    for name, default in [
        ("q", 1),
        ("price", 1.0),
        ("total", 1.0),
        ("n", 0),
        ("code", "a"),
        ("other", "a"),
    ]:
        filled[name] = columns.get(name, [default] * n)
    assert run(text, **filled) == expected


def test_a_null_row_counts_as_a_pass_in_the_validator() -> None:
    """The validator fills a null result with True: missing values are the not-null rule's."""
    assert run("q >= 1", q=[None]) == [None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("q > ", "not an expression"),
        ("q + 1", "must be a comparison"),
        ("1 < 2", "refers to no column"),
        ("missing > 1", "unknown column 'missing'"),
        ("start > 1", "cannot compare timestamp with int64"),
        ("start - end > 0", "arithmetic needs float64 or int64, not timestamp"),
        ("code < other", "strings can only be compared with = and !="),
        ("code = 'a'", "literal 'a' is not allowed"),
        ("q > True", "literal True is not allowed"),
        ("q ** 2 > 1", "** is not allowed"),
        ("q % 2 = 0", "% is not allowed"),
        ("len(code) > 1", "the only function is abs()"),
        ("abs(q, n) > 1", "exactly one argument"),
        ("q.real > 1", "attribute access is not allowed"),
        ("(lambda: 1)() > 0", "the only function is abs()"),
        ("q in (1, 2)", "in is not allowed"),
        ("(q > 1) = (n > 1)", "cannot compare a condition"),
        ("q and n", "and/or needs bool, not int64"),
        ("not q", "not needs bool"),
        ("abs(start) > 0", "abs() needs float64 or int64"),
    ],
)
def test_refused_expressions_say_why(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_rule(text, TYPES)
