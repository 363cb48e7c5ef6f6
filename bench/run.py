"""`make bench`: throughput and peak memory of the steps on real MinIO and PostgreSQL.

Starts throwaway servers exactly as the test fixtures do, generates files with `mdp generate`,
then runs each step as its own `mdp` process (as its pod would) and reads the process's peak RSS
from the kernel (wait4 rusage). Prints a table; ``--json PATH`` also writes it for tracking.
Performance targets live here, never in timed unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer


@dataclass
class Measurement:
    step: str
    rows: int
    bytes: int
    seconds: float
    peak_rss_mib: float

    @property
    def rows_per_min(self) -> float:
        return self.rows / self.seconds * 60 if self.seconds else 0.0


def run_step(env: dict[str, str], *args: str) -> tuple[list[dict[str, object]], float, float]:
    """Run `mdp ARGS`, return (JSON lines, seconds, peak RSS MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "mdp.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"mdp {' '.join(args)} failed with exit code {code}")
    lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
    return lines, seconds, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sales-rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()

    print("starting MinIO and PostgreSQL ...", file=sys.stderr)
    minio, pg = MinioServer.start(), PostgresServer.start()
    try:
        with psycopg.connect(pg.conninfo(), autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        with psycopg.connect(pg.conninfo("bench")) as c:
            migrate(c)
        env = {
            **os.environ,
            "S3__ENDPOINT": minio.endpoint,
            "S3__ACCESS_KEY": minio.access_key,
            "S3__SECRET_KEY": minio.secret_key,
            "S3__BUCKET": "bench",
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(pg.port),
            "PG__DATABASE": "bench",
            "PG__USER": pg.user,
            "PG__PASSWORD": pg.password,
        }
        results: list[Measurement] = []
        for rows in args.sales_rows:
            print(f"generating a sales CSV of {rows:,} rows ...", file=sys.stderr)
            lines, secs, rss = run_step(
                env,
                "generate",
                "--dataset",
                "sales",
                "--rows",
                str(rows),
                "--format",
                "csv",
                "--seed",
                str(rows),
            )
            key = str(lines[0]["key"])
            from minio import Minio

            size = (
                Minio(minio.endpoint, minio.access_key, minio.secret_key, secure=False)
                .stat_object("bench", key)
                .size
                or 0
            )
            results.append(Measurement("generate", rows, size, secs, rss))
            print(f"validating {key} ({size / 2**20:,.0f} MiB) ...", file=sys.stderr)
            lines, secs, rss = run_step(env, "validate", key, "--run-id", "bench")
            results.append(Measurement("validate", rows, size, secs, rss))
        header = (
            f"{'step':<10} {'rows':>12} {'MiB':>8} {'seconds':>9} {'rows/min':>14}"
            f" {'peak RSS MiB':>13}"
        )
        print(header)
        print("-" * len(header))
        for m in results:
            print(
                f"{m.step:<10} {m.rows:>12,} {m.bytes / 2**20:>8,.0f} {m.seconds:>9.1f} "
                f"{m.rows_per_min:>14,.0f} {m.peak_rss_mib:>13.0f}"
            )
        if args.json:
            args.json.write_text(
                json.dumps(
                    [asdict(m) | {"rows_per_min": m.rows_per_min} for m in results], indent=2
                )
            )
    finally:
        minio.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
