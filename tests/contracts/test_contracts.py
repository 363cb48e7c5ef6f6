"""The contract declarations themselves."""

from __future__ import annotations

import pytest

from mdp.contracts import CONTRACTS, Column, ColumnType, Contract, get_contract
from mdp.contracts.currencies import ISO_4217
from tests.support.samples import SALES_HEADER, YOUTUBE_HEADER


def test_columns_are_the_architecture_lists() -> None:
    assert list(get_contract("sales").column_names) == SALES_HEADER
    assert list(get_contract("youtube").column_names) == YOUTUBE_HEADER


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: sales, youtube"):
        get_contract("orders")


def test_a_contract_cannot_refer_to_unknown_columns() -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        Contract("x", "", (Column("a", ColumnType.STRING, ""),), key_columns=("b",))


def test_thresholds_are_sane() -> None:
    for contract in CONTRACTS.values():
        assert 0 < contract.max_reject_ratio < 0.5
        for column in contract.columns:
            assert column.nullable or column.max_null_ratio == 0
            assert 0 <= column.max_null_ratio <= 1


def test_currency_list_is_iso_4217_shaped() -> None:
    assert {"EUR", "USD", "GBP", "JPY", "CHF"} <= ISO_4217
    assert all(len(c) == 3 and c.isupper() for c in ISO_4217)
