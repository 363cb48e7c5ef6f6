"""`make quickstart`: the whole pipeline on this machine in about a minute, no Kubernetes.

Starts a throwaway MinIO and PostgreSQL as local processes (the code the test fixtures use),
migrates, generates good and deliberately broken files of both datasets, runs every file through
validate -> transform -> load, and prints where each file ended, the audit log and the warehouse
row counts. The servers then stay up for exploring until Ctrl-C (or ``make quickstart-down``
from another terminal), which stops them and deletes their data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from minio import Minio

from mdp.audit import AuditLog
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer
from mdp.generate.step import generate
from mdp.run import Pipeline
from mdp.storage import ObjectStore

STATE_FILE = Path(".quickstart.json")
BUCKET = "mdp"
DATABASE = "warehouse"
PLAN = [  # dataset, format, files, rows, bad fraction
    ("sales", "csv", 4, 2_000, 0.5),
    ("sales", "json", 2, 1_000, 0.0),
    ("youtube", "parquet", 3, 1_500, 1 / 3),
    ("youtube", "json", 2, 1_000, 0.5),
]


def say(step: str, message: str) -> None:
    print(f"[quickstart] {step:<9} {message}", flush=True)


@contextmanager
def servers() -> Iterator[tuple[MinioServer, PostgresServer]]:
    minio = MinioServer.start()
    try:
        pg = PostgresServer.start()
    except BaseException:
        minio.stop()
        raise
    try:
        STATE_FILE.write_text(
            json.dumps(
                {
                    "minio": {
                        "port": minio.port,
                        "console_port": minio.console_port,
                        "access_key": minio.access_key,
                        "secret_key": minio.secret_key,
                        "root": str(minio.root),
                        "pid": minio.pid,
                    },
                    "owner_pid": os.getpid(),
                    "postgres": {
                        "port": pg.port,
                        "user": pg.user,
                        "password": pg.password,
                        "root": str(pg.root),
                        "bindir": str(pg.bindir),
                        "prefix": pg.prefix,
                    },
                }
            )
        )
        yield minio, pg
    finally:
        # From here on every further Ctrl-C or SIGTERM is ignored (the first one already asked
        # for this): `make` and `uv run` each pass an interrupt on, and a clean-up cut short
        # would leave the servers' data and .quickstart.json behind.
        _ignore_stop_signals()
        say("stop", "stopping MinIO and PostgreSQL, deleting their data")
        pg.stop()
        minio.stop()
        STATE_FILE.unlink(missing_ok=True)


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_once(signum: int, _frame: object) -> None:
    """The first SIGINT or SIGTERM starts the clean-up; any later one is ignored, so a second
    interrupt arriving while the servers are stopped cannot cut the clean-up short."""
    _ignore_stop_signals()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(0)


def down() -> int:
    """Stop servers left by a quickstart that was killed or is running in another terminal."""
    if not STATE_FILE.exists():
        print("no quickstart is running (no .quickstart.json here)")
        return 0
    state = json.loads(STATE_FILE.read_text())
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(state["owner_pid"]), signal.SIGTERM)  # it stops its servers itself
        for _ in range(300):
            if not STATE_FILE.exists():
                print("quickstart stopped; its servers and data are gone")
                return 0
            time.sleep(0.1)
    m, p = state["minio"], state["postgres"]
    PostgresServer(
        port=int(p["port"]),
        user=p["user"],
        password=p["password"],
        root=Path(p["root"]),
        bindir=Path(p["bindir"]),
        prefix=p["prefix"],
    ).stop()
    MinioServer(
        port=int(m["port"]),
        console_port=int(m["console_port"]),
        access_key=m["access_key"],
        secret_key=m["secret_key"],
        root=Path(m["root"]),
        pid=int(m["pid"]),
    ).stop()
    STATE_FILE.unlink(missing_ok=True)
    print("quickstart servers stopped and their data deleted")
    return 0


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [tuple("" if v is None else str(v) for v in r) for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def demo(minio: MinioServer, pg: PostgresServer) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(pg.conninfo(DATABASE), autocommit=True) as conn:
        say("migrate", ", ".join(migrate(conn)))
        store = ObjectStore(
            Minio(minio.endpoint, minio.access_key, minio.secret_key, secure=False), BUCKET
        )
        keys: list[str] = []
        for i, (dataset, fmt, files, rows, bad) in enumerate(PLAN):
            made = generate(
                store, dataset, files=files, rows=rows, fmt=fmt, bad_fraction=bad, seed=100 + i
            )
            keys += [m.key for m in made]
            say(
                "generate",
                f"{files} {dataset} {fmt} file(s) of {rows:,} rows, "
                f"{sum(m.kind != 'good' for m in made)} broken on purpose",
            )
        pipeline = Pipeline(store, AuditLog(conn))
        for n, key in enumerate(keys, 1):
            result = pipeline.run(key, "quickstart")
            say("run", f"{n:>2}/{len(keys)} {key} -> {result['outcome']}")
        print()
        print(
            _table(
                conn.execute(
                    "SELECT id, object_key, format, status, rows_in, rows_rejected, rows_inserted,"
                    " rows_updated, coalesce(error->>'rule', '') AS rule, final_key"
                    " FROM audit.file_ingestion_log ORDER BY id"
                ).fetchall(),
                (
                    "id",
                    "object",
                    "format",
                    "status",
                    "rows in",
                    "rejected",
                    "inserted",
                    "updated",
                    "rule",
                    "ended in",
                ),
            )
        )
        print()
        counts = [
            (t, conn.execute(f"SELECT count(*) FROM warehouse.{t}").fetchone()[0])  # type: ignore[index]
            for t in ("sales", "video_snapshots", "video_metrics", "channel_stats")
        ]
        print(_table(counts, ("warehouse table", "rows")))
        print()
        left = list(store.list("incoming/"))
        say(
            "check",
            f"{len(left)} object(s) left in incoming/ (every file ended somewhere)"
            if not left
            else f"still in incoming/: {left}",
        )
    print(f"""
MinIO     http://{minio.endpoint}  access key {minio.access_key}  secret key {minio.secret_key}
          bucket {BUCKET}: archive/, failed/<stage>/ (with .error.json), staging/, transformed/
Postgres  psql "{pg.conninfo(DATABASE)}"
Run more files through the pipeline from another terminal:
  export S3__ENDPOINT={minio.endpoint} S3__ACCESS_KEY={minio.access_key} \\
         S3__SECRET_KEY='{minio.secret_key}' S3__BUCKET={BUCKET} \\
         PG__PORT={pg.port} PG__DATABASE={DATABASE} PG__USER={pg.user} \\
         PG__PASSWORD='{pg.password}'
  uv run mdp generate --dataset sales --files 1 --rows 500 && uv run mdp run incoming/sales/<file>
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-wait", action="store_true", help="stop the servers right after the demo (CI, scripts)"
    )
    parser.add_argument("--down", action="store_true", help="stop a running quickstart")
    args = parser.parse_args(argv)
    if args.down:
        return down()
    # The summary tables say what happened to each file; step logs would only repeat it.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if STATE_FILE.exists():
        print("a quickstart seems to be running already; stop it with `make quickstart-down`")
        return 1
    signal.signal(signal.SIGINT, _stop_once)
    signal.signal(signal.SIGTERM, _stop_once)
    start = time.perf_counter()
    say("start", "starting MinIO and PostgreSQL on random 127.0.0.1 ports")
    waiting = False
    try:
        with servers() as (minio, pg):
            demo(minio, pg)
            say("done", f"in {time.perf_counter() - start:.0f} s")
            if not args.no_wait:
                waiting = True
                say("wait", "servers stay up for exploring; Ctrl-C stops them and deletes the data")
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        if not waiting:  # Ctrl-C while the demo ran: the clean-up is done, the demo is not
            return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
