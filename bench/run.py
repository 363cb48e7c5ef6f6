"""`make bench`: throughput and peak memory of every step on real MinIO and PostgreSQL.

Starts throwaway servers exactly as the test fixtures do, generates files with `mdp generate`,
then runs validate, transform and load each as its own `mdp` process (as its pod would) and reads
each process's peak RSS from the kernel (wait4 rusage). In the same run and on the same data it
measures the ceiling, a PostgreSQL COPY of the deduplicated rows into a fresh table with the same
primary key, and the baseline, a naive per-row INSERT ... ON CONFLICT through pandas on a sample.
Prints a table; ``--json PATH`` also writes it. Performance targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from minio import Minio

from mdp import layout
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer

BUCKET = "bench"
SALES_COLUMNS = (
    "sale_id, sale_timestamp, customer_id, customer_name, product_id, product_name, category,"
    " quantity, unit_price, total_amount, currency, payment_method, region"
)


@dataclass
class Row:
    case: str
    step: str
    rows: int
    seconds: float
    peak_rss_mib: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rows_per_min(self) -> float:
        return self.rows / self.seconds * 60 if self.seconds else 0.0


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_step(env: dict[str, str], *args: str) -> tuple[list[dict[str, object]], float, float]:
    """Run `mdp ARGS` as a child process: (JSON lines, seconds, peak RSS MiB).

    Peak RSS is the child's own VmHWM, sampled every 20 ms until it exits. wait4's ru_maxrss is
    not used: Linux carries the parent's high-water mark into the child across fork and exec,
    so once this process has grown, every child would report at least its size.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "mdp.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm_kib(proc.pid) or 0)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        lines = [json.loads(x) for x in out.read().decode().splitlines() if x.strip()]
    if proc.returncode != 0:
        raise SystemExit(
            f"mdp {' '.join(args)} failed with exit code {proc.returncode}: {lines[-1:]}"
        )
    return lines, seconds, peak / 1024


class Bench:
    def __init__(self, minio: MinioServer, pg: PostgresServer) -> None:
        self.minio = minio
        self.pg = pg
        self.client = Minio(minio.endpoint, minio.access_key, minio.secret_key, secure=False)
        self.results: list[Row] = []
        self.env = {
            **os.environ,
            "S3__ENDPOINT": minio.endpoint,
            "S3__ACCESS_KEY": minio.access_key,
            "S3__SECRET_KEY": minio.secret_key,
            "S3__BUCKET": BUCKET,
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(pg.port),
            "PG__DATABASE": "bench",
            "PG__USER": pg.user,
            "PG__PASSWORD": pg.password,
        }

    def conn(self) -> psycopg.Connection:
        return psycopg.connect(self.pg.conninfo("bench"), autocommit=True)

    def pipeline(self, dataset: str, rows: int) -> str:
        """Generate one CSV file and run every step on it; returns its key."""
        case = f"{dataset} {rows:,}"
        progress(f"{case}: generating")
        lines, secs, rss = run_step(
            self.env,
            "generate",
            "--dataset",
            dataset,
            "--rows",
            str(rows),
            "--format",
            "csv",
            "--seed",
            str(rows),
        )
        key = str(lines[0]["key"])
        size = self.client.stat_object(BUCKET, key).size or 0
        self.results.append(Row(case, "generate", rows, secs, rss, {"mib": round(size / 2**20)}))
        total = 0.0
        for step in ("validate", "transform", "load"):
            progress(f"{case}: {step} ({size / 2**20:,.0f} MiB CSV)")
            lines, secs, rss = run_step(self.env, step, key, "--run-id", "bench")
            total += secs
            self.results.append(Row(case, step, rows, secs, rss, dict(lines[-1])))
        self.results.append(Row(case, "end to end", rows, total))
        return key

    def ceiling_and_baseline(self, key: str, rows: int, sample: int) -> None:
        """COPY of the same deduplicated rows into a fresh indexed table, and the naive loop."""
        case = f"sales {rows:,}"
        with self.conn() as conn:
            sha = conn.execute(
                "SELECT sha256 FROM audit.file_ingestion_log WHERE object_key = %s", (key,)
            ).fetchone()
        if sha is None:
            raise SystemExit(f"no audit row for {key}")
        parquet_key = layout.transformed_prefix("sales", layout.file_id(sha[0])) + "sales.parquet"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "sales.parquet"
            self.client.fget_object(BUCKET, parquet_key, str(local))
            csv_path = Path(tmp) / "sales.csv"
            with pacsv.CSVWriter(
                csv_path,
                pq.read_schema(local),
                write_options=pacsv.WriteOptions(include_header=False),
            ) as w:
                for batch in pq.ParquetFile(local).iter_batches(65_536):
                    w.write_batch(batch)
            merged = pq.ParquetFile(local).metadata.num_rows
            progress(f"{case}: COPY ceiling ({merged:,} rows into a fresh indexed table)")
            with self.conn() as conn:
                conn.execute("CREATE TABLE ceiling (LIKE warehouse.sales INCLUDING ALL)")
                conn.execute("ALTER TABLE ceiling DROP COLUMN source_file_id")
                conn.commit()
                start = time.perf_counter()
                with (
                    conn.cursor().copy(
                        f"COPY ceiling ({SALES_COLUMNS}) FROM STDIN (FORMAT csv)"
                    ) as copy,
                    csv_path.open("rb") as f,
                ):
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                conn.commit()
                secs = time.perf_counter() - start
                conn.execute("DROP TABLE ceiling")
                conn.commit()
            self.results.append(Row(case, "COPY ceiling", merged, secs))
            self.naive(case, csv_path, sample)

    def naive(self, case: str, csv_path: Path, sample: int) -> None:
        import pandas as pd

        progress(f"{case}: naive pandas per-row upsert on {sample:,} rows")
        names = [c.strip() for c in SALES_COLUMNS.split(",")]
        frame = pd.read_csv(csv_path, names=names, nrows=sample, keep_default_na=False)
        placeholders = ", ".join(["%s"] * len(names))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in names[1:])
        statement = (
            f"INSERT INTO naive ({SALES_COLUMNS}) VALUES ({placeholders})"
            f" ON CONFLICT (sale_id) DO UPDATE SET {updates}"
            " WHERE EXCLUDED.sale_timestamp > naive.sale_timestamp"
        )
        with self.conn() as conn:
            conn.execute("CREATE TABLE naive (LIKE warehouse.sales INCLUDING ALL)")
            conn.execute("ALTER TABLE naive DROP COLUMN source_file_id")
            conn.commit()
            start = time.perf_counter()
            for record in frame.itertuples(index=False):
                conn.execute(statement, [None if v == "" else v for v in record])
            conn.commit()
            secs = time.perf_counter() - start
            conn.execute("DROP TABLE naive")
            conn.commit()
        self.results.append(Row(case, "naive pandas", len(frame), secs))

    def report(self) -> str:
        lines = [
            f"{'case':<16} {'step':<14} {'rows':>12} {'seconds':>9} {'rows/min':>14}"
            f" {'peak RSS':>10}",
            "-" * 80,
        ]
        for r in self.results:
            rss = f"{r.peak_rss_mib:.0f} MiB" if r.peak_rss_mib is not None else ""
            lines.append(
                f"{r.case:<16} {r.step:<14} {r.rows:>12,} {r.seconds:>9.1f} "
                f"{r.rows_per_min:>14,.0f} {rss:>10}"
            )
        lines.append("")
        for case in dict.fromkeys(r.case for r in self.results):
            by = {r.step: r for r in self.results if r.case == case}
            if "COPY ceiling" in by and "load" in by:
                load_rate = by["COPY ceiling"].rows / by["load"].seconds * 60
                lines.append(
                    f"{case}: load merges {load_rate:,.0f} deduplicated rows/min = "
                    f"{load_rate / by['COPY ceiling'].rows_per_min:.0%} of the COPY ceiling, "
                    f"{load_rate / by['naive pandas'].rows_per_min:,.0f}x the naive baseline"
                )
        return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales-rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--youtube-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--naive-sample", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    progress("starting MinIO and PostgreSQL")
    minio, pg = MinioServer.start(), PostgresServer.start()
    try:
        with psycopg.connect(pg.conninfo(), autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        with psycopg.connect(pg.conninfo("bench")) as c:
            migrate(c)
        bench = Bench(minio, pg)
        for rows in args.sales_rows:
            key = bench.pipeline("sales", rows)
            bench.ceiling_and_baseline(key, rows, min(args.naive_sample, rows))
        for rows in args.youtube_rows:
            bench.pipeline("youtube", rows)
        print(bench.report())
        if args.json:
            args.json.write_text(
                json.dumps(
                    [asdict(r) | {"rows_per_min": r.rows_per_min} for r in bench.results],
                    indent=2,
                    default=str,
                )
            )
    finally:
        minio.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
