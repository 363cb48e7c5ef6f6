"""Cross-field rules written as small expressions, compiled to vectorised Arrow compute.

A contract file says ``check: abs(total_amount - quantity * unit_price) <= 0.01`` instead of a
Python function. The text is parsed with Python's ``ast`` module and only a whitelist of node
types is accepted (never ``eval``): an expression can read the row's columns and compute, nothing
else. Type checking happens when the contract is loaded, so a rule comparing a timestamp with a
number is a contract error with its path, not a failure in the middle of a file. The compiled
check is the ``RowRule.check`` callable the validator already runs per record batch.

The vocabulary (also the ``check`` description in the published JSON Schema):
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

VOCABULARY = (
    "A boolean expression over the row's columns. Allowed: column names; numeric literals "
    "(3, 0.01, 1e-3); arithmetic + - * / (computed as float64); abs(x); comparisons "
    "= (or ==) != < <= > >=, also chained (0 <= a <= b); and, or, not; parentheses. Numbers "
    "compare with numbers, timestamps with timestamps, strings with strings (= and != only). "
    "A comparison with a float on either side allows an absolute tolerance of 1e-9, so decimals "
    "written as text compare as written. A row whose check is null (a value is missing) passes: "
    "missing values are the column's own not-null rule. Example: "
    "abs(total_amount - quantity * unit_price) <= 0.01; date_updated >= date_created."
)
__doc__ = (__doc__ or "") + "\n" + VOCABULARY + "\n"

FLOAT_EPSILON = 1e-9
"""Absolute tolerance of comparisons involving a float: 0.01 written as text must equal 0.01."""

_NUMBER = {"int64", "float64"}
_LONE_EQUALS = re.compile(r"(?<![<>=!])=(?!=)")

Value = Callable[[Mapping[str, Any]], Any]


class ExpressionError(ValueError):
    """The expression is not in the vocabulary or does not type-check; says what and where."""


@dataclass(frozen=True)
class _Typed:
    kind: str
    """int64, float64, timestamp, string or bool."""
    value: Value
    columns: frozenset[str]


@dataclass(frozen=True)
class CompiledRule:
    columns: tuple[str, ...]
    """Columns the expression reads, in order of first appearance in the contract."""
    check: Callable[[Mapping[str, Any]], Any]
    """Typed Arrow arrays by column name -> boolean array (true where the row passes)."""


def compile_rule(text: str, column_types: Mapping[str, str]) -> CompiledRule:
    """Parse and type-check ``text`` against the contract's ``column_types`` (name -> type)."""
    source = _LONE_EQUALS.sub("==", text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"not an expression: {e.msg} in {text!r}") from None
    typed = _Compiler(column_types).visit(tree.body)
    if typed.kind != "bool":
        raise ExpressionError(f"must be a comparison or a boolean combination, not {typed.kind}")
    if not typed.columns:
        raise ExpressionError("refers to no column")
    columns = tuple(c for c in column_types if c in typed.columns)
    return CompiledRule(columns, typed.value)


def _pc() -> Any:
    import pyarrow.compute as pc

    return pc


class _Compiler:
    def __init__(self, column_types: Mapping[str, str]) -> None:
        self.types = column_types

    def visit(self, node: ast.AST) -> _Typed:
        method = getattr(self, f"_visit_{type(node).__name__.lower()}", None)
        if method is None:
            raise ExpressionError(f"{_describe(node)} is not allowed; {_ALLOWED}")
        result: _Typed = method(node)
        return result

    def _visit_name(self, node: ast.Name) -> _Typed:
        name = node.id
        if name not in self.types:
            known = ", ".join(self.types)
            raise ExpressionError(f"unknown column {name!r} (columns: {known})")
        return _Typed(self.types[name], lambda cols: cols[name], frozenset({name}))

    def _visit_constant(self, node: ast.Constant) -> _Typed:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ExpressionError(f"literal {value!r} is not allowed; only numbers are")
        kind = "int64" if isinstance(value, int) else "float64"
        return _Typed(kind, lambda _cols: value, frozenset())

    def _visit_unaryop(self, node: ast.UnaryOp) -> _Typed:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            _expect(operand, {"bool"}, "not")
            return _Typed("bool", lambda c: _pc().invert(operand.value(c)), operand.columns)
        if isinstance(node.op, ast.USub | ast.UAdd):
            _expect(operand, _NUMBER, "a sign")
            if isinstance(node.op, ast.UAdd):
                return operand
            return _Typed(operand.kind, lambda c: _negate(operand.value(c)), operand.columns)
        raise ExpressionError(f"{_describe(node.op)} is not allowed; {_ALLOWED}")

    def _visit_binop(self, node: ast.BinOp) -> _Typed:
        ops = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
        op = ops.get(type(node.op))
        if op is None:
            raise ExpressionError(f"{_describe(node.op)} is not allowed; {_ALLOWED}")
        left, right = self.visit(node.left), self.visit(node.right)
        _expect(left, _NUMBER, "arithmetic")
        _expect(right, _NUMBER, "arithmetic")

        def compute(cols: Mapping[str, Any]) -> Any:
            pc = _pc()
            return getattr(pc, op)(_as_float(left.value(cols)), _as_float(right.value(cols)))

        return _Typed("float64", compute, left.columns | right.columns)

    def _visit_call(self, node: ast.Call) -> _Typed:
        if not (isinstance(node.func, ast.Name) and node.func.id == "abs"):
            raise ExpressionError(f"{_describe(node)} is not allowed; the only function is abs()")
        if len(node.args) != 1 or node.keywords:
            raise ExpressionError("abs() takes exactly one argument")
        arg = self.visit(node.args[0])
        _expect(arg, _NUMBER, "abs()")
        return _Typed(arg.kind, lambda c: _abs(arg.value(c)), arg.columns)

    def _visit_boolop(self, node: ast.BoolOp) -> _Typed:
        parts = [self.visit(v) for v in node.values]
        for p in parts:
            _expect(p, {"bool"}, "and/or")
        name = "and_kleene" if isinstance(node.op, ast.And) else "or_kleene"

        def combine(cols: Mapping[str, Any]) -> Any:
            pc = _pc()
            result = parts[0].value(cols)
            for p in parts[1:]:
                result = getattr(pc, name)(result, p.value(cols))
            return result

        return _Typed("bool", combine, frozenset().union(*(p.columns for p in parts)))

    def _visit_compare(self, node: ast.Compare) -> _Typed:
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise ExpressionError(f"{_describe(op)} is not allowed; {_ALLOWED}")
        operands = [self.visit(node.left), *(self.visit(c) for c in node.comparators)]
        pairs = [
            _comparison(op, a, b)
            for op, a, b in zip(node.ops, operands, operands[1:], strict=False)
        ]
        if len(pairs) == 1:
            return pairs[0]

        def chained(cols: Mapping[str, Any]) -> Any:
            pc = _pc()
            result = pairs[0].value(cols)
            for p in pairs[1:]:
                result = pc.and_kleene(result, p.value(cols))
            return result

        return _Typed("bool", chained, frozenset().union(*(p.columns for p in pairs)))


_ALLOWED = "allowed: columns, numbers, + - * /, abs(), = != < <= > >=, and, or, not, ( )"
_COMPARE = {
    ast.Eq: "equal",
    ast.NotEq: "not_equal",
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
}


def _comparison(op: ast.cmpop, left: _Typed, right: _Typed) -> _Typed:
    name = _COMPARE.get(type(op))
    if name is None:
        raise ExpressionError(f"{_describe(op)} is not allowed; {_ALLOWED}")
    if left.kind == "bool" or right.kind == "bool":
        raise ExpressionError("cannot compare a condition; combine conditions with and/or")
    numeric = left.kind in _NUMBER and right.kind in _NUMBER
    if not numeric and left.kind != right.kind:
        raise ExpressionError(f"cannot compare {left.kind} with {right.kind}")
    if left.kind == "string" and name not in {"equal", "not_equal"}:
        raise ExpressionError("strings can only be compared with = and !=")
    tolerant = numeric and "float64" in {left.kind, right.kind}
    columns = left.columns | right.columns

    def compare(cols: Mapping[str, Any]) -> Any:  # noqa: PLR0911 - one arm per operator
        pc = _pc()
        a, b = left.value(cols), right.value(cols)
        if not tolerant:
            return getattr(pc, name)(a, b)
        # Within FLOAT_EPSILON counts as equal: shift the bound by it in the lenient direction.
        match name:
            case "less_equal":
                return pc.less_equal(a, pc.add(b, FLOAT_EPSILON))
            case "greater_equal":
                return pc.greater_equal(a, pc.subtract(b, FLOAT_EPSILON))
            case "less":
                return pc.less(a, pc.subtract(b, FLOAT_EPSILON))
            case "greater":
                return pc.greater(a, pc.add(b, FLOAT_EPSILON))
            case "equal":
                return pc.less_equal(pc.abs(pc.subtract(a, b)), FLOAT_EPSILON)
            case _:
                return pc.greater(pc.abs(pc.subtract(a, b)), FLOAT_EPSILON)

    return _Typed("bool", compare, columns)


def _expect(operand: _Typed, kinds: set[str], where: str) -> None:
    if operand.kind not in kinds:
        raise ExpressionError(f"{where} needs {' or '.join(sorted(kinds))}, not {operand.kind}")


def _as_float(value: Any) -> Any:
    if isinstance(value, int | float):
        return float(value)
    return _pc().cast(value, "float64")


def _abs(value: Any) -> Any:
    return abs(value) if isinstance(value, int | float) else _pc().abs(value)


def _negate(value: Any) -> Any:
    return -value if isinstance(value, int | float) else _pc().negate(value)


def _describe(node: ast.AST) -> str:
    return {
        ast.Attribute: "attribute access",
        ast.Subscript: "indexing",
        ast.Lambda: "lambda",
        ast.IfExp: "if/else",
        ast.Pow: "**",
        ast.Mod: "%",
        ast.FloorDiv: "//",
        ast.Is: "is",
        ast.IsNot: "is not",
        ast.In: "in",
        ast.NotIn: "not in",
    }.get(type(node), type(node).__name__)
