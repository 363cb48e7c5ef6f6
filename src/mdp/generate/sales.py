"""Sales rows: Faker builds the pools of customers and products, numpy samples rows from them.

Calling Faker per row would cost minutes for the millions of rows the benchmark needs; sampling
from seeded pools keeps names realistic and generation vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
from faker import Faker

from mdp.contracts import Contract
from mdp.generate.columns import shaped

CATEGORIES = ("Electronics", "Books", "Garden", "Toys", "Grocery", "Clothing", "Sports", "Beauty")
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK")
REGIONS = ("EMEA", "NA", "LATAM", "APAC")
_WINDOW_S = 7 * 24 * 3600
UPDATE_SHARE = 0.01
"""Share of rows that repeat an earlier sale_id of the same file with a later timestamp, as a
shop system does when it corrects a sale; the transform keeps the newest."""


@dataclass(frozen=True)
class SalesPools:
    customers: list[tuple[str, str]]
    products: list[tuple[str, str, str, float]]

    @classmethod
    def build(cls, seed: int, customers: int = 500, products: int = 200) -> SalesPools:
        fake = Faker()
        fake.seed_instance(seed)
        rng = np.random.default_rng(seed)
        return cls(
            customers=[(f"C{i:06d}", fake.name()) for i in range(customers)],
            products=[
                (
                    f"P{i:05d}",
                    f"{fake.color_name()} {fake.word().capitalize()}",
                    CATEGORIES[int(rng.integers(len(CATEGORIES)))],
                    round(float(rng.uniform(0.5, 500.0)), 2),
                )
                for i in range(products)
            ],
        )


def sales_batches(
    rng: np.random.Generator,
    pools: SalesPools,
    rows: int,
    id_prefix: str,
    now: datetime,
    contract: Contract,
    batch_rows: int = 100_000,
) -> Iterator[pa.RecordBatch]:
    """``rows`` valid sale lines in batches of ``contract``'s shape, timestamps within the week
    before ``now``; payment methods are the ones the contract allows."""
    now_us = int(now.timestamp()) * 1_000_000
    cust_ids = np.array([c[0] for c in pools.customers])
    cust_names = np.array([c[1] for c in pools.customers])
    prod = pools.products
    prod_ids = np.array([p[0] for p in prod])
    prod_names = np.array([p[1] for p in prod])
    prod_cats = np.array([p[2] for p in prod])
    prod_prices = np.array([p[3] for p in prod])
    methods = np.array(sorted(contract.column("payment_method").allowed or ()))
    done = 0
    while done < rows:
        n = min(batch_rows, rows - done)
        seq = np.arange(done, done + n)
        repeat = (rng.random(n) < UPDATE_SHARE) & (seq > 0)
        seq = np.where(repeat, rng.integers(0, np.maximum(seq, 1)), seq)
        ts = now_us - rng.integers(3_600, _WINDOW_S, n) * 1_000_000
        c = rng.integers(len(cust_ids), size=n)
        p = rng.integers(len(prod_ids), size=n)
        qty = rng.integers(1, 11, n)
        price = prod_prices[p]
        total = np.round(qty * price, 2)
        region = np.array(REGIONS)[rng.integers(len(REGIONS), size=n)].astype(object)
        region[rng.random(n) < 0.03] = None
        columns = {
            "sale_id": pa.array(np.char.add(f"{id_prefix}-", np.char.zfill(seq.astype(str), 9))),
            "sale_timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "customer_id": pa.array(cust_ids[c]),
            "customer_name": pa.array(cust_names[c]),
            "product_id": pa.array(prod_ids[p]),
            "product_name": pa.array(prod_names[p]),
            "category": pa.array(prod_cats[p]),
            "quantity": pa.array(qty, pa.int64()),
            "unit_price": pa.array(price),
            "total_amount": pa.array(total),
            "currency": pa.array(
                np.array(CURRENCIES)[rng.choice(len(CURRENCIES), n, p=[0.5, 0.3, 0.1, 0.05, 0.05])]
            ),
            "payment_method": pa.array(methods[rng.integers(len(methods), size=n)]),
            "region": pa.array(region, pa.string()),
        }
        yield shaped(contract, columns, n)
        done += n
