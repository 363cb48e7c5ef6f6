"""A corpus of bad (and tricky but good) inputs, each with the exact outcome validation must give.

Cases are built in code from the valid sample rows so each one shows what it breaks. Base files
have 40 good rows, so one or two bad rows stay under the 5% reject threshold (accepted, with the
bad rows in the rejects Parquet) while a fully broken column exceeds it (quarantined).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.samples import (
    SALES_HEADER,
    sales_row,
    sales_rows,
    to_csv,
    to_json_array,
    to_jsonl,
    youtube_row,
)

GOOD = 40


@dataclass(frozen=True)
class Quarantined:
    rule: str
    column: str | None = None


@dataclass(frozen=True)
class Accepted:
    valid: int
    rejects: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)
    """(rule, column) -> the row numbers (1-based data rows) that must be rejected for it."""


@dataclass(frozen=True)
class Case:
    id: str
    key: str
    content: Callable[[], bytes]
    expected: Quarantined | Accepted


def _with(rows_after: list[dict[str, object]], n: int = GOOD) -> list[dict[str, object]]:
    """GOOD valid rows followed by the given rows (numbered after them)."""
    return sales_rows(n) + rows_after


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _sales_table(rows: list[dict[str, object]]) -> pa.Table:
    return pa.Table.from_pylist(rows)


def _truncated_parquet() -> bytes:
    data = _parquet(_sales_table(sales_rows(GOOD)))
    return data[: len(data) // 2]


def _parquet_nested_quantity() -> bytes:
    rows = sales_rows(GOOD)
    table = _sales_table(rows).set_column(
        SALES_HEADER.index("quantity"), "quantity", pa.array([[1, 2]] * GOOD)
    )
    return _parquet(table)


def _parquet_narrow_types() -> bytes:
    """int32 quantity, float32 prices, naive timestamps: all widen losslessly."""
    rows = sales_rows(GOOD, unit_price=2.5, total_amount=7.5)
    table = _sales_table(rows)
    table = table.set_column(7, "quantity", pa.array([3] * GOOD, pa.int32()))
    table = table.set_column(8, "unit_price", pa.array([2.5] * GOOD, pa.float32()))
    table = table.set_column(
        1, "sale_timestamp", pa.array(["2026-03-01T10:00:00"] * GOOD).cast(pa.timestamp("s"))
    )
    return _parquet(table)


def _parquet_string_quantity() -> bytes:
    rows = _with([sales_row(GOOD + 1, quantity="many")])
    return _parquet(_sales_table([{**r, "quantity": str(r["quantity"])} for r in rows]))


def _latin1() -> bytes:
    text = to_csv(_with([sales_row(GOOD + 1, customer_name="José Müller")])).decode()
    return text.encode("latin-1")


def _bom_crlf_quoted() -> bytes:
    rows = _with([sales_row(GOOD + 1, customer_name='Ada "The Countess"\nLovelace')])
    return b"\xef\xbb\xbf" + to_csv(rows, newline="\r\n")


def _unbalanced_quote() -> bytes:
    good = to_csv(sales_rows(GOOD))
    return good + b'S999999,2026-03-01T10:00:00Z,C1,"Ada,P1,Widget,Tools,3,2.5,7.5,EUR,cash,EMEA\n'


def _truncated_csv() -> bytes:
    data = to_csv(sales_rows(GOOD))
    return data[: data.rstrip(b"\n").rfind(b",")]


def _duplicate_header() -> bytes:
    header = [*SALES_HEADER, "sale_id"]
    return to_csv([{**r} for r in sales_rows(GOOD)], header)


def _jsonl_nested() -> bytes:
    rows: list[object] = list(sales_rows(GOOD))
    rows.append(sales_row(GOOD + 1, customer_name={"first": "Ada", "last": "Lovelace"}))
    return to_jsonl(rows)


def _jsonl_extra_field_later() -> bytes:
    rows: list[object] = list(sales_rows(GOOD))
    rows.append({**sales_row(GOOD + 1), "discount": 5})
    return to_jsonl(rows)


CASES: list[Case] = [
    # ---- quarantined: the file as a whole is unusable ----
    Case("empty_file", "incoming/sales/empty.csv", lambda: b"", Quarantined("empty_file")),
    Case(
        "whitespace_only",
        "incoming/sales/blank.csv",
        lambda: b"\n \r\n\t\n",
        Quarantined("empty_file"),
    ),
    Case(
        "zero_byte_parquet", "incoming/sales/empty.parquet", lambda: b"", Quarantined("empty_file")
    ),
    Case(
        "header_only",
        "incoming/sales/header.csv",
        lambda: to_csv([], SALES_HEADER),
        Quarantined("no_rows"),
    ),
    Case("empty_json_array", "incoming/sales/none.json", lambda: b"[]", Quarantined("no_rows")),
    Case(
        "duplicate_header",
        "incoming/sales/dup.csv",
        _duplicate_header,
        Quarantined("duplicate_columns"),
    ),
    Case(
        "missing_column",
        "incoming/sales/missing.csv",
        lambda: to_csv(sales_rows(GOOD), [h for h in SALES_HEADER if h != "total_amount"]),
        Quarantined("missing_columns"),
    ),
    Case(
        "extra_column",
        "incoming/sales/extra.csv",
        lambda: to_csv([{**r, "discount": 1} for r in sales_rows(GOOD)]),
        Quarantined("unexpected_columns"),
    ),
    Case(
        "wrong_delimiter",
        "incoming/sales/semicolon.csv",
        lambda: to_csv(sales_rows(GOOD), delimiter=";"),
        Quarantined("missing_columns"),
    ),
    Case("latin1_encoding", "incoming/sales/latin1.csv", _latin1, Quarantined("encoding")),
    Case(
        "utf16_encoding",
        "incoming/sales/utf16.csv",
        lambda: to_csv(sales_rows(GOOD)).decode().encode("utf-16"),
        Quarantined("encoding"),
    ),
    Case(
        "binary_garbage",
        "incoming/sales/garbage.csv",
        lambda: bytes(range(256)) * 8,
        Quarantined("unknown_format"),
    ),
    Case(
        "json_named_csv",
        "incoming/sales/mislabelled.csv",
        lambda: to_jsonl(sales_rows(GOOD)),
        Quarantined("format_mismatch"),
    ),
    Case(
        "csv_named_parquet",
        "incoming/sales/mislabelled.parquet",
        lambda: to_csv(sales_rows(GOOD)),
        Quarantined("format_mismatch"),
    ),
    Case(
        "truncated_csv",
        "incoming/sales/truncated.csv",
        _truncated_csv,
        Quarantined("malformed_csv"),
    ),
    Case(
        "unbalanced_quote",
        "incoming/sales/quote.csv",
        _unbalanced_quote,
        Quarantined("malformed_csv"),
    ),
    Case(
        "truncated_parquet",
        "incoming/sales/truncated.parquet",
        _truncated_parquet,
        Quarantined("corrupt_parquet"),
    ),
    Case(
        "parquet_nested_column",
        "incoming/sales/nested.parquet",
        _parquet_nested_quantity,
        Quarantined("column_type", "quantity"),
    ),
    Case(
        "truncated_json",
        "incoming/sales/truncated.json",
        lambda: to_json_array(sales_rows(GOOD))[:-40],
        Quarantined("malformed_json"),
    ),
    Case(
        "json_nan_literal",
        "incoming/sales/nan.jsonl",
        lambda: to_jsonl(sales_rows(GOOD)) + b'{"sale_id": "S1", "unit_price": NaN}\n',
        Quarantined("malformed_json"),
    ),
    Case(
        "all_quantities_negative",
        "incoming/sales/negative.csv",
        lambda: to_csv(sales_rows(GOOD, quantity=-1)),
        Quarantined("reject_ratio"),
    ),
    Case(
        "region_mostly_null",
        "incoming/sales/nulls.csv",
        lambda: to_csv(sales_rows(GOOD // 2) + sales_rows(GOOD // 2, region=None)),
        Quarantined("null_ratio", "region"),
    ),
    Case(
        "unknown_dataset",
        "incoming/orders/orders.csv",
        lambda: to_csv(sales_rows(GOOD)),
        Quarantined("unknown_dataset"),
    ),
    Case(
        "youtube_wrong_type_everywhere",
        "incoming/youtube/types.json",
        lambda: to_json_array([youtube_row(i, total_views="lots") for i in range(GOOD)]),
        Quarantined("reject_ratio"),
    ),
    # ---- accepted: tricky but valid, or a few bad rows set aside as rejects ----
    Case(
        "bom_crlf_quoted_newline",
        "incoming/sales/bom.csv",
        _bom_crlf_quoted,
        Accepted(valid=GOOD + 1),
    ),
    Case(
        "sql_looking_string",
        "incoming/sales/sql.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, customer_name="Robert'); DROP TABLE sales;--")])),
        Accepted(valid=GOOD + 1),
    ),
    Case(
        "formula_looking_string",
        "incoming/sales/formula.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, customer_name='=HYPERLINK("http://x","y")')])),
        Accepted(valid=GOOD, rejects={("formula_like", "customer_name"): [GOOD + 1]}),
    ),
    Case(
        "nan_and_infinity",
        "incoming/sales/nan.csv",
        lambda: to_csv(
            _with(
                [
                    sales_row(GOOD + 1, unit_price="NaN"),
                    sales_row(GOOD + 2, total_amount="Infinity"),
                ]
            )
        ),
        Accepted(
            valid=GOOD,
            rejects={
                ("not_finite", "unit_price"): [GOOD + 1],
                ("not_finite", "total_amount"): [GOOD + 2],
            },
        ),
    ),
    Case(
        "float_overflow_to_infinity",
        "incoming/sales/e400.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, total_amount="1e400")])),
        Accepted(valid=GOOD, rejects={("not_finite", "total_amount"): [GOOD + 1]}),
    ),
    Case(
        "integer_overflow",
        "incoming/sales/overflow.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, quantity="99999999999999999999")])),
        Accepted(valid=GOOD, rejects={("integer_overflow", "quantity"): [GOOD + 1]}),
    ),
    Case(
        "date_in_future",
        "incoming/sales/future.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, sale_timestamp="2099-01-01T00:00:00Z")])),
        Accepted(valid=GOOD, rejects={("in_future", "sale_timestamp"): [GOOD + 1]}),
    ),
    Case(
        "unparsable_dates",
        "incoming/sales/dates.csv",
        lambda: to_csv(
            _with(
                [
                    sales_row(GOOD + 1, sale_timestamp="yesterday"),
                    sales_row(GOOD + 2, sale_timestamp="2026-02-30T10:00:00Z"),
                ]
            )
        ),
        Accepted(valid=GOOD, rejects={("type", "sale_timestamp"): [GOOD + 1, GOOD + 2]}),
    ),
    Case(
        "field_larger_than_csv_block",
        "incoming/sales/hugefield.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, product_name="x" * (2 * 1024 * 1024))])),
        Quarantined("field_too_large"),
    ),
    Case(
        "huge_field_within_block",
        "incoming/sales/long.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, product_name="x" * 100_000)])),
        Accepted(valid=GOOD, rejects={("max_length", "product_name"): [GOOD + 1]}),
    ),
    Case(
        "wrong_total",
        "incoming/sales/total.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, total_amount=8.0)])),
        Accepted(valid=GOOD, rejects={("total_mismatch", None): [GOOD + 1]}),
    ),
    Case(
        "negative_quantity",
        "incoming/sales/negq.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, quantity=-3, total_amount=-7.5)])),
        Accepted(
            valid=GOOD,
            rejects={("minimum", "quantity"): [GOOD + 1], ("minimum", "total_amount"): [GOOD + 1]},
        ),
    ),
    Case(
        "unknown_currency_and_payment",
        "incoming/sales/codes.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, currency="XXY", payment_method="barter")])),
        Accepted(
            valid=GOOD,
            rejects={
                ("allowed_values", "currency"): [GOOD + 1],
                ("allowed_values", "payment_method"): [GOOD + 1],
            },
        ),
    ),
    Case(
        "missing_required_value",
        "incoming/sales/null.csv",
        lambda: to_csv(_with([sales_row(GOOD + 1, customer_id=None)])),
        Accepted(valid=GOOD, rejects={("not_null", "customer_id"): [GOOD + 1]}),
    ),
    Case(
        "nested_json_value",
        "incoming/sales/nested.jsonl",
        _jsonl_nested,
        Accepted(valid=GOOD, rejects={("nested_value", "customer_name"): [GOOD + 1]}),
    ),
    Case(
        "json_extra_field_later",
        "incoming/sales/extra.jsonl",
        _jsonl_extra_field_later,
        Accepted(valid=GOOD, rejects={("unexpected_field", None): [GOOD + 1]}),
    ),
    Case(
        "json_bool_for_number",
        "incoming/sales/bool.json",
        lambda: to_json_array([*sales_rows(GOOD), sales_row(GOOD + 1, quantity=True)]),
        Accepted(valid=GOOD, rejects={("type", "quantity"): [GOOD + 1]}),
    ),
    Case(
        "parquet_narrow_types",
        "incoming/sales/narrow.parquet",
        _parquet_narrow_types,
        Accepted(valid=GOOD),
    ),
    Case(
        "parquet_string_numbers",
        "incoming/sales/strings.parquet",
        _parquet_string_quantity,
        Accepted(valid=GOOD, rejects={("type", "quantity"): [GOOD + 1]}),
    ),
    Case(
        "youtube_updated_before_created",
        "incoming/youtube/order.jsonl",
        lambda: to_jsonl(
            [
                *[youtube_row(i) for i in range(GOOD)],
                youtube_row(99, date_updated="2024-01-01T00:00:00Z"),
            ]
        ),
        Accepted(valid=GOOD, rejects={("updated_before_created", None): [GOOD + 1]}),
    ),
    Case(
        "youtube_negative_counter",
        "incoming/youtube/neg.csv",
        lambda: to_csv([*[youtube_row(i) for i in range(GOOD)], youtube_row(99, total_likes=-1)]),
        Accepted(valid=GOOD, rejects={("minimum", "total_likes"): [GOOD + 1]}),
    ),
    Case(
        "youtube_null_description_ok",
        "incoming/youtube/desc.json",
        lambda: json.dumps(
            [youtube_row(i, description=None if i % 2 else "d") for i in range(GOOD)]
        ).encode(),
        Accepted(valid=GOOD),
    ),
]
