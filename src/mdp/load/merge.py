"""SQL that merges a file's rows into a warehouse table, generated from its TableSpec.

The merge keeps, per key, the maximum row under the table's total order (see
mdp.warehouse.tables), and GREATEST of running maxima. Expressed in SQL:

* the order as a row constructor, text compared ``COLLATE "C"`` (byte order, as Arrow sorts) and
  a nullable column as ``(c IS NOT NULL, coalesce(c, ''))`` so null sorts below every value;
* two statements over the stage, in this order: :func:`update_existing`, a ``MERGE ... WHEN
  MATCHED AND incoming > existing THEN UPDATE`` (an older or identical row changes nothing, so
  reloading a file updates zero rows), then :func:`insert_new`, a plain ``INSERT ... WHERE NOT
  EXISTS`` of the keys not stored yet. Their rowcounts are the updated and inserted counts.

Why not one ``INSERT ... ON CONFLICT DO UPDATE``: it probes the primary key once per row and
inserts speculatively, where the two statements join the stage with the table once each (hash
joins, kept in memory by the transaction's :data:`WORK_MEM`) and insert plainly; the stage is
merged in its own order, not sorted by key. docs/benchmark.md has the measurements.

Both statements rely on the load's dataset lock (mdp.load.step): nothing else writes the table
between them. Should anybody insert a key in between anyway, the INSERT fails with a unique
violation and the load rolls back: never a row lost or doubled.

The stage holds at most one row per key: the transform already kept the maximum of every key
(mdp.transform.dedupe.keep_max, the same order), and its running maxima. So the statements read
the stage as it is, with no DISTINCT ON, no window and no sort. Should a stage ever hold a key
twice, PostgreSQL refuses rather than picking one: the INSERT of a new key twice violates the
primary key, and ``MERGE`` refuses to change a stored row twice ("MERGE command cannot affect row
a second time"; a second stage row that does not beat the stored one changes nothing, so the
maximum is kept). The transaction rolls back and the load fails: never a silently wrong row.
"""

from __future__ import annotations

from psycopg import sql

from mdp.warehouse.tables import TableColumn, TableSpec

STAGE = "mdp_stage"
WORK_MEM = "64MB"
"""The load transaction's ``work_mem`` (``SET LOCAL``): enough for the hash joins of a 1M-row
stage against its keys in one batch; at PostgreSQL's default the joins spill into batches."""


def session_settings() -> list[sql.SQL | sql.Composed]:
    """``SET LOCAL`` statements for the load transaction, before the merges.

    ``enable_nestloop = off`` keeps the two statements on the hash joins they are written for.
    A table vacuumed while empty (a first load rolled back, then autovacuum) has statistics of
    zero rows, and the planner then runs ``INSERT ... WHERE NOT EXISTS`` as a nested loop that
    scans the table once per stage row. The INSERT grows that table as it goes, so the scans
    grow with it: quadratic, minutes of CPU for a 400k-row file on the test cluster instead of
    seconds. Off is a penalty, not a ban: with no other way PostgreSQL still nests."""
    return [
        sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)),
        sql.SQL("SET LOCAL enable_nestloop = off"),
    ]


def _is_text(column: TableColumn) -> bool:
    return column.pg_type == "text" or column.pg_type.startswith("character")


def _order_terms(spec: TableSpec, alias: str | None) -> list[sql.Composable]:
    terms: list[sql.Composable] = []
    for name in spec.order:
        column = spec.column(name)
        ref: sql.Composable = sql.Identifier(alias, name) if alias else sql.Identifier(name)
        if column.nullable:
            terms.append(sql.SQL("({} IS NOT NULL)").format(ref))
            empty = sql.Literal("") if _is_text(column) else sql.Literal(0)
            ref = sql.SQL("coalesce({}, {})").format(ref, empty)
        if _is_text(column):
            ref = sql.SQL('{} COLLATE "C"').format(ref)
        terms.append(ref)
    return terms


def _tuple(spec: TableSpec, alias: str) -> sql.Composable:
    return sql.SQL("ROW({})").format(sql.SQL(", ").join(_order_terms(spec, alias)))


def create_stage(spec: TableSpec) -> sql.Composed:
    """A temporary table shaped like the Parquet, dropped at commit."""
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in spec.columns
    )
    return sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(STAGE), columns
    )


def copy_into_stage(spec: TableSpec) -> sql.Composed:
    names = sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names)
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(sql.Identifier(STAGE), names)


def _wins(spec: TableSpec) -> sql.Composable:
    """The stage row ``s`` is newer than the stored row ``t`` under the table's order."""
    return sql.SQL("{} > {}").format(_tuple(spec, "s"), _tuple(spec, "t"))


def _same_key(spec: TableSpec) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in spec.key
    )


def update_existing(spec: TableSpec) -> sql.Composed:
    """Update every stored row whose stage row wins (see the module docstring); the statement's
    rowcount is the number of rows updated. Runs before :func:`insert_new`."""
    schema, table = spec.name.split(".")
    wins = _wins(spec)
    taken = [c for c in spec.column_names if c not in spec.key and c not in spec.greatest]
    if spec.greatest:
        # A row may be updated only because a running maximum grew while the stored version
        # still wins: the winner's columns are then kept.
        sets: list[sql.Composable] = [
            sql.SQL("{0} = CASE WHEN {1} THEN s.{0} ELSE t.{0} END").format(sql.Identifier(c), wins)
            for c in taken
        ]
    else:
        # The WHEN condition lets an update through only when the incoming row wins.
        sets = [sql.SQL("{0} = s.{0}").format(sql.Identifier(c)) for c in taken]
    sets += [
        sql.SQL("{0} = GREATEST(t.{0}, s.{0})").format(sql.Identifier(c)) for c in spec.greatest
    ]
    if spec.has_source_file:
        sets.append(sql.SQL("source_file_id = %(source_file_id)s::bigint"))
    sets.append(sql.SQL("loaded_at = now()"))
    # Changed when the stage row wins or one of its running maxima grew.
    condition = sql.SQL(" OR ").join(
        [wins] + [sql.SQL("s.{0} > t.{0}").format(sql.Identifier(c)) for c in spec.greatest]
    )
    return sql.SQL(
        "MERGE INTO {table} AS t USING {stage} AS s ON {on}"
        " WHEN MATCHED AND ({condition}) THEN UPDATE SET {sets}"
    ).format(
        table=sql.Identifier(schema, table),
        stage=sql.Identifier(STAGE),
        on=_same_key(spec),
        condition=condition,
        sets=sql.SQL(", ").join(sets),
    )


def insert_new(spec: TableSpec) -> sql.Composed:
    """Insert the stage rows whose key is not stored yet; the statement's rowcount is the number
    of rows inserted. Runs after :func:`update_existing`."""
    schema, table = spec.name.split(".")
    names = list(spec.column_names)
    insert_cols = [sql.Identifier(c) for c in names]
    select_cols: list[sql.Composable] = [sql.Identifier("s", c) for c in names]
    if spec.has_source_file:
        select_cols.append(sql.SQL("%(source_file_id)s::bigint"))
        insert_cols.append(sql.Identifier("source_file_id"))
    return sql.SQL(
        "INSERT INTO {table} ({insert_cols}) SELECT {select_cols} FROM {stage} AS s"
        " WHERE NOT EXISTS (SELECT FROM {table} AS t WHERE {on})"
    ).format(
        table=sql.Identifier(schema, table),
        insert_cols=sql.SQL(", ").join(insert_cols),
        select_cols=sql.SQL(", ").join(select_cols),
        stage=sql.Identifier(STAGE),
        on=_same_key(spec),
    )
