"""Vectorised contract checks on one record batch.

Input columns arrive either as strings (CSV, JSON) or as native Arrow arrays (Parquet). Each column
is turned into its contract type with pyarrow compute, and every row that breaks a rule is marked
in a boolean mask per (rule, column). Nothing here loops over rows in Python, except the bisection
that pinpoints the rare values that pass the cheap regex gate but still fail Arrow's parser
(for example 2024-02-30), which costs O(bad values × log batch size) casts.

Every constant handed to a compute function is an Arrow scalar of an explicit type (``_lit``),
never a bare Python value: pyarrow infers the type of a Python value by first asking whether it is
a pandas object, and where pandas is not installed (the step images) it retries that import on
every call, dozens of times per batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from mdp.contracts import Column, ColumnType, Contract

# Signed integer, optionally written as a float with a zero fraction ("5.0", as pandas writes).
_INT_RE = r"^[+-]?[0-9]+(\.0*)?$"
_INT_MAX_DIGITS = 18  # every 18-digit integer fits int64; longer ones are overflow
_FLOAT_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NOT_FINITE_RE = r"(?i)^[+-]?(nan|inf|infinity)$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TS_RE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
_HAS_ZONE_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
_FORMULA_RE = r"^[=+\-@\t\r]"

_FALSE = pa.scalar(False, pa.bool_())
_TRUE = pa.scalar(True, pa.bool_())
_EMPTY = pa.scalar("", pa.string())
_NULL_STRING = pa.scalar(None, pa.string())
_NULL_FLOAT = pa.scalar(None, pa.float64())


def _lit(value: object) -> pa.Scalar:
    """A contract constant as a typed scalar, of the type pyarrow would infer for it."""
    if isinstance(value, bool):
        return pa.scalar(value, pa.bool_())
    if isinstance(value, int):
        return pa.scalar(value, pa.int64())
    if isinstance(value, float):
        return pa.scalar(value, pa.float64())
    if isinstance(value, str):
        return pa.scalar(value, pa.string())
    return pa.scalar(value)


class ColumnTypeError(Exception):
    """A native column cannot be converted to its contract type at all (file-level problem)."""

    def __init__(self, column: str, found: pa.DataType, wanted: ColumnType) -> None:
        super().__init__(f"column {column!r} has type {found}, which cannot hold {wanted.value}")
        self.column = column
        self.found = found
        self.wanted = wanted


@dataclass
class BatchResult:
    """Outcome of checking one batch."""

    valid: pa.RecordBatch
    """Rows that passed every rule, typed as the contract's Arrow schema."""
    rejected_mask: pa.BooleanArray
    """True for rows that broke at least one rule."""
    first_rule: pa.Array
    """Per row: name of the first rule it broke (null when valid)."""
    first_column: pa.Array
    """Per row: column of that rule (null for valid rows and cross-field rules)."""
    violations: dict[tuple[str, str | None], pa.BooleanArray] = field(default_factory=dict)
    """(rule, column) -> mask of the rows breaking it; a row may appear under several keys."""
    null_counts: dict[str, int] = field(default_factory=dict)
    """Nulls per nullable column among valid rows (for the null-ratio threshold)."""


def _false(n: int) -> pa.BooleanArray:
    return pa.repeat(_FALSE, n)


def _fill_false(mask: pa.Array) -> pa.BooleanArray:
    return pc.fill_null(mask, _FALSE)


def _cast_bisect(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.BooleanArray]:
    """Cast, nulling out (and flagging) the individual values Arrow refuses."""
    try:
        return pc.cast(values, target), _false(len(values))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return pa.nulls(1, target), pa.array([True], pa.bool_())
    mid = len(values) // 2
    left, lbad = _cast_bisect(values.slice(0, mid), target)
    right, rbad = _cast_bisect(values.slice(mid), target)
    return (
        pa.concat_arrays([left, right]),
        pa.concat_arrays([lbad, rbad]),
    )


class _Column:
    """Collects the typed array and the failure masks of one column."""

    def __init__(self, spec: Column, n: int) -> None:
        self.spec = spec
        self.n = n
        self.failures: dict[str, pa.BooleanArray] = {}

    def fail(self, rule: str, mask: pa.Array) -> None:
        mask = _fill_false(mask)
        if pc.any(mask).as_py():
            prev = self.failures.get(rule)
            self.failures[rule] = mask if prev is None else pc.or_(prev, mask)


def _to_string_column(col: _Column, raw: pa.Array) -> pa.Array:
    """Strings from CSV/JSON: trim, and treat the empty string as null."""
    text = pc.utf8_trim_whitespace(raw)
    return pc.if_else(pc.equal(text, _EMPTY), _NULL_STRING, text)


def _none_of(text: pa.Array, mask: pa.Array) -> bool:
    """True when no present value of ``text`` is outside ``mask`` (null counts as outside)."""
    outside = pc.and_(pc.is_valid(text), pc.invert(_fill_false(mask)))
    return not pc.any(outside).as_py()


def _parse_int(col: _Column, text: pa.Array) -> pa.Array:
    # Fast path, the common batch: only ASCII digits, at most 18 of them. The regexes below accept
    # exactly these values unchanged and flag none of them, so a plain cast is the same result.
    # (The gate must be this strict: Arrow's own cast also accepts "0x1F", which is a type error.)
    if _none_of(text, pc.ascii_is_decimal(text)) and (
        (pc.max(pc.utf8_length(text)).as_py() or 0) <= _INT_MAX_DIGITS
    ):
        return pc.cast(text, pa.int64())
    present = pc.is_valid(text)
    looks_int = _fill_false(pc.match_substring_regex(text, _INT_RE))
    col.fail("type", pc.and_(present, pc.invert(looks_int)))
    digits = pc.replace_substring_regex(text, r"^[+-]?0*|\.0*$", "")
    too_long = pc.greater(pc.utf8_length(digits), pa.scalar(_INT_MAX_DIGITS, pa.int32()))
    overflow = pc.and_(looks_int, too_long)
    col.fail("integer_overflow", overflow)
    good = pc.and_(looks_int, pc.invert(_fill_false(overflow)))
    cleaned = pc.replace_substring_regex(text, r"\.0*$", "")
    return pc.cast(pc.if_else(good, cleaned, _NULL_STRING), pa.int64())


def _parse_float(col: _Column, text: pa.Array) -> pa.Array:
    present = pc.is_valid(text)
    looks_float = _fill_false(pc.match_substring_regex(text, _FLOAT_RE))
    not_finite = _fill_false(pc.match_substring_regex(text, _NOT_FINITE_RE))
    col.fail("not_finite", not_finite)
    col.fail("type", pc.and_(present, pc.invert(pc.or_(looks_float, not_finite))))
    values = pc.cast(pc.if_else(looks_float, text, _NULL_STRING), pa.float64())
    return _finite_only(col, values)


def _finite_only(col: _Column, values: pa.Array) -> pa.Array:
    """1e400 parses to inf: that, NaN and ±inf from Parquet are all rejected as not finite."""
    infinite = pc.and_(pc.is_valid(values), pc.invert(_fill_false(pc.is_finite(values))))
    col.fail("not_finite", infinite)
    return pc.if_else(_fill_false(infinite), _NULL_FLOAT, values)


def _parse_timestamp(col: _Column, text: pa.Array) -> pa.Array:
    present = pc.is_valid(text)
    is_ts = _fill_false(pc.match_substring_regex(text, _TS_RE))
    if _none_of(text, is_ts) and _none_of(text, pc.ends_with(text, pattern="Z")):
        # Fast path, the common batch: every value a full timestamp in UTC ("...Z"). No value
        # then matches the date-only form (it has no time) and none needs a zone appended, so
        # the normalisation below would hand the cast the text unchanged.
        values, bad = _cast_bisect(text, ColumnType.TIMESTAMP.arrow())
        col.fail("type", bad)
        return values
    is_date = _fill_false(pc.match_substring_regex(text, _DATE_RE))
    col.fail("type", pc.and_(present, pc.invert(pc.or_(is_date, is_ts))))
    # Naive values mean UTC (documented); Arrow wants an explicit zone for a tz-aware cast.
    zoned = _fill_false(pc.match_substring_regex(text, _HAS_ZONE_RE))
    normal = pc.if_else(
        is_date,
        pc.binary_join_element_wise(text, _lit("T00:00:00Z"), _EMPTY),
        pc.if_else(zoned, text, pc.binary_join_element_wise(text, _lit("Z"), _EMPTY)),
    )
    normal = pc.if_else(pc.or_(is_date, is_ts), normal, _NULL_STRING)
    values, bad = _cast_bisect(normal, ColumnType.TIMESTAMP.arrow())
    col.fail("type", bad)
    return values


def _from_native(col: _Column, raw: pa.Array) -> pa.Array:  # noqa: PLR0911 - one arm per type
    """Parquet columns: accept any type that holds the contract type losslessly."""
    t = raw.type
    want = col.spec.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _from_text(col, _to_string_column(col, pc.cast(raw, pa.string())))
    if pa.types.is_dictionary(t):
        return _from_native(col, pc.cast(raw, t.value_type))
    if want is ColumnType.INT64 and pa.types.is_integer(t):
        values, bad = _cast_bisect(raw, pa.int64())
        col.fail("integer_overflow", bad)
        return values
    if want is ColumnType.INT64 and pa.types.is_floating(t):
        values = pc.cast(raw, pa.float64())
        whole = pc.and_(_fill_false(pc.is_finite(values)), pc.equal(pc.floor(values), values))
        col.fail("type", pc.and_(pc.is_valid(values), pc.invert(_fill_false(whole))))
        in_range = pc.less_equal(pc.abs(values), _lit(9.0e18))
        ok = pc.and_(_fill_false(whole), _fill_false(in_range))
        col.fail("integer_overflow", pc.and_(_fill_false(whole), pc.invert(_fill_false(in_range))))
        return pc.cast(pc.if_else(ok, values, _NULL_FLOAT), pa.int64())
    if want is ColumnType.FLOAT64 and (
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    ):
        return _finite_only(col, pc.cast(raw, pa.float64()))
    if want is ColumnType.TIMESTAMP and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        if pa.types.is_date(t) or t.tz is None:
            raw = pc.cast(raw, pa.timestamp("us"))
        return pc.cast(
            pc.assume_timezone(raw, "UTC") if raw.type.tz is None else raw,
            ColumnType.TIMESTAMP.arrow(),
        )
    if pa.types.is_null(t):
        return pa.nulls(len(raw), want.arrow())
    raise ColumnTypeError(col.spec.name, t, want)


def _from_text(col: _Column, text: pa.Array) -> pa.Array:
    match col.spec.type:
        case ColumnType.STRING:
            return text
        case ColumnType.INT64:
            return _parse_int(col, text)
        case ColumnType.FLOAT64:
            return _parse_float(col, text)
        case ColumnType.TIMESTAMP:
            return _parse_timestamp(col, text)


def _apply_column_rules(col: _Column, values: pa.Array, now: datetime) -> None:
    spec = col.spec
    if not spec.nullable:
        # Values that failed parsing are already reported; only report true absences here.
        already = None
        for mask in col.failures.values():
            already = mask if already is None else pc.or_(already, mask)
        missing = pc.is_null(values)
        if already is not None:
            missing = pc.and_(missing, pc.invert(already))
        col.fail("not_null", missing)
    if spec.minimum is not None:
        cmp = pc.less_equal if spec.exclusive_minimum else pc.less
        col.fail("minimum", cmp(values, _lit(spec.minimum)))
    if spec.maximum is not None:
        col.fail("maximum", pc.greater(values, _lit(spec.maximum)))
    if spec.earliest is not None:
        col.fail("too_early", pc.less(values, pa.scalar(spec.earliest, values.type)))
    if spec.future_tolerance_s is not None:
        latest = now + timedelta(seconds=spec.future_tolerance_s)
        col.fail("in_future", pc.greater(values, pa.scalar(latest, values.type)))
    if spec.max_length is not None:
        col.fail("max_length", pc.greater(pc.utf8_length(values), _lit(spec.max_length)))
    if spec.allowed is not None:
        allowed = pa.array(sorted(spec.allowed), pa.string())
        col.fail(
            "allowed_values", pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, allowed)))
        )
    if spec.pattern is not None:
        col.fail("pattern", pc.invert(pc.match_substring_regex(values, f"^(?:{spec.pattern})$")))
    if spec.reject_formula:
        col.fail("formula_like", pc.match_substring_regex(values, _FORMULA_RE))


def check_batch(
    contract: Contract,
    columns: Mapping[str, pa.Array],
    now: datetime,
    *,
    native: bool,
    row_failures: Mapping[tuple[str, str | None], pa.BooleanArray] | None = None,
) -> BatchResult:
    """Type and check one batch.

    ``columns`` holds one array per contract column (all the same length). ``native`` says whether
    they are Parquet-typed (else strings). ``row_failures`` are failures found while reading (for
    example a nested JSON value), merged into the result as if a rule had found them.
    """
    n = len(next(iter(columns.values())))
    typed: dict[str, pa.Array] = {}
    violations: dict[tuple[str, str | None], pa.BooleanArray] = {}
    for key, mask in (row_failures or {}).items():
        violations[key] = _fill_false(mask)
    for spec in contract.columns:
        col = _Column(spec, n)
        raw = columns[spec.name]
        values = _from_native(col, raw) if native else _from_text(col, _to_string_column(col, raw))
        _apply_column_rules(col, values, now)
        typed[spec.name] = values
        for name, mask in col.failures.items():
            violations[(name, spec.name)] = mask
    for rule in contract.row_rules:
        mask = pc.invert(_fill_false(pc.fill_null(rule.check(typed), _TRUE)))
        if pc.any(mask).as_py():
            violations[(rule.name, None)] = mask

    rejected = _false(n)
    first_rule = pa.nulls(n, pa.string())
    first_column = pa.nulls(n, pa.string())
    # Walk in reverse so the earliest (rule, column) in declaration order ends up "first".
    for (rule, column), mask in reversed(list(violations.items())):
        rejected = pc.or_(rejected, mask)
        first_rule = pc.if_else(mask, pa.scalar(rule, pa.string()), first_rule)
        first_column = pc.if_else(mask, pa.scalar(column, pa.string()), first_column)

    keep = pc.invert(rejected)
    schema = contract.arrow_schema()
    # Rejected rows may hold nulls in required columns: build loose, filter, then tighten.
    loose = pa.schema([f.with_nullable(True) for f in schema])
    batch = pa.RecordBatch.from_arrays([typed[c.name] for c in contract.columns], schema=loose)
    valid = batch.filter(keep).cast(schema)
    nulls = {c.name: valid.column(c.name).null_count for c in contract.columns if c.nullable}
    return BatchResult(
        valid=valid,
        rejected_mask=rejected,
        first_rule=first_rule,
        first_column=first_column,
        violations=violations,
        null_counts=nulls,
    )
