"""`make bench`: the steps in production shape against a hand-written SQL upsert, one run.

Starts throwaway MinIO and PostgreSQL servers (mdp.devservers, as the tests do), generates a sales
CSV of ``--rows`` rows with ``mdp generate`` (~1% in-file duplicate ids) and derives an *update*
file of the same size in which half the rows are newer versions of the first file's ids and half
are new ids. Then, for the **first** load and for the **update** load, it times five ways:

* ``production``: ``mdp validate``, ``mdp transform``, ``mdp load``, each as its own process that
  reads its input from MinIO and writes its output back, exactly as the three pods do;
* ``mdp run``: the same three steps in one process;
* ``dlt``: the peer a data engineer would pick instead, dlt's fastest path for PostgreSQL (Arrow
  tables, CSV loader files, merge on ``sale_id`` with the newest ``sale_timestamp`` winning) as a
  process of its own (bench/dlt_way.py);
* ``SQL upsert``: the baseline a data engineer would write by hand with psycopg: COPY the raw CSV
  into a temporary table, keep the newest row per ``sale_id`` (DISTINCT ON), and
  ``INSERT ... ON CONFLICT (sale_id) DO UPDATE ... WHERE`` the incoming row is newer;
* ``plain COPY``: COPY of the file's deduplicated rows into a fresh table (the floor: what writing
  the rows and their indexes costs, no merge).

Every way writes into a table with the primary key and indexes of ``warehouse.sales``, and
after each case every way's table must hold the same rows (count and an order-free hash of the
contract's columns), or the run fails: a faster wrong answer is no answer. Each way
gets its own database and bucket: the first load starts from an empty table, the update load from
the state its own first load left (plain COPY always starts from an empty table: it cannot
merge). Every way starts its clock right after a ``CHECKPOINT``, so none pays for flushing the
pages a previous way dirtied (that cost moved the baseline by seconds between runs). Peak RSS
is sampled from each step process's VmHWM. The per-step split (start-up,
download, compute, upload, COPY, merge, ...) comes from the steps' own ``"timings"`` (mdp.timing).

Prints one table with every way's ratio to the SQL baseline of the same run; ``--json PATH``
also writes everything. ``--ways production --rows 10000000`` measures memory at scale only.
``--format csv.gz`` uploads the files gzip-compressed, as data drops usually come (the steps
decompress while streaming; the SQL ways read the same rows uncompressed, prepared untimed).
Performance targets live here, never in timed tests.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from minio import Minio
from psycopg import sql

from mdp.contracts import get_contract
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer
from mdp.transform.dedupe import keep_max
from mdp.warehouse.tables import main_table

WAYS = ("production", "mdp run", "dlt", "SQL upsert", "plain COPY")
WAY_FLAGS = {
    "production": "production",
    "run": "mdp run",
    "dlt": "dlt",
    "sql": "SQL upsert",
    "copy": "plain COPY",
}
DEFAULT_WAYS = ",".join(WAY_FLAGS)
CASES = ("first", "update")
FORMATS = ("csv", "csv.gz")
"""How the files are uploaded for the mdp ways (``--format``)."""
STEPS = ("validate", "transform", "load")
SALES = get_contract("sales")
SALES_TABLE = main_table(SALES)
COLUMNS = SALES.column_names
TEMPLATE_DB = "bench_template"
WAY_TABLES = {
    "production": ("bench_production", "warehouse.sales"),
    "mdp run": ("bench_run", "warehouse.sales"),
    "dlt": ("bench_dlt", "public.sales"),
    "SQL upsert": ("bench_sql", "public.sales"),
    "plain COPY": ("bench_sql", "public.sales_copy"),
}
"""Where each way's table is: (database, table)."""
ROOT = Path(__file__).resolve().parents[1]
DLT_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false"}
"""dlt's settings for the bench: no telemetry; and no Airflow Variables as a configuration
source, which dlt enables whenever Airflow can be imported (the test environment has it: it
imported Airflow and queried its Variables for every setting, seconds per run)."""
UPDATE_SHIFT_US = 30 * 60 * 1_000_000
"""An updated sale is 30 minutes newer than its newest stored version: the generator's
timestamps end an hour before now, so the update stays inside validation's future tolerance."""


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Result:
    """One way on one case."""

    way: str
    case: str
    rows: int
    seconds: float
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    """Per step process (one entry for ``mdp run``; none for the in-process SQL ways)."""
    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per step: ``wall`` seconds and the step's own phases (mdp.timing)."""
    load_avg: str = ""
    state: str = ""
    """The table after this case: row count and an order-free hash (see ``Bench.state``)."""


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


STEP_PYTHON = sys.executable
"""The interpreter of the step processes (``--step-python``)."""
DLT_PYTHON = sys.executable
"""The interpreter of the dlt way (``--dlt-python``): an environment with dlt and pyarrow."""


def run_mdp(
    env: dict[str, str], log: Path, *args: str, profile: Path | None = None
) -> tuple[dict[str, Any], float, float]:
    """Run `mdp ARGS` as a child process: (its JSON result line, seconds, peak RSS MiB)."""
    if profile is not None:
        env = env | {"MDP__PROFILE": str(profile)}
    return run_process([STEP_PYTHON, "-m", "mdp.cli", *args], env, log, f"mdp {' '.join(args)}")


def run_process(
    argv: list[str], env: dict[str, str], log: Path, label: str, cwd: Path | None = None
) -> tuple[dict[str, Any], float, float]:
    """Run ARGV as a child process: (its last JSON line, seconds, peak RSS MiB).

    Peak RSS is the child's own VmHWM, sampled every 20 ms until it exits. wait4's ru_maxrss is
    not used: Linux carries the parent's high-water mark into the child across fork and exec,
    so once this process has grown, every child would report at least its size.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, log.open("ab") as err:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            argv, env=env, stdout=out, stderr=err, cwd=cwd
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _vm_hwm_kib(proc.pid) or 0)
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        out.seek(0)
        lines = [json.loads(x) for x in out.read().decode().splitlines() if x.strip()]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"{label} failed with exit code {proc.returncode}: {lines[-1:]} (log: {log})"
        )
    return lines[-1], seconds, peak / 1024


def pg_url(pg: PostgresServer, dbname: str) -> str:
    """The server as a ``postgresql://`` URL (what dlt takes as credentials)."""
    return f"postgresql://{pg.user}:{quote(pg.password, safe='')}@127.0.0.1:{pg.port}/{dbname}"


def _sales_csv_types() -> pacsv.ConvertOptions:
    """How the bench reads a generated sales CSV: the contract's types, and only an empty field
    is null ("NA" is a region, not a null)."""
    return pacsv.ConvertOptions(
        column_types=SALES.arrow_schema(),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )


def update_batches(first: Path) -> Iterator[pa.RecordBatch]:
    """The update file: even rows are newer versions of the first file's sale (another
    quantity, 30 minutes after the newest version of that sale in the first file, plus the row's
    position in microseconds), odd rows are new sales; as many rows as the first file.

    Newer than every stored version, and no two versions of a sale at the same instant: a stored
    row is then replaced by the newest version the update carries under any merge semantics,
    ours and the SQL baseline's (only a newer row replaces) as well as dlt's (the load's newest
    replaces whatever is stored), so every way must end with the same table.
    """
    stored = pacsv.read_csv(
        first,
        convert_options=pacsv.ConvertOptions(
            column_types=SALES.arrow_schema(), include_columns=["sale_id", "sale_timestamp"]
        ),
    )
    newest = stored.group_by("sale_id", use_threads=False).aggregate([("sale_timestamp", "max")])
    del stored
    newest_ids = newest.column("sale_id").combine_chunks()
    newest_us = pc.cast(newest.column("sale_timestamp_max"), pa.int64()).combine_chunks()
    reader = pacsv.open_csv(
        first,
        convert_options=_sales_csv_types(),
    )
    offset = 0
    for batch in reader:
        n = batch.num_rows
        newer = pa.array([(offset + i) % 2 == 0 for i in range(n)])
        position = pa.array(range(offset, offset + n), pa.int64())
        offset += n
        ids = pc.if_else(
            newer, batch.column("sale_id"), pc.binary_join_element_wise("U", batch["sale_id"], "")
        )
        ts = batch.column("sale_timestamp")
        newest_of_row = newest_us.take(pc.index_in(batch["sale_id"], value_set=newest_ids))
        shifted_us = pc.add(pc.add(newest_of_row, UPDATE_SHIFT_US), position)
        shifted = pc.cast(shifted_us, ts.type)
        quantity = pc.if_else(
            newer, pc.add(pc.remainder(batch["quantity"], 10), 1), batch["quantity"]
        )
        total = pc.round(pc.multiply(pc.cast(quantity, pa.float64()), batch["unit_price"]), 2)
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        columns |= {
            "sale_id": ids,
            "sale_timestamp": pc.if_else(newer, shifted, ts),
            "quantity": quantity,
            "total_amount": total,
        }
        yield pa.RecordBatch.from_arrays([columns[c] for c in COLUMNS], schema=SALES.arrow_schema())


def dedupe_to_csv(raw: Path, out: Path) -> int:
    """The file's rows deduplicated as the transform would (newest per sale_id), as headerless
    CSV for the plain COPY; returns the row count. Untimed preparation."""
    table = pacsv.read_csv(
        raw,
        convert_options=_sales_csv_types(),
    )
    deduped = keep_max(table, SALES_TABLE)
    pacsv.write_csv(deduped, out, pacsv.WriteOptions(include_header=False))
    return int(deduped.num_rows)


def _gunzip(source: Path, target: Path) -> None:
    with gzip.open(source, "rb") as src, target.open("wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)


def _gzip(source: Path, target: Path) -> None:
    with source.open("rb") as src, gzip.open(target, "wb", compresslevel=6) as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)


class Bench:
    def __init__(
        self, minio: MinioServer, pg: PostgresServer, work: Path, profile_dir: Path | None
    ) -> None:
        self.minio = minio
        self.pg = pg
        self.work = work
        self.profile_dir = profile_dir
        self.client = Minio(minio.endpoint, minio.access_key, minio.secret_key, secure=False)
        self.results: list[Result] = []
        self.files: dict[str, Path] = {}
        """Per case: the plain CSV (what the SQL ways COPY)."""
        self.uploads: dict[str, Path] = {}
        """Per case: the file the mdp ways upload (the CSV, or it gzip-compressed)."""
        self.deduped: dict[str, Path] = {}
        self.base_env = {
            **os.environ,
            "S3__ENDPOINT": minio.endpoint,
            "S3__ACCESS_KEY": minio.access_key,
            "S3__SECRET_KEY": minio.secret_key,
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(pg.port),
            "PG__USER": pg.user,
            "PG__PASSWORD": pg.password,
            "MDP__SCRATCH_DIR": str(work),
        }

    # -- set-up (untimed) -------------------------------------------------------------------

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.pg.conninfo(dbname), autocommit=True)

    def prepare(self, rows: int, ways: list[str]) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE_DB)))
        with psycopg.connect(self.pg.conninfo(TEMPLATE_DB)) as c:
            migrate(c)
        progress(f"generating {rows:,} sales rows with mdp generate")
        env = self.env("bench-generate", TEMPLATE_DB)
        self.client.make_bucket("bench-generate")
        line, secs, _ = run_mdp(
            env,
            self.work / "generate.log",
            "generate",
            "--dataset",
            "sales",
            "--rows",
            str(rows),
            "--format",
            self.format,
            "--seed",
            str(rows),
        )
        key = str(line["key"])
        first = self.work / "first.csv"
        if self.format == "csv.gz":
            self.uploads["first"] = self.work / "first.csv.gz"
            self.client.fget_object("bench-generate", key, str(self.uploads["first"]))
            _gunzip(self.uploads["first"], first)
            size = self.uploads["first"].stat().st_size / 2**20
            progress(
                f"generated {size:,.0f} MiB of gzip ({first.stat().st_size / 2**20:,.0f} MiB CSV)"
            )
        else:
            self.client.fget_object("bench-generate", key, str(first))
            self.uploads["first"] = first
            progress(f"generated {first.stat().st_size / 2**20:,.0f} MiB in {secs:.0f} s")
        self.files["first"] = first
        if "update" in self.cases:
            update = self.work / "update.csv"
            with pacsv.CSVWriter(update, SALES.arrow_schema()) as writer:
                for batch in update_batches(first):
                    writer.write_batch(batch)
            self.files["update"] = update
            self.uploads["update"] = update
            if self.format == "csv.gz":
                self.uploads["update"] = self.work / "update.csv.gz"
                _gzip(update, self.uploads["update"])
        if "dlt" in ways:
            progress("warming up dlt (two rows, untimed)")
            self.warm_up_dlt()
        if "plain COPY" in ways:
            for case, path in self.files.items():
                self.deduped[case] = self.work / f"{case}.deduped.csv"
                n = dedupe_to_csv(path, self.deduped[case])
                progress(f"{case}: {n:,} rows after deduplication (for the plain COPY)")

    cases: tuple[str, ...] = CASES
    format: str = "csv"

    def env(self, bucket: str, dbname: str) -> dict[str, str]:
        return self.base_env | {"S3__BUCKET": bucket, "PG__DATABASE": dbname}

    def settle(self) -> None:
        """Flush every dirty page before a way starts its clock (see the module docstring)."""
        with self.admin() as c:
            c.execute("CHECKPOINT")

    def fresh_database(self, name: str) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            c.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE_DB)
                )
            )

    # -- the ways ---------------------------------------------------------------------------

    def _upload(self, bucket: str, case: str) -> str:
        if not self.client.bucket_exists(bucket):
            self.client.make_bucket(bucket)
        key = f"incoming/sales/{case}.{self.format}"
        self.client.fput_object(bucket, key, str(self.uploads[case]))
        return key

    def _profile(self, way: str, case: str, step: str) -> Path | None:
        if self.profile_dir is None:
            return None
        return self.profile_dir / f"{way.replace(' ', '-')}.{case}.{step}.prof"

    def production(self, case: str, rows: int) -> Result:
        bucket, db = "bench-production", "bench_production"
        if case == "first":
            self.fresh_database(db)
        key = self._upload(bucket, case)
        env = self.env(bucket, db)
        result = Result("production", case, rows, 0.0, load_avg=load_average())
        self.settle()
        for step in STEPS:
            progress(f"production {case}: mdp {step}")
            line, secs, rss = run_mdp(
                env,
                self.work / f"production.{case}.{step}.log",
                step,
                key,
                "--run-id",
                f"bench-{case}",
                profile=self._profile("production", case, step),
            )
            result.seconds += secs
            result.peak_rss_mib[step] = rss
            result.steps[step] = {"wall": secs, **line.get("timings", {})}
        return result

    def mdp_run(self, case: str, rows: int) -> Result:
        bucket, db = "bench-run", "bench_run"
        if case == "first":
            self.fresh_database(db)
        key = self._upload(bucket, case)
        progress(f"mdp run {case}")
        self.settle()
        line, secs, rss = run_mdp(
            self.env(bucket, db),
            self.work / f"run.{case}.log",
            "run",
            key,
            "--run-id",
            f"bench-{case}",
            profile=self._profile("run", case, "run"),
        )
        result = Result("mdp run", case, rows, secs, {"run": rss}, load_avg=load_average())
        phases = line.get("timings", {})
        seconds = line.get("seconds", {})
        result.steps["process"] = {
            "wall": secs - sum(seconds.values()),
            **phases.get("process", {}),
        }
        for step in STEPS:
            result.steps[step] = {"wall": seconds.get(step, 0.0), **phases.get(step, {})}
        return result

    def dlt_database(self, db: str) -> None:
        """A fresh database with the table dlt merges into: warehouse.sales's shape."""
        self.fresh_database(db)
        with self.admin(db) as c:
            c.execute("CREATE TABLE public.sales (LIKE warehouse.sales INCLUDING ALL)")
            # dlt writes the file's columns only; ours also record the delivering file.
            c.execute("ALTER TABLE public.sales ALTER COLUMN source_file_id SET DEFAULT 0")

    def run_dlt(
        self, db: str, csv: Path, pipelines: Path, label: str, profile: Path | None = None
    ) -> tuple[dict[str, Any], float, float]:
        argv = [DLT_PYTHON]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += ["-m", "bench.dlt_way", str(csv), "--credentials", pg_url(self.pg, db)]
        argv += ["--pipelines-dir", str(pipelines)]
        env = os.environ | DLT_ENV
        return run_process(argv, env, self.work / f"{label}.log", label, cwd=ROOT)

    def warm_up_dlt(self) -> None:
        """One untimed dlt load of two rows: reads dlt's modules into the page cache, as
        ``mdp generate`` does for the steps' (and compiles them where the environment is not)."""
        tiny = self.work / "dlt-warmup.csv"
        with self.files["first"].open("rb") as f:
            tiny.write_bytes(b"".join(f.readline() for _ in range(3)))
        self.dlt_database("bench_dlt_warmup")
        self.run_dlt("bench_dlt_warmup", tiny, self.work / "dlt-warmup", "dlt-warmup")

    def dlt(self, case: str, rows: int) -> Result:
        """dlt into a table of warehouse.sales's shape, as its own process (bench/dlt_way.py);
        its pipeline state carries over from the first case to the update, as in a real
        deployment."""
        db = "bench_dlt"
        if case == "first":
            self.dlt_database(db)
        progress(f"dlt {case}")
        self.settle()
        line, secs, rss = self.run_dlt(
            db,
            self.files[case],
            self.work / "dlt-pipelines",
            f"dlt.{case}",
            self._profile("dlt", case, "dlt"),
        )
        result = Result("dlt", case, rows, secs, {"dlt": rss}, load_avg=load_average())
        result.steps["dlt"] = {"wall": secs, **line.get("timings", {})}
        return result

    def sql_upsert(self, case: str, rows: int) -> Result:
        """The hand-written baseline, timed from connect to commit."""
        db = "bench_sql"
        if case == "first":
            self.fresh_database(db)
            with self.admin(db) as c:
                c.execute("CREATE TABLE public.sales (LIKE warehouse.sales INCLUDING ALL)")
        progress(f"SQL upsert {case}")
        names = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        sets = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:]
        )
        self.settle()
        start = time.perf_counter()
        with psycopg.connect(self.pg.conninfo(db)) as conn:
            conn.execute(
                "CREATE TEMPORARY TABLE raw ON COMMIT DROP AS"
                f" SELECT {', '.join(COLUMNS)} FROM public.sales WITH NO DATA"
            )
            copy_sql = sql.SQL("COPY raw ({}) FROM STDIN (FORMAT csv, HEADER true)").format(names)
            with conn.cursor().copy(copy_sql) as copy, self.files[case].open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            conn.execute(
                sql.SQL(
                    "INSERT INTO public.sales AS t ({names}, source_file_id)"
                    " SELECT DISTINCT ON (sale_id) {names}, %s FROM raw"
                    " ORDER BY sale_id, sale_timestamp DESC"
                    " ON CONFLICT (sale_id) DO UPDATE SET {sets},"
                    " source_file_id = excluded.source_file_id, loaded_at = now()"
                    " WHERE excluded.sale_timestamp > t.sale_timestamp"
                ).format(names=names, sets=sets),
                (CASES.index(case) + 1,),
            )
            conn.commit()
        secs = time.perf_counter() - start
        return Result("SQL upsert", case, rows, secs, load_avg=load_average())

    def plain_copy(self, case: str, rows: int) -> Result:
        db = "bench_sql"
        if case == "first" and "SQL upsert" not in self.ways:
            self.fresh_database(db)
        progress(f"plain COPY {case}")
        with self.admin(db) as c:
            c.execute("DROP TABLE IF EXISTS public.sales_copy")
            c.execute("CREATE TABLE public.sales_copy (LIKE warehouse.sales INCLUDING ALL)")
            c.execute("ALTER TABLE public.sales_copy ALTER COLUMN source_file_id SET DEFAULT 1")
        names = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
        self.settle()
        start = time.perf_counter()
        with psycopg.connect(self.pg.conninfo(db)) as conn:
            copy_sql = sql.SQL("COPY public.sales_copy ({}) FROM STDIN (FORMAT csv)").format(names)
            with conn.cursor().copy(copy_sql) as copy, self.deduped[case].open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
        secs = time.perf_counter() - start
        return Result("plain COPY", case, rows, secs, load_avg=load_average())

    ways: tuple[str, ...] = WAYS

    def run(self, rows: int) -> None:
        runners = {
            "production": self.production,
            "mdp run": self.mdp_run,
            "dlt": self.dlt,
            "SQL upsert": self.sql_upsert,
            "plain COPY": self.plain_copy,
        }
        for case in self.cases:
            done = []
            for way in self.ways:
                result = runners[way](case, rows)
                progress(f"{way} {case}: {result.seconds:.1f} s (load {result.load_avg})")
                self.results.append(result)
                done.append(result)
            self.check_states(case, done)

    # -- the final state (untimed) ----------------------------------------------------------

    def state(self, way: str) -> str:
        """``<rows> rows, hash <h>`` of the table WAY wrote: the sum of a 64-bit hash of every
        row's contract columns, so the order rows were written in does not matter (and no
        aggregate string grows with the table, as an ordered md5 would)."""
        db, table = WAY_TABLES[way]
        cols = ", ".join(COLUMNS)
        with self.admin(db) as c:
            row = c.execute(
                f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)"
                f" FROM (SELECT {cols} FROM {table}) t"
            ).fetchone()
        if row is None:
            raise SystemExit(f"no state of {way}'s table")
        return f"{row[0]:,} rows, hash {row[1]}"

    def check_states(self, case: str, results: list[Result]) -> None:
        """Every way that merges must leave the same rows as every other; plain COPY only on
        the first file (it loads the update file alone, into an empty table)."""
        checked = [r for r in results if r.way != "plain COPY" or case == "first"]
        for r in checked:
            r.state = self.state(r.way)
        states = {r.state for r in checked}
        if len(states) > 1:
            raise SystemExit(
                f"the ways disagree on the {case} file's final state: "
                + "; ".join(f"{r.way}: {r.state}" for r in checked)
            )
        if states:
            progress(f"{case}: every way's table holds the same rows ({states.pop()})")


# -- report -----------------------------------------------------------------------------------

SPLIT = ("startup", "download", "compute", "upload", "copy", "merge", "commit", "archive")
DLT_SPLIT = ("startup", "extract", "normalize", "load")
"""dlt's phases (bench/dlt_way.py): its pipeline's extract, normalize and load steps."""


def split_of(phases: dict[str, float]) -> dict[str, float]:
    """The columns of the split: ``commit`` is the load's transaction minus its COPY and merge
    (advisory lock, audit row, commit); ``other`` whatever the step did outside its phases."""
    out = {name: phases.get(name, 0.0) for name in SPLIT}
    if "transaction" in phases:
        out["commit"] = phases["transaction"] - out["copy"] - out["merge"]
    out["other"] = phases.get("wall", 0.0) - sum(out.values())
    return out


def report(results: list[Result], rows: int, fmt: str = "csv") -> str:
    baseline = {r.case: r.seconds for r in results if r.way == "SQL upsert"}
    lines = [
        f"sales, {rows:,} rows per file as {fmt} (first file, then an update file: half its "
        "ids newer)",
        "",
        f"{'way':<12} {'case':<7} {'seconds':>8} {'x SQL':>6}  peak RSS per step process (MiB)",
        "-" * 86,
    ]
    for r in results:
        ratio = f"{r.seconds / baseline[r.case]:.2f}" if r.case in baseline else "-"
        rss = "  ".join(f"{step} {mib:.0f}" for step, mib in r.peak_rss_mib.items())
        lines.append(f"{r.way:<12} {r.case:<7} {r.seconds:>8.1f} {ratio:>6}  {rss}")
    lines += ["", "where the steps' time goes (seconds, from each step's own timings):", ""]
    head = f"{'way':<12} {'case':<7} {'step':<10} {'wall':>6}" + "".join(
        f" {c:>8}" for c in (*SPLIT, "other")
    )
    lines += [head, "-" * len(head)]
    for r in results:
        for step, phases in r.steps.items():
            if step == "dlt":
                continue
            split = split_of(phases)
            lines.append(
                f"{r.way:<12} {r.case:<7} {step:<10} {phases.get('wall', 0.0):>6.1f}"
                + "".join(f" {split[c]:>8.1f}" for c in (*SPLIT, "other"))
            )
    dlt = [(r, r.steps["dlt"]) for r in results if "dlt" in r.steps]
    if dlt:
        lines += ["", "where dlt's time goes (seconds, from its pipeline's steps):", ""]
        head = f"{'way':<12} {'case':<7} {'wall':>6}" + "".join(
            f" {c:>9}" for c in (*DLT_SPLIT, "other")
        )
        lines += [head, "-" * len(head)]
        for r, phases in dlt:
            wall = phases.get("wall", 0.0)
            other = wall - sum(phases.get(c, 0.0) for c in DLT_SPLIT)
            lines.append(
                f"{r.way:<12} {r.case:<7} {wall:>6.1f}"
                + "".join(f" {phases.get(c, 0.0):>9.1f}" for c in DLT_SPLIT)
                + f" {other:>9.1f}"
            )
    states = [r for r in results if r.state]
    if states:
        lines += ["", "final state of each table (checked equal across the ways of a case):", ""]
        lines += [f"{r.way:<12} {r.case:<7} {r.state}" for r in states]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per file (1M)")
    parser.add_argument(
        "--ways",
        default=DEFAULT_WAYS,
        help=f"comma-separated subset of {DEFAULT_WAYS} (ratios need sql; dlt needs the bench "
        "dependency group)",
    )
    parser.add_argument(
        "--cases",
        default="first,update",
        help="first,update or either; or metrics: the exporter's scrape time (bench/metrics.py)",
    )
    parser.add_argument(
        "--audit-rows",
        type=int,
        default=1_000_000,
        help="audit rows of the metrics case (1M)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="csv",
        help="how the mdp ways upload the files: csv, or csv.gz (gzip, decompressed while "
        "streaming)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="directory: every mdp process writes its cProfile stats there (slower)",
    )
    parser.add_argument(
        "--step-python",
        type=Path,
        default=None,
        help="interpreter of the step processes: an environment with only the step extras and "
        "compiled bytecode, as in the images (`make bench` builds .bench-venv); default: this one",
    )
    parser.add_argument(
        "--dlt-python",
        type=Path,
        default=None,
        help="interpreter of the dlt way: an environment with only the bench group, compiled "
        "(`make bench` builds .bench-dlt-venv); default: this one",
    )
    args = parser.parse_args()
    global STEP_PYTHON, DLT_PYTHON  # noqa: PLW0603 - set once, before any step runs
    if args.dlt_python:
        DLT_PYTHON = str(args.dlt_python)
    if args.step_python:
        STEP_PYTHON = str(args.step_python)
    else:
        progress(
            "warning: steps run in this environment (dev dependencies, maybe no bytecode): "
            "start-up is slower than in the images; `make bench` uses --step-python"
        )
    try:
        ways = [WAY_FLAGS[w.strip()] for w in args.ways.split(",") if w.strip()]
    except KeyError as e:
        parser.error(f"unknown way {e}; the ways are {DEFAULT_WAYS}")
    if "dlt" in ways and not args.dlt_python and importlib.util.find_spec("dlt") is None:
        parser.error("the dlt way needs dlt: `uv sync --group bench` (make bench does)")
    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    if cases == ("metrics",):
        return _metrics_case(args.audit_rows)
    if "update" in cases and "first" not in cases:
        parser.error("the update case needs the first case (it loads on top of it)")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    progress(f"starting MinIO and PostgreSQL (load average {load_average()})")
    minio, pg = MinioServer.start(), PostgresServer.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mdp-bench-") as tmp:
            bench = Bench(minio, pg, Path(tmp), args.profile)
            bench.ways = tuple(w for w in WAYS if w in ways)
            bench.cases = cases
            bench.format = args.format
            bench.prepare(args.rows, list(bench.ways))
            bench.run(args.rows)
        text = report(bench.results, args.rows, args.format)
        print(text)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "rows": args.rows,
                        "format": args.format,
                        "cpus": os.cpu_count(),
                        "results": [asdict(r) for r in bench.results],
                    },
                    indent=2,
                )
            )
    finally:
        minio.stop()
        pg.stop()
    return 0


def _metrics_case(audit_rows: int) -> int:
    from bench import metrics

    progress(f"starting MinIO and PostgreSQL (load average {load_average()})")
    minio, pg = MinioServer.start(), PostgresServer.start()
    try:
        print(metrics.run(minio, pg, audit_rows))
        progress(f"load average {load_average()}")
    finally:
        minio.stop()
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
