"""The load (after the real validate and transform) on real MinIO and PostgreSQL: idempotency,
order and split independence, all-or-nothing transactions, retries ending in
failed/loading_failed/. The transform's own tests are in tests/transform/test_step.py."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.errors import Quarantined
from mdp.load.step import load_object
from mdp.steps import Outcome
from mdp.storage import ObjectStore
from mdp.transform.step import transform_object
from mdp.validate.step import validate_object
from tests.support.samples import sales_row, to_csv, to_jsonl, youtube_row
from tests.support.servers import Database
from tests.support.warehouse import dump, put_and_run

pytestmark = pytest.mark.integration


def _sales_files() -> list[bytes]:
    """Three files with overlapping sale_ids: newer, older and same-instant versions."""
    rng = random.Random(5)
    files = []
    for _ in range(3):
        rows = []
        for _ in range(60):
            sid = rng.randrange(80)
            hour = rng.randrange(10, 14)
            qty = rng.randrange(1, 5)
            rows.append(
                sales_row(
                    sid,
                    sale_timestamp=f"2026-03-01T{hour}:00:00Z",
                    quantity=qty,
                    unit_price=2.5,
                    total_amount=2.5 * qty,
                    region=rng.choices(["EU", "NA", None], weights=[10, 10, 1])[0],
                    customer_name=rng.choice(["Ada", "Bob", "Cy"]),
                )
            )
        files.append(to_csv(rows))
    return files


def _youtube_files() -> list[bytes]:
    rng = random.Random(9)
    files = []
    for f in range(3):
        rows = []
        for _ in range(50):
            v = rng.randrange(12)
            sec = rng.randrange(0, 240)
            rows.append(
                youtube_row(
                    v,
                    channel_id=f"UCchan{v % 3}",
                    channel_name=f"Channel {v % 3}",
                    channel_subscribers=1000 + sec,
                    total_views=100 + sec * 3 + f,
                    total_likes=sec,
                    total_dislikes=sec // 10,
                    description=rng.choice(["a", "b", None]),
                    date_updated=f"2026-03-01T10:{sec // 60:02d}:{sec % 60:02d}Z",
                )
            )
        files.append(to_jsonl(rows))
    return files


def _load_all(
    database: Database, store: ObjectStore, dataset: str, files: list[bytes], prefix: str
) -> dict[str, tuple[int, str]]:
    with database.connect() as conn:
        audit = AuditLog(conn)
        for i, data in enumerate(files):
            ext = "csv" if dataset == "sales" else "jsonl"
            result = put_and_run(store, audit, f"incoming/{dataset}/{prefix}-{i}.{ext}", data)
            assert result["outcome"] == "loaded", result
        return dump(conn)


@pytest.fixture
def fresh_db(pg_server: object, request: pytest.FixtureRequest) -> Callable[[], Database]:
    """A factory of extra migrated databases, for comparing several load orders."""
    made: list[Database] = []

    def make() -> Database:
        db_fixture = request.getfixturevalue("database")
        if not made:
            made.append(db_fixture)
            return db_fixture
        import uuid

        from tests.support.servers import TEMPLATE_DB

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(db_fixture.server.conninfo(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        db = Database(db_fixture.server, name)
        made.append(db)
        return db

    return make


@pytest.mark.parametrize(
    ("dataset", "make_files"), [("sales", _sales_files), ("youtube", _youtube_files)]
)
def test_order_and_split_do_not_change_the_warehouse(
    store: ObjectStore,
    fresh_db: Callable[[], Database],
    dataset: str,
    make_files: Callable[[], list[bytes]],
) -> None:
    files = make_files()
    forward = _load_all(fresh_db(), store, dataset, files, "fwd")
    backward = _load_all(fresh_db(), store, dataset, files[::-1], "bwd")
    # The middle file split in two halves (same header), loaded between the others.
    lines = files[1].splitlines(keepends=True)
    if dataset == "sales":
        header, body = lines[0], lines[1:]
        halves = [header + b"".join(body[:25]), header + b"".join(body[25:])]
    else:
        halves = [b"".join(lines[:20]), b"".join(lines[20:])]
    split = _load_all(
        fresh_db(), store, dataset, [files[2], halves[1], files[0], halves[0]], "split"
    )
    assert forward == backward == split
    main = "warehouse.sales" if dataset == "sales" else "warehouse.video_snapshots"
    assert forward[main][0] > 0


def test_loading_the_same_transformed_file_twice_changes_nothing(
    store: ObjectStore, audit: AuditLog
) -> None:
    from mdp.load.step import merge_file

    key = "incoming/sales/a.csv"
    store.put_bytes(key, _sales_files()[0], "text/csv")
    validate_object(key, "r", store, audit)
    transform_object(key, "r", store, audit)
    record = audit.latest_for_key(key)
    assert record is not None
    prefix = layout.transformed_prefix("sales", layout.file_id(record.sha256))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sales.parquet"
        store.download(prefix + "sales.parquet", path)
        with audit.conn.transaction():
            first = merge_file(audit.conn, "sales", {"sales.parquet": path}, record.id)
        before = dump(audit.conn)
        with audit.conn.transaction():
            second = merge_file(audit.conn, "sales", {"sales.parquet": path}, record.id)
        assert dump(audit.conn) == before
    assert first[0] > 0
    assert second == (0, 0)


def test_a_full_run_archives_and_records(store: ObjectStore, audit: AuditLog) -> None:
    rows = [
        sales_row(1),
        sales_row(2),
        sales_row(1, sale_timestamp="2026-03-01T11:00:00Z", quantity=4, total_amount=10.0),
    ]
    result = put_and_run(store, audit, "incoming/sales/a.csv", to_csv(rows))
    record = audit.get(int(result["audit_id"]))  # type: ignore[call-overload]
    assert (record.status, record.rows_inserted, record.rows_updated) == ("loaded", 2, 0)
    assert record.final_key and record.final_key.startswith("archive/sales/")
    assert store.exists(record.final_key) and not store.exists("incoming/sales/a.csv")
    got = audit.conn.execute(
        "SELECT sale_id, quantity, source_file_id FROM warehouse.sales ORDER BY sale_id"
    ).fetchall()
    assert got == [("S000001", 4, record.id), ("S000002", 3, record.id)]
    # A newer version in a later file updates; an older one does not.
    newer = [
        sales_row(1, sale_timestamp="2026-03-01T12:00:00Z", quantity=5, total_amount=12.5),
        sales_row(2, sale_timestamp="2026-03-01T09:00:00Z", quantity=9, total_amount=22.5),
    ]
    result = put_and_run(store, audit, "incoming/sales/b.csv", to_csv(newer))
    second = audit.get(int(result["audit_id"]))  # type: ignore[call-overload]
    assert (second.rows_inserted, second.rows_updated) == (0, 1)
    got = audit.conn.execute("SELECT sale_id, quantity FROM warehouse.sales ORDER BY 1").fetchall()
    assert got == [("S000001", 5), ("S000002", 3)]


def test_rerunning_finished_steps_is_a_no_op(store: ObjectStore, audit: AuditLog) -> None:
    key = "incoming/sales/a.csv"
    put_and_run(store, audit, key, to_csv([sales_row(1)]))
    before = (sorted(store.list("")), dump(audit.conn))
    assert transform_object(key, "r2", store, audit).outcome is Outcome.SKIPPED
    assert load_object(key, "r2", store, audit).outcome is Outcome.SKIPPED
    assert validate_object(key, "r2", store, audit).outcome is Outcome.ACCEPTED
    assert (sorted(store.list("")), dump(audit.conn)) == before


def test_youtube_channel_stats_use_each_videos_latest_snapshot(
    store: ObjectStore, audit: AuditLog
) -> None:
    def snap(v: str, sec: int, views: int, subs: int) -> dict[str, object]:
        return youtube_row(
            0,
            video_id=v,
            channel_id="UCc",
            channel_name="C",
            channel_subscribers=subs,
            total_views=views,
            total_likes=views // 10,
            total_dislikes=1,
            date_updated=f"2026-03-01T10:00:{sec:02d}Z",
        )

    put_and_run(
        store,
        audit,
        "incoming/youtube/b.jsonl",
        to_jsonl([snap("v1", 40, 300, 12), snap("v2", 10, 50, 10)]),
    )
    put_and_run(
        store,
        audit,
        "incoming/youtube/a.jsonl",
        to_jsonl([snap("v1", 5, 100, 9), snap("v2", 50, 70, 11)]),
    )
    row = audit.conn.execute(
        "SELECT channel_subscribers, video_count, total_views, total_likes, max_views"
        " FROM warehouse.channel_stats WHERE channel_id = 'UCc'"
    ).fetchone()
    assert row == (11, 2, 300 + 70, 30 + 7, 300)
    metrics = audit.conn.execute(
        "SELECT video_id, extract(second FROM bucket_start)::int, max_views"
        " FROM warehouse.video_metrics ORDER BY 1, 2"
    ).fetchall()
    assert metrics == [("v1", 0, 100), ("v1", 30, 300), ("v2", 0, 50), ("v2", 30, 70)]


def _validated(store: ObjectStore, audit: AuditLog, key: str) -> None:
    store.put_bytes(key, to_csv([sales_row(1), sales_row(2)]), "text/csv")
    validate_object(key, "r", store, audit)
    transform_object(key, "r", store, audit)


def test_refused_load_rolls_back_retries_then_quarantines(
    store: ObjectStore, audit: AuditLog
) -> None:
    key = "incoming/sales/a.csv"
    _validated(store, audit, key)
    # The warehouse refuses: a trigger fails every write to sales.
    audit.conn.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RAISE EXCEPTION 'refused by test'; END$$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON warehouse.sales"
        " FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    audit.conn.commit()
    with pytest.raises(psycopg.errors.RaiseException):
        load_object(key, "r", store, audit, attempt=1, max_attempts=2)
    record = audit.latest_for_key(key)
    assert record is not None
    assert record.status == "transformed" and record.error["attempt"] == 1
    assert store.exists(key), "a fault with retries left keeps the file in incoming/"
    with pytest.raises(Quarantined):
        load_object(key, "r", store, audit, attempt=2, max_attempts=2)
    record = audit.latest_for_key(key)
    assert record is not None
    failed = "failed/loading_failed/sales/a.csv"
    assert (record.status, record.load_status, record.final_key) == (
        "loading_failed",
        "failed",
        failed,
    )
    assert store.get_json(failed + ".error.json")["message"].startswith("refused by test")
    assert not store.exists(key)
    assert audit.conn.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (0,)


def test_loaded_files_leave_no_staging_or_transformed_outputs(
    store: ObjectStore, audit: AuditLog
) -> None:
    """Retention: derived objects go once the load committed; archive/ keeps the raw file."""
    rows = [sales_row(1), sales_row(2, quantity=0)]  # a rejected row: rejects.parquet too
    rows += [sales_row(i) for i in range(3, 40)]
    result = put_and_run(store, audit, "incoming/sales/a.csv", to_csv(rows))
    record = audit.get(int(result["audit_id"]))  # type: ignore[call-overload]
    assert record.status == "loaded" and record.finished_at is not None
    assert sorted(store.list("")) == [record.final_key]


def test_a_cleanup_cut_short_is_finished_by_the_rerun(store: ObjectStore, audit: AuditLog) -> None:
    key = "incoming/sales/a.csv"
    store.put_bytes(key, to_csv([sales_row(1)]), "text/csv")
    validate_object(key, "r", store, audit)
    transform_object(key, "r", store, audit)
    record = audit.latest_for_key(key)
    assert record is not None
    fid = layout.file_id(record.sha256)
    staging = layout.staging_data_key("sales", fid)
    kept = b"".join(store.stream(staging))
    load_object(key, "r", store, audit)
    store.put_bytes(staging, kept, "application/vnd.apache.parquet")  # as if killed mid-cleanup
    assert load_object(key, "r2", store, audit).outcome is Outcome.SKIPPED
    assert list(store.list("staging/")) == []


def test_a_new_version_archived_the_same_day_keeps_the_first(
    store: ObjectStore, audit: AuditLog
) -> None:
    key = "incoming/sales/a.csv"
    first = put_and_run(store, audit, key, to_csv([sales_row(1)]))
    second = put_and_run(store, audit, key, to_csv([sales_row(2)]))
    one, two = audit.get(int(first["audit_id"])), audit.get(int(second["audit_id"]))  # type: ignore[call-overload]
    assert one.final_key != two.final_key
    assert two.final_key == one.final_key.replace("/a.csv", f"/{layout.file_id(two.sha256)}/a.csv")  # type: ignore[union-attr]
    assert b"".join(store.stream(str(one.final_key))) == to_csv([sales_row(1)])


def _transformed_sales(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, key: str, rows: list[dict[str, Any]]
) -> pa.Table:
    """The transform's sales.parquet of a CSV of ``rows``, read back as an Arrow table."""
    store.put_bytes(key, to_csv(rows), "text/csv")
    validate_object(key, "r", store, audit)
    transform_object(key, "r", store, audit)
    record = audit.latest_for_key(key)
    assert record is not None
    prefix = layout.transformed_prefix("sales", layout.file_id(record.sha256))
    path = tmp_path / f"{record.id}.parquet"
    store.download(prefix + "sales.parquet", path)
    return pq.read_table(path)


def _merge_table(audit: AuditLog, table: pa.Table, tmp_path: Path) -> tuple[int, int]:
    from mdp.load.step import merge_file

    path = tmp_path / "sales.parquet"
    pq.write_table(table, path)
    with audit.conn.transaction():
        return merge_file(audit.conn, "sales", {"sales.parquet": path}, 1)


def test_the_merge_counts_updates_and_inserts_and_keeps_the_newest(
    store: ObjectStore, audit: AuditLog, tmp_path: Path
) -> None:
    """A file with newer, older, identical and new keys against stored rows: exact counts, and
    only the newer rows change."""
    first = [sales_row(i, sale_timestamp="2026-03-01T12:00:00Z") for i in range(6)]
    assert _merge_table(
        audit, _transformed_sales(store, audit, tmp_path, "incoming/sales/a.csv", first), tmp_path
    ) == (6, 0)
    second = (
        [sales_row(i, sale_timestamp="2026-03-01T13:00:00Z", customer_name="New") for i in (0, 1)]
        + [sales_row(2, sale_timestamp="2026-03-01T11:00:00Z", customer_name="Old")]
        + [sales_row(3, sale_timestamp="2026-03-01T12:00:00Z")]
        + [sales_row(i, sale_timestamp="2026-03-01T12:00:00Z") for i in (10, 11, 12)]
    )
    table = _transformed_sales(store, audit, tmp_path, "incoming/sales/b.csv", second)
    assert _merge_table(audit, table, tmp_path) == (3, 2)
    names: dict[str, str] = dict(
        audit.conn.execute("SELECT sale_id, customer_name FROM warehouse.sales").fetchall()
    )
    assert len(names) == 9
    assert [names[sales_row(i)["sale_id"]] for i in (0, 1)] == ["New", "New"]
    assert names[sales_row(2)["sale_id"]] != "Old"
    audit.conn.commit()


@pytest.mark.parametrize(
    ("stored", "refusal"),
    [
        (False, psycopg.errors.UniqueViolation),  # the INSERT of the new key, twice
        (True, psycopg.errors.CardinalityViolation),  # MERGE changing the stored row twice
    ],
    ids=["new key", "stored key"],
)
def test_a_stage_holding_a_key_twice_is_refused(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, stored: bool, refusal: type[Exception]
) -> None:
    """The transform keeps one row per key; should a transformed file ever hold a key twice,
    the merge refuses it (nothing written) rather than keep an arbitrary one of the two."""
    old = _transformed_sales(
        store,
        audit,
        tmp_path,
        "incoming/sales/a.csv",
        [sales_row(1, sale_timestamp="2026-03-01T10:00:00Z")],
    )
    if stored:
        _merge_table(audit, old, tmp_path)
    newer = [
        _transformed_sales(
            store,
            audit,
            tmp_path,
            f"incoming/sales/{hour}.csv",
            [sales_row(1, sale_timestamp=f"2026-03-01T{hour}:00:00Z")],
        )
        for hour in (11, 12)
    ]
    before = dump(audit.conn)
    with pytest.raises(refusal):
        _merge_table(audit, pa.concat_tables(newer), tmp_path)
    audit.conn.rollback()
    assert dump(audit.conn) == before


def test_a_second_stage_row_older_than_the_stored_one_keeps_the_newest(
    store: ObjectStore, audit: AuditLog, tmp_path: Path
) -> None:
    """A duplicate that does not beat the stored row changes nothing: the newest row wins."""
    rows = {
        hour: _transformed_sales(
            store,
            audit,
            tmp_path,
            f"incoming/sales/{hour}.csv",
            [sales_row(1, sale_timestamp=f"2026-03-01T{hour}:00:00Z", customer_name=f"h{hour}")],
        )
        for hour in (10, 11, 12)
    }
    _merge_table(audit, rows[11], tmp_path)
    for order in ([10, 12], [12, 10]):
        _merge_table(audit, pa.concat_tables([rows[h] for h in order]), tmp_path)
        name = audit.conn.execute("SELECT customer_name FROM warehouse.sales").fetchone()
        assert name == ("h12",)
        audit.conn.commit()


@pytest.mark.parametrize(
    "nested_loops_allowed", [False, True], ids=["load", "without its settings"]
)
def test_the_insert_of_new_keys_stays_a_hash_join_on_a_table_vacuumed_empty(
    store: ObjectStore,
    audit: AuditLog,
    database: Database,
    tmp_path: Path,
    nested_loops_allowed: bool,
) -> None:
    """A first load rolled back and autovacuum after it leave ``warehouse.sales`` with statistics
    of zero rows. Planned on those, ``INSERT ... WHERE NOT EXISTS`` became a nested loop that
    rescans the growing table per stage row (seen on the test cluster: minutes of CPU for 400k
    rows). The load's session settings keep it a hash anti-join; without them the plan nests
    (which shows this test reproduces the trap)."""
    from mdp.contracts import get_contract
    from mdp.extensions import tables_for
    from mdp.load import merge
    from mdp.load.step import copy_parquet

    rows = [sales_row(i) for i in range(3000)]
    table = _transformed_sales(store, audit, tmp_path, "incoming/sales/big.csv", rows)
    path = tmp_path / "sales.parquet"
    pq.write_table(table, path)
    with database.connect() as other:
        # The statistics autovacuum leaves once a rolled-back first load's rows are vacuumed:
        # an empty table, counted.
        other.execute("TRUNCATE warehouse.sales")
        other.execute("VACUUM ANALYZE warehouse.sales")
    (spec, *_) = tables_for(get_contract("sales"))
    with audit.conn.transaction(force_rollback=True):
        if not nested_loops_allowed:
            for setting in merge.session_settings():
                audit.conn.execute(setting)
        copy_parquet(audit.conn, spec, path)
        explain = psycopg.sql.SQL("EXPLAIN ") + merge.insert_new(spec)
        plan = "\n".join(
            r[0] for r in audit.conn.execute(explain, {"source_file_id": 1}).fetchall()
        )
    assert ("Nested Loop" in plan) is nested_loops_allowed, plan
    if not nested_loops_allowed:
        assert "Hash Anti Join" in plan, plan
