"""bench/run.py: every way's ratio is printed, and the dlt way merges to the expected table.

No figure is asserted here (targets live in `make bench`); these tests check that the bench
measures what it says on a file of a few hundred rows against the session's real servers.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from bench import run
from mdp.devservers import MinioServer, PostgresServer
from mdp.transform.dedupe import keep_max


def test_dlt_is_a_default_way() -> None:
    assert "dlt" in run.DEFAULT_WAYS.split(",")
    assert set(run.WAY_FLAGS.values()) == set(run.WAYS) == set(run.WAY_TABLES)


def test_report_gives_every_way_its_ratio_to_the_baseline() -> None:
    results = [
        run.Result("SQL upsert", "first", 10, 2.0),
        run.Result("dlt", "first", 10, 3.0, {"dlt": 120.0}),
        run.Result("production", "first", 10, 2.5),
    ]
    results[1].steps["dlt"] = {"wall": 3.0, "startup": 1.0, "extract": 0.5, "load": 1.0}
    lines = run.report(results, 10).splitlines()
    dlt_row = next(line for line in lines if line.startswith("dlt ") and "first" in line)
    assert dlt_row.split()[:4] == ["dlt", "first", "3.0", "1.50"]
    assert any(line.split()[:4] == ["production", "first", "2.5", "1.25"] for line in lines)
    assert "where dlt's time goes" in "\n".join(lines)


def _expected(first: Path, update: Path) -> list[tuple[object, ...]]:
    """Both files' rows, the newest version of every sale: what the transform keeps."""
    tables = [pacsv.read_csv(f, convert_options=run._sales_csv_types()) for f in (first, update)]
    kept = keep_max(pa.concat_tables(tables), run.SALES_TABLE)
    money = {"unit_price", "total_amount"}  # doubles in Arrow, numeric in the table
    return sorted(
        tuple(Decimal(f"{r[c]:.2f}") if c in money else r[c] for c in run.COLUMNS)
        for r in kept.to_pylist()
    )


@pytest.mark.integration
def test_dlt_way_merges_to_the_newest_version_of_every_sale(
    minio_server: MinioServer, pg_server: PostgresServer, tmp_path: Path
) -> None:
    rows = 300
    bench = run.Bench(minio_server, pg_server, tmp_path, None)
    bench.ways = ("dlt", "SQL upsert")
    bench.prepare(rows, list(bench.ways))
    bench.run(rows)  # fails when the two ways' tables differ

    assert [(r.way, r.case) for r in bench.results] == [
        ("dlt", "first"),
        ("SQL upsert", "first"),
        ("dlt", "update"),
        ("SQL upsert", "update"),
    ]
    dlt_first, dlt_update = bench.results[0], bench.results[2]
    assert {"startup", "extract", "normalize", "load"} <= set(dlt_update.steps["dlt"])
    assert dlt_first.peak_rss_mib["dlt"] > 0
    with psycopg.connect(pg_server.conninfo("bench_dlt")) as conn:
        stored = sorted(conn.execute(f"SELECT {', '.join(run.COLUMNS)} FROM public.sales"))
    expected = _expected(bench.files["first"], bench.files["update"])
    assert len(expected) > rows  # the update file's new sales were added
    assert stored == expected

    # A table that differs from the others fails the run.
    with psycopg.connect(pg_server.conninfo("bench_dlt")) as conn:
        conn.execute(
            "UPDATE public.sales SET quantity = quantity + 1 WHERE sale_id = %s", (expected[0][0],)
        )
    with pytest.raises(SystemExit, match="disagree"):
        bench.check_states("update", bench.results[2:])
