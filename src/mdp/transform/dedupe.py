"""Keep the maximum version of every key under a table's total order (see mdp.warehouse.tables)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from mdp.warehouse.tables import TableSpec


def round_money(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Round numeric(p,s) columns to s decimals, as PostgreSQL will store them."""
    for name, scale in spec.money_scales().items():
        idx = table.schema.get_field_index(name)
        table = table.set_column(idx, table.field(name), pc.round(table.column(name), scale))
    return table


def _first_of_each_key(table: pa.Table, key: tuple[str, ...]) -> pa.BooleanArray:
    n = table.num_rows
    first = pa.array([True] + [False] * (n - 1)) if n else pa.array([], pa.bool_())
    for name in key:
        col = table.column(name).combine_chunks()
        if n > 1:
            changed = pc.not_equal(col.slice(1), col.slice(0, n - 1))
            first = pc.or_(first, pa.concat_arrays([pa.array([True]), changed]))
    return first


def keep_max(table: pa.Table, spec: TableSpec) -> pa.Table:
    """One row per key: the greatest under ``spec.order`` (nulls lowest), running maxima for
    ``spec.greatest``; sorted by key, so the output is deterministic."""
    table = round_money(table, spec).select(list(spec.column_names))
    sort_keys = [(k, "ascending", "at_end") for k in spec.key] + [
        (c, "descending", "at_end") for c in spec.order
    ]
    ordered = table.sort_by(sort_keys)
    winners = ordered.filter(_first_of_each_key(ordered, spec.key))
    if not spec.greatest:
        return winners
    maxima = table.group_by(list(spec.key), use_threads=False).aggregate(
        [(c, "max") for c in spec.greatest]
    )
    joined = winners.drop_columns(list(spec.greatest)).join(maxima, list(spec.key))
    # aggregate() names its outputs "<column>_max"; give them their table names back.
    joined = joined.rename_columns([c.removesuffix("_max") for c in joined.column_names])
    return joined.select(list(spec.column_names)).sort_by([(k, "ascending") for k in spec.key])
