"""`make bench`'s dlt way: the loader a data engineer would pick instead of the three steps.

bench/run.py runs this as its own process, so dlt's start-up counts as the steps' does. It reads
the raw sales CSV as Arrow tables with the contract's column types and loads them the way dlt
documents as its fastest for PostgreSQL: Arrow tables, ``loader_file_format="csv"`` (COPY into a
staging table), ``write_disposition="merge"`` on ``primary_key="sale_id"`` with ``dedup_sort``
descending on ``sale_timestamp``, so the newest version of a sale wins, into the table bench/run.py
created with warehouse.sales's key, indexes and checks (a table dlt created itself would have
neither, and be cheaper to write). Everything else is dlt's defaults, telemetry off.

The schema is written out here, as a dlt user would, instead of imported from mdp: importing the
contracts would add pydantic to dlt's start-up. tests/bench checks it equals the contract's.

Prints one JSON line: the rows read and ``"timings"``: start-up, then dlt's own trace of
``pipeline.run()`` (``run``, and within it ``extract``, ``normalize``, ``load``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

SCHEMA = pa.schema(
    [
        pa.field("sale_id", pa.string(), nullable=False),
        pa.field("sale_timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("customer_name", pa.string(), nullable=False),
        pa.field("product_id", pa.string(), nullable=False),
        pa.field("product_name", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price", pa.float64(), nullable=False),
        pa.field("total_amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("payment_method", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=True),
    ]
)
"""The sales contract's columns as Arrow types (mdp.contracts' ``arrow_schema()``)."""
TABLE = "sales"
DATASET = "public"


def since_process_start() -> float:
    """Seconds since exec, from the kernel (as mdp.timing measures the steps' start-up)."""
    with open("/proc/self/stat", "rb") as stat:  # noqa: PTH123 - a /proc read
        ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
    return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))


def read_tables(path: Path) -> Iterator[pa.Table]:
    """The CSV streamed in Arrow record batches of the contract's types; only an empty field is
    null ("NA" is a region)."""
    reader = pacsv.open_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=SCHEMA,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="the raw sales CSV")
    parser.add_argument("--credentials", required=True, help="postgresql://… of the database")
    parser.add_argument("--pipelines-dir", type=Path, required=True, help="dlt's working dir")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

    import dlt

    timings = {"startup": round(since_process_start(), 3)}
    rows = 0

    @dlt.resource(
        name=TABLE,
        write_disposition="merge",
        primary_key="sale_id",
        columns={"sale_timestamp": {"dedup_sort": "desc"}},
    )
    def sales() -> Iterator[pa.Table]:
        nonlocal rows
        for table in read_tables(args.csv):
            rows += table.num_rows
            yield table

    pipeline = dlt.pipeline(
        pipeline_name="bench_dlt",
        destination=dlt.destinations.postgres(credentials=args.credentials),
        dataset_name=DATASET,
        pipelines_dir=str(args.pipelines_dir),
    )
    info = pipeline.run(sales(), loader_file_format="csv")
    info.raise_on_failed_jobs()
    # dlt's own trace times its steps: run (all of it), and within it extract, normalize, load.
    trace = pipeline.last_trace
    for step in trace.steps if trace else ():
        if step.started_at and step.finished_at:
            seconds = (step.finished_at - step.started_at).total_seconds()
            timings[step.step] = round(timings.get(step.step, 0.0) + seconds, 3)
    print(json.dumps({"rows": rows, "timings": timings}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
