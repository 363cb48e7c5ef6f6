"""SQL that merges a file's rows into a warehouse table, generated from its TableSpec.

The merge keeps, per key, the maximum row under the table's total order (see
mdp.warehouse.tables), and GREATEST of running maxima. Expressed in SQL:

* the order as a row constructor, text compared ``COLLATE "C"`` (byte order, as Arrow sorts) and
  a nullable column as ``(c IS NOT NULL, coalesce(c, ''))`` so null sorts below every value;
* ``ON CONFLICT (key) DO UPDATE ... WHERE incoming > existing``: an older or identical row
  changes nothing, so reloading a file updates zero rows.

The stage holds at most one row per key: the transform already kept the maximum of every key
(mdp.transform.dedupe.keep_max, the same order), and its running maxima. So the INSERT reads the
stage as it is, with no DISTINCT ON and no window: sorting a million rows on every column of the
order again cost a third of the merge. Should a stage ever hold a key twice, PostgreSQL refuses
the statement ("ON CONFLICT DO UPDATE command cannot affect row a second time"), the
transaction rolls back and the load fails: never a silently wrong row. The rows go in in
stage order, unsorted: an A/B on one server (1M rows, 3 rounds, medians) measured the statement
at 15.1 s with ``ORDER BY key`` and 12.4 s without on a first load, 20.5 s and 16.6 s on an update
load where half the keys exist (the INSERT alone, without the counting CTE, which costs
0.3-2 s); the sort costs more than the B-tree locality it buys.
"""

from __future__ import annotations

from psycopg import sql

from mdp.warehouse.tables import TableColumn, TableSpec

STAGE = "mdp_stage"


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


def upsert(spec: TableSpec) -> sql.Composed:
    """Merge the stage (one row per key, see the module docstring); returns one row:
    (inserted, updated)."""
    schema, table = spec.name.split(".")
    key = [sql.Identifier(k) for k in spec.key]
    names = list(spec.column_names)
    insert_cols = [sql.Identifier(c) for c in names]
    select_cols: list[sql.Composable] = list(insert_cols)
    if spec.has_source_file:
        select_cols.append(sql.SQL("%(source_file_id)s::bigint"))
        insert_cols.append(sql.Identifier("source_file_id"))
    wins = sql.SQL("{} > {}").format(_tuple(spec, "excluded"), _tuple(spec, "t"))
    taken = [c for c in names if c not in spec.key and c not in spec.greatest]
    if spec.has_source_file:
        taken.append("source_file_id")
    if spec.greatest:
        # A row may be updated only because a running maximum grew while the stored version
        # still wins: the winner's columns are then kept.
        sets: list[sql.Composable] = [
            sql.SQL("{0} = CASE WHEN {1} THEN excluded.{0} ELSE t.{0} END").format(
                sql.Identifier(c), wins
            )
            for c in taken
        ]
    else:
        # The WHERE below lets an update through only when the incoming row wins.
        sets = [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in taken]
    sets += [
        sql.SQL("{0} = GREATEST(t.{0}, excluded.{0})").format(sql.Identifier(c))
        for c in spec.greatest
    ]
    sets.append(sql.SQL("loaded_at = now()"))
    condition = sql.SQL(" OR ").join(
        [wins] + [sql.SQL("excluded.{0} > t.{0}").format(sql.Identifier(c)) for c in spec.greatest]
    )
    return sql.SQL(
        "WITH up AS ("
        " INSERT INTO {table} AS t ({insert_cols})"
        " SELECT {select_cols} FROM {stage}"
        " ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {condition}"
        " RETURNING (xmax = 0) AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
    ).format(
        table=sql.Identifier(schema, table),
        insert_cols=sql.SQL(", ").join(insert_cols),
        key=sql.SQL(", ").join(key),
        select_cols=sql.SQL(", ").join(select_cols),
        stage=sql.Identifier(STAGE),
        sets=sql.SQL(", ").join(sets),
        condition=condition,
    )


RECOMPUTE_CHANNEL_STATS = sql.SQL("""
INSERT INTO warehouse.channel_stats AS t (
    channel_id, channel_name, channel_subscribers, video_count,
    total_views, total_likes, total_dislikes, max_views, max_likes, max_dislikes, updated_at)
SELECT v.channel_id, c.channel_name, c.channel_subscribers, count(*),
       sum(v.total_views), sum(v.total_likes), sum(v.total_dislikes),
       max(v.total_views), max(v.total_likes), max(v.total_dislikes), now()
FROM (
    -- each video's latest snapshot
    SELECT DISTINCT ON (video_id) video_id, channel_id, total_views, total_likes, total_dislikes
    FROM warehouse.video_snapshots
    WHERE channel_id = ANY(%(channels)s)
    ORDER BY video_id, date_updated DESC
) v
JOIN (
    -- the channel's name and subscribers as of its latest snapshot
    SELECT DISTINCT ON (channel_id) channel_id, channel_name, channel_subscribers
    FROM warehouse.video_snapshots
    WHERE channel_id = ANY(%(channels)s)
    ORDER BY channel_id, date_updated DESC, channel_subscribers DESC,
             channel_name COLLATE "C" DESC
) c USING (channel_id)
GROUP BY v.channel_id, c.channel_name, c.channel_subscribers
ON CONFLICT (channel_id) DO UPDATE SET
    channel_name = excluded.channel_name,
    channel_subscribers = excluded.channel_subscribers,
    video_count = excluded.video_count,
    total_views = excluded.total_views,
    total_likes = excluded.total_likes,
    total_dislikes = excluded.total_dislikes,
    max_views = excluded.max_views,
    max_likes = excluded.max_likes,
    max_dislikes = excluded.max_dislikes,
    updated_at = now()
""")
"""channel_stats for the given channels, recomputed from each video's latest snapshot, so the
totals are right whatever order the files arrived in."""
