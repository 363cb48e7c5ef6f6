"""Contract of the ``sales`` dataset: one row per sale line."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mdp.contracts.base import Column, ColumnType, Contract, RowRule
from mdp.contracts.currencies import ISO_4217

PAYMENT_METHODS = frozenset(
    {"credit_card", "debit_card", "paypal", "bank_transfer", "cash", "apple_pay", "google_pay"}
)
TOTAL_TOLERANCE = 0.01
"""Largest accepted difference between total_amount and quantity × unit_price (rounding)."""

_ID = r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _total_matches(cols: Mapping[str, Any]) -> Any:
    import pyarrow.compute as pc

    expected = pc.multiply(pc.cast(cols["quantity"], "float64"), cols["unit_price"])
    diff = pc.abs(pc.subtract(cols["total_amount"], expected))
    # A small epsilon absorbs binary floating point: 0.01 written as text must pass.
    return pc.less_equal(diff, TOTAL_TOLERANCE + 1e-9)


SALES = Contract(
    dataset="sales",
    description="Sale lines from the shop systems; deduplicated by sale_id in the warehouse.",
    warehouse_table="warehouse.sales",
    key_columns=("sale_id",),
    max_reject_ratio=0.05,
    columns=(
        Column("sale_id", ColumnType.STRING, "Unique id of the sale line.", pattern=_ID),
        Column(
            "sale_timestamp",
            ColumnType.TIMESTAMP,
            "When the sale happened (UTC when no offset is given); newer versions win upserts.",
            earliest=_EARLIEST,
            future_tolerance_s=3600,
        ),
        Column("customer_id", ColumnType.STRING, "Customer id.", pattern=_ID),
        Column(
            "customer_name",
            ColumnType.STRING,
            "Customer display name.",
            max_length=200,
            reject_formula=True,
        ),
        Column("product_id", ColumnType.STRING, "Product id.", pattern=_ID),
        Column(
            "product_name",
            ColumnType.STRING,
            "Product display name.",
            max_length=200,
            reject_formula=True,
        ),
        Column("category", ColumnType.STRING, "Product category.", max_length=64),
        Column(
            "quantity",
            ColumnType.INT64,
            "Units sold; strictly positive.",
            minimum=0,
            exclusive_minimum=True,
            maximum=1_000_000,
        ),
        Column(
            "unit_price",
            ColumnType.FLOAT64,
            "Price of one unit in `currency`.",
            minimum=0,
            maximum=1_000_000_000,
            sql_type="numeric(14,2)",
        ),
        Column(
            "total_amount",
            ColumnType.FLOAT64,
            "quantity × unit_price, rounded to cents.",
            minimum=0,
            maximum=1_000_000_000_000,
            sql_type="numeric(16,2)",
        ),
        Column(
            "currency",
            ColumnType.STRING,
            "ISO 4217 code, upper case.",
            allowed=ISO_4217,
            sql_type="character(3)",
        ),
        Column(
            "payment_method",
            ColumnType.STRING,
            "How the customer paid.",
            allowed=PAYMENT_METHODS,
        ),
        Column(
            "region",
            ColumnType.STRING,
            "Sales region; may be unknown.",
            nullable=True,
            max_length=64,
            max_null_ratio=0.2,
        ),
    ),
    row_rules=(
        RowRule(
            "total_mismatch",
            f"total_amount must equal quantity × unit_price within {TOTAL_TOLERANCE}",
            ("quantity", "unit_price", "total_amount"),
            _total_matches,
        ),
    ),
)
