"""The built-in ``sales`` contract (contracts/sales.yaml), for code that needs it by name: the
generator and tests. Pipeline steps use ``get_contract``, which honours ``CONTRACTS__DIR``."""

from __future__ import annotations

from mdp.contracts.registry import builtin_contract

SALES = builtin_contract("sales")
PAYMENT_METHODS = SALES.column("payment_method").allowed or frozenset()
TOTAL_TOLERANCE = 0.01
"""Largest accepted difference between total_amount and quantity × unit_price (rounding); the
``total_mismatch`` rule of contracts/sales.yaml."""
