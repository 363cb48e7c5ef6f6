"""The DAGs under a real Airflow: scheduler, dag-processor, triggerer, api-server (LocalExecutor).

What ``dag.test()`` cannot show: MinIO events reaching the dispatcher through the triggerer,
one run per file created through the API server, the pool and priority weights deciding the
order, and the cost of starting task processes. The test uploads files to an idle platform, then
a burst with one more file arriving mid-burst, then one file while the triggerer is down (the
sweep must find it). It asserts the invariants (every file ends in exactly one place, no object
version runs twice, the missed event is covered by the sweep) and *measures* latency and order;
the numbers are printed and written to ``scheduler-report.json`` in the test's tmp dir, never
compared with a clock limit (this machine's load would make that flaky).

``MDP_TEST_BURST`` sets the burst size (default 10; the figures in docs/benchmark.md are from 40).
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mdp.devservers import PostgresServer
from tests.e2e.airflow_processes import AirflowProcesses, create_pool, free_port, scheduler_env
from tests.e2e.conftest import AIRFLOW_TEMPLATE_DB, Platform
from tests.kubeapi.server import FakeKubernetes
from tests.support.samples import sales_row, to_csv

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1500)]

BURST = int(os.environ.get("MDP_TEST_BURST", "10"))
IDLE = 3
POOL = "mdp_pipeline"
POOL_SLOTS = 4


class PodClock(threading.Thread):
    """When each pod was created and when its process finished, sampled every 0.1 s (the test
    API's timestamps have one-second resolution)."""

    def __init__(self, cluster: FakeKubernetes) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.created: dict[str, tuple[float, str, str]] = {}
        """pod name -> (time, step, object key)"""
        self.finished: dict[str, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = time.time()
            for run in self.cluster.runs():
                meta = run.pod["metadata"]
                if run.name not in self.created:
                    step = meta.get("labels", {}).get("mdp.dev/step", "")
                    key = meta.get("annotations", {}).get("mdp.dev/object-key", "")
                    self.created[run.name] = (now, step, key)
                if run.finished.is_set() and run.name not in self.finished:
                    self.finished[run.name] = now
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def starts(self, step: str) -> dict[str, list[float]]:
        """Object key -> creation times of its ``step`` pods."""
        out: dict[str, list[float]] = {}
        for t, s, key in self.created.values():
            if s == step:
                out.setdefault(key, []).append(t)
        return out

    def step_finishes(self, step: str) -> dict[str, float]:
        return {
            self.created[name][2]: t
            for name, t in self.finished.items()
            if self.created[name][1] == step
        }


@pytest.fixture
def scheduler_db(platform: Platform, pg_server: PostgresServer) -> Iterator[str]:
    """An Airflow database of this test's own (a copy of the migrated template)."""
    name = f"airflow_sched_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {AIRFLOW_TEMPLATE_DB}")
    url = platform.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[0] + f"/{name}"
    yield url


def _query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        return conn.execute(sql, params).fetchall()


def _sales_file(n: int) -> bytes:
    """A small valid sales file whose bytes differ from every other n (no duplicates)."""
    return to_csv([sales_row(n * 100 + i) for i in range(1, 4)])


def _where(platform: Platform, key: str) -> list[str]:
    """Every place the object of ``key`` is now (archive/ or failed/, reports skipped)."""
    name = key.rsplit("/", 1)[-1]
    return [
        k
        for k in platform.keys("archive/") + platform.keys("failed/") + platform.keys("incoming/")
        if k.rsplit("/", 1)[-1] == name
    ]


def _finished(platform: Platform, keys: list[str]) -> bool:
    done = {k.rsplit("/", 1)[-1] for k in platform.keys("archive/") + platform.keys("failed/")}
    return all(k.rsplit("/", 1)[-1] in done for k in keys)


def test_real_scheduler_event_driven_depth_first(
    platform: Platform, scheduler_db: str, tmp_path: Path
) -> None:
    env = platform.env | {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": scheduler_db,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": scheduler_db,
        "MDP_MAX_ACTIVE_FILES": str(POOL_SLOTS),
    }
    env = scheduler_env(env, free_port(), parallelism=8)
    # Measure without the provider preload (dags/airflow_local_settings.py) for a "before".
    env["MDP_PRELOAD_PROVIDER"] = os.environ.get("MDP_TEST_PRELOAD_PROVIDER", "true")
    create_pool(env, POOL, POOL_SLOTS)
    airflow = AirflowProcesses(env, tmp_path)
    clock = PodClock(platform.kube.cluster)
    report: dict[str, Any] = {
        "burst": BURST,
        "pool_slots": POOL_SLOTS,
        "preload_provider": env["MDP_PRELOAD_PROVIDER"],
    }
    airflow.start()
    clock.start()
    try:
        _run_scenario(platform, airflow, clock, scheduler_db, report)
    finally:
        airflow.stop()
        clock.stop()
        (tmp_path / "scheduler-report.json").write_text(json.dumps(report, indent=2))
        print("scheduler measurements:", json.dumps(report, indent=2))


def _run_scenario(
    platform: Platform,
    airflow: AirflowProcesses,
    clock: PodClock,
    db: str,
    report: dict[str, Any],
) -> None:
    dags = {"mdp_ingest", "mdp_ingest_file", "mdp_reprocess"}
    report["ready_seconds"] = airflow.wait_for(
        "the DAGs are parsed, unpaused and the MinIO event trigger is listening",
        lambda: (
            {r[0] for r in _query(db, "SELECT dag_id FROM dag WHERE NOT is_paused")} >= dags
            and "listening to s3://" in airflow.log("triggerer")
        ),
        timeout=300,
    )

    # 1. Idle platform: one file at a time, upload -> validate pod created.
    idle: list[float] = []
    for i in range(IDLE):
        key = f"incoming/sales/idle-{i}.csv"
        uploaded = time.time()
        platform.put(key, _sales_file(i))
        airflow.wait_for(f"validate of {key}", lambda k=key: k in clock.starts("validate"), 180)
        idle.append(clock.starts("validate")[key][0] - uploaded)
        airflow.wait_for(f"{key} archived", lambda k=key: _finished(platform, [k]), 300)
    report["idle_upload_to_validate_s"] = [round(x, 1) for x in idle]
    report["idle_median_s"] = round(statistics.median(idle), 1)

    # 2. A burst, and one more file once the burst has started.
    burst = [f"incoming/sales/burst-{i:02d}.csv" for i in range(BURST)]
    burst_at = time.time()
    for i, key in enumerate(burst):
        platform.put(key, _sales_file(100 + i))
    airflow.wait_for(
        "the burst's first validate", lambda: any(k in clock.starts("validate") for k in burst), 300
    )
    late = "incoming/sales/late.csv"
    late_at = time.time()
    platform.put(late, _sales_file(999))
    airflow.wait_for(
        "burst and late file archived, their load pods ended",
        lambda: (
            _finished(platform, [*burst, late])
            and set(clock.step_finishes("load")) >= {*burst, late}
        ),
        1200,
    )
    starts = {k: v[0] for k, v in clock.starts("validate").items()}
    loads = clock.step_finishes("load")
    order = sorted(starts[k] for k in burst)
    first_archived = min(loads[k] for k in burst)
    report["burst_wall_s"] = round(max(loads[k] for k in [*burst, late]) - burst_at, 1)
    report["burst_first_archived_after_s"] = round(first_archived - burst_at, 1)
    report["burst_validates_started_before_first_archive"] = sum(t < first_archived for t in order)
    if BURST >= 10:
        report["tenth_validate_after_s"] = round(order[9] - burst_at, 1)
        report["first_archived_before_tenth_validate"] = first_archived < order[9]
    late_start = starts[late]
    freed = [t for t in clock.finished.values() if late_at <= t <= late_start]
    report["late_upload_to_validate_s"] = round(late_start - late_at, 1)
    report["late_validate_after_last_pod_finish_s"] = round(
        late_start - max(freed, default=late_at), 1
    )

    # 3. An event nobody hears: the triggerer is down; the minute sweep must find the file.
    airflow.stop("triggerer")
    missed = "incoming/sales/missed.csv"
    missed_at = time.time()
    platform.put(missed, _sales_file(998))
    airflow.wait_for("the sweep finds the missed file", lambda: _finished(platform, [missed]), 300)
    report["missed_event_upload_to_validate_s"] = round(starts_of(clock, missed) - missed_at, 1)

    # Invariants: each file in exactly one place, one run and one validate pod per version.
    keys = [f"incoming/sales/idle-{i}.csv" for i in range(IDLE)] + [*burst, late, missed]
    airflow.wait_for(
        "every file run finished",
        lambda: (
            not _query(
                db,
                "SELECT 1 FROM dag_run WHERE dag_id = 'mdp_ingest_file'"
                " AND state NOT IN ('success', 'failed')",
            )
        ),
        120,
    )
    assert platform.keys("incoming/") == []
    for key in keys:
        assert len(_where(platform, key)) == 1, (key, _where(platform, key))
    validates = clock.starts("validate")
    assert {k: len(validates.get(k, [])) for k in keys} == dict.fromkeys(keys, 1)
    runs = _query(
        db,
        "SELECT conf->>'key', state, conf->>'found_by' FROM dag_run"
        " WHERE dag_id = 'mdp_ingest_file'",
    )
    assert sorted(r[0] for r in runs) == sorted(keys), "one run per object version"
    assert {r[1] for r in runs} == {"success"}, runs
    found_by = {r[0]: r[2] for r in runs}
    assert found_by[missed] == "sweep"
    report["runs_found_by"] = {
        src: sum(1 for v in found_by.values() if v == src) for src in ("event", "sweep")
    }
    with platform.database.connect() as conn:
        audit = conn.execute(
            "SELECT object_key, count(*), min(status) FROM audit.file_ingestion_log GROUP BY 1"
        ).fetchall()
    assert {k: (n, s) for k, n, s in audit} == dict.fromkeys(keys, (1, "loaded"))
    report["task_overhead"] = _task_overhead(db, clock)


def starts_of(clock: PodClock, key: str) -> float:
    return clock.starts("validate")[key][0]


def _task_overhead(db: str, clock: PodClock) -> dict[str, Any]:
    """Per step: queued -> task process running (executor), and running -> pod created
    (parsing the DAG file in the task process, building the operator, the create call)."""
    rows = _query(
        db,
        "SELECT ti.task_id, dr.conf->>'key', ti.queued_dttm, ti.start_date, ti.end_date"
        " FROM task_instance ti JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id"
        " WHERE ti.dag_id = 'mdp_ingest_file' AND ti.try_number = 1",
    )
    pods: dict[tuple[str, str], float] = {(step, key): t for t, step, key in clock.created.values()}
    out: dict[str, Any] = {}
    for step in ("validate", "transform", "load", "summary"):
        queued, to_pod = [], []
        for task_id, key, q, s, _ in rows:
            if task_id != step or q is None or s is None:
                continue
            queued.append((s - q).total_seconds())
            created = pods.get((step, key if step != "summary" else ""))
            if created is not None and step != "summary":
                to_pod.append(created - s.timestamp())
        out[step] = {
            "queued_to_running_median_s": _median(queued),
            "running_to_pod_created_median_s": _median(to_pod),
        }
    dispatch = _query(
        db,
        "SELECT start_date, end_date FROM task_instance WHERE dag_id = 'mdp_ingest'"
        " AND end_date IS NOT NULL",
    )
    out["dispatch_task_duration_median_s"] = _median(
        [(e - s).total_seconds() for s, e in dispatch if isinstance(s, datetime)]
    )
    return out


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None
