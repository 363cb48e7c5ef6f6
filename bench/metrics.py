"""`make bench BENCH_ARGS="--cases metrics"`: the exporter's scrape time on a large audit log.

Fills a migrated database with ``audit_rows`` audit rows (two datasets over 90 days: 85% loaded,
5% duplicates, 7% rejected under five rules, 2% failed in load, 1% still in flight), vacuums it
as autovacuum would, puts a backlog of files in incoming/, then times full scrapes of the
exporter (both sources, every metric family) and prints the plan of the one query on the log
itself (files in flight), which must use its partial index. The insert goes through the triggers
that keep the totals (migration 009), so its time includes theirs.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable

import psycopg
from minio import Minio

from mdp.config import PostgresSettings
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer
from mdp.metrics.collect import read_backlog
from mdp.metrics.exporter import PlatformCollector, PostgresAudit, Sources
from mdp.storage import ObjectStore

FILL = """
INSERT INTO audit.file_ingestion_log (dataset, object_key, size_bytes, sha256, format, status,
    rows_in, rows_valid, rows_rejected, rows_inserted, rows_updated, error, final_key, run_id,
    created_at, updated_at, finished_at)
SELECT dataset, 'incoming/' || dataset || '/f' || i || '.csv', 1000, sha, 'csv', status,
    2000, 1990, 10,
    CASE WHEN status = 'loaded' THEN 1500 END, CASE WHEN status = 'loaded' THEN 490 END,
    CASE WHEN status = 'validation_failed' THEN jsonb_build_object('rule', 'rule_' || (i %% 5))
         WHEN status = 'loading_failed' THEN jsonb_build_object('error', 'OperationalError') END,
    CASE WHEN status <> 'received' THEN 'archive/' || i END, 'bench',
    created, created, CASE WHEN status <> 'received' THEN created + (i %% 900) * interval '1 s' END
FROM (
    SELECT i, CASE WHEN i %% 2 = 0 THEN 'sales' ELSE 'youtube' END AS dataset,
        md5(i::text) || md5((i + 1)::text) AS sha,
        now() - interval '90 days' * (1 - i::float8 / %(n)s) AS created,
        CASE WHEN i %% 100 < 85 THEN 'loaded' WHEN i %% 100 < 90 THEN 'duplicate'
             WHEN i %% 100 < 97 THEN 'validation_failed' WHEN i %% 100 < 99 THEN 'loading_failed'
             ELSE 'received' END AS status
    FROM generate_series(1, %(n)s) AS i
) AS generated
"""


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _timed(call: Callable[[], object], times: int) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        out.append(time.perf_counter() - started)
    return out


def run(minio: MinioServer, pg: PostgresServer, audit_rows: int, scrapes: int = 10) -> str:
    """Fill, then time ``scrapes`` scrapes; returns the report."""
    name = f"bench_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(pg.conninfo(name), autocommit=True) as conn:
        migrate(conn)
        progress(f"inserting {audit_rows:,} audit rows")
        started = time.perf_counter()
        conn.execute(FILL.encode(), {"n": audit_rows})
        progress(f"inserted in {time.perf_counter() - started:.1f} s; VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE audit.file_ingestion_log")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN (ANALYZE, COSTS OFF) SELECT dataset, status, count(*)"
                " FROM audit.file_ingestion_log WHERE finished_at IS NULL GROUP BY 1, 2"
            ).fetchall()
        )
    client = Minio(
        minio.endpoint, access_key=minio.access_key, secret_key=minio.secret_key, secure=False
    )
    store = ObjectStore(client, f"bench-metrics-{uuid.uuid4().hex[:8]}")
    store.ensure_bucket()
    for i in range(100):
        store.put_bytes(f"incoming/{('sales', 'youtube')[i % 2]}/w{i}.csv", b"x", "text/csv")
    settings = PostgresSettings(
        host="127.0.0.1", port=pg.port, database=name, user=pg.user, password=pg.password
    )
    audit = PostgresAudit(settings)
    sources = Sources(audit=audit, backlog=lambda known: read_backlog(store, known))
    collector = PlatformCollector(sources)
    full = _timed(lambda: list(collector.collect()), scrapes)
    postgres = _timed(audit, scrapes)
    backlog = _timed(lambda: read_backlog(store, ()), scrapes)
    audit.close()
    with psycopg.connect(pg.conninfo(), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")

    def line(what: str, times: list[float]) -> str:
        return (
            f"{what:<32} median {statistics.median(times) * 1000:7.0f} ms"
            f"  min {min(times) * 1000:7.0f} ms  max {max(times) * 1000:7.0f} ms"
        )

    return "\n".join(
        [
            f"metrics exporter, {audit_rows:,} audit rows, 100 files in incoming/, "
            f"{scrapes} scrapes each:",
            line("full scrape (both sources)", full),
            line("  audit log (4 queries)", postgres),
            line("  listing of incoming/", backlog),
            "plan of the in-flight query (the only one on the log itself):",
            plan,
        ]
    )
