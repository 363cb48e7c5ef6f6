"""``make bench-cluster``: the platform's own throughput on the kind cluster of ``make
test-cluster`` (Airflow in pods, step pods started by its scheduler). A benchmark, not a test: it
asserts only that every file was loaded once, and prints its figures.

1. A burst of ``MDP_BENCH_FILES`` (100) small sales files, uploaded at once: files per minute,
   upload -> archived per file (median, p95), and each step's time by phase (queue, pod
   start, step, teardown: bench/cluster.py says which moments bound each).
   Pod times come from a watch on the step pods, stamped on arrival (Kubernetes' own stamps have
   whole seconds); task times from Airflow's metadata database; both on this machine's clock.
2. One ``MDP_BENCH_ROWS`` (1M) row file through the platform, upload -> archived and per step,
   against ``mdp run`` of a file of the same size on the host (one process, the same MinIO and
   PostgreSQL through their Service IPs, a bucket the platform does not watch).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bench.cluster import PodTimes, TaskTimes, phases, report, summary

from mdp.generate.step import generate
from mdp.storage import ObjectStore
from tests.cluster.airflow import Airflow
from tests.cluster.conftest import ROOT, Installed

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(7200)]

FILES = int(os.environ.get("MDP_BENCH_FILES", "100"))
SMALL_ROWS = 200
BIG_ROWS = int(os.environ.get("MDP_BENCH_ROWS", "1000000"))


class TimedStore:
    """The real store, with the moment each upload finished (the file's "upload" time)."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.uploaded: dict[str, float] = {}

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> None:
        self._store.put_file(key, path, content_type)
        self.uploaded[key] = time.time()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class PodWatch:
    """Every step pod's moments as this process sees them: created, running, container ended."""

    def __init__(self, installed: Installed) -> None:
        from kubernetes import client, config, watch

        self._api = client.CoreV1Api(
            config.new_client_from_config(config_file=str(installed.cluster.kubeconfig))
        )
        self._watch = watch.Watch()
        self._stopped = threading.Event()
        self.pods: dict[str, dict[str, Any]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._watch.stop()

    def _run(self) -> None:
        while not self._stopped.is_set():  # a watch ends after a while: start it again
            try:
                for event in self._watch.stream(
                    self._api.list_namespaced_pod,
                    "mdp",
                    label_selector="app.kubernetes.io/name=mdp-step",
                    timeout_seconds=300,
                ):
                    self._saw(event["object"], time.time())
            except Exception:  # the API server restarting: watch again
                time.sleep(1)

    def seen(self) -> list[PodTimes]:
        return [PodTimes(**pod) for pod in list(self.pods.values()) if pod["key"] and pod["step"]]

    def _saw(self, pod: Any, now: float) -> None:
        meta = pod.metadata
        seen = self.pods.setdefault(
            meta.name,
            {  # the operator's labels: its run (label-safe), task and try
                "key": (meta.labels or {}).get("run_id"),
                "step": (meta.labels or {}).get("task_id"),
                "try_number": int((meta.labels or {}).get("try_number", "1")),
            },
        )
        for status in (pod.status.container_statuses if pod.status else None) or []:
            if status.name != "base" or status.state is None:
                continue
            if status.state.running or status.state.terminated:
                seen.setdefault("running", now)
            if status.state.terminated:
                seen.setdefault("ended", now)


def _task_times(airflow: Airflow, keys: list[str]) -> dict[tuple[str, str], TaskTimes]:
    """(run id as the pods' label has it, task) -> the first try's times, for the files ``keys``."""
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    rows = airflow.metadata(
        "SELECT r.run_id, t.task_id, r.start_date, t.start_date, t.end_date"
        " FROM task_instance t JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id"
        " WHERE t.dag_id = 'mdp_ingest_file' AND t.try_number = 1"
        " AND r.conf::jsonb ->> 'key' = ANY(%s)",
        keys,
    )
    found: dict[tuple[str, str], TaskTimes] = {}
    for run_id, task, run_start, start, end in rows:
        if start is not None and end is not None:
            found[(make_safe_label_value(run_id), task)] = TaskTimes(
                run_start.timestamp(), start.timestamp(), end.timestamp()
            )
    return found


def _run_starts(airflow: Airflow, keys: list[str]) -> dict[str, float]:
    rows = airflow.metadata(
        "SELECT conf::jsonb ->> 'key', start_date FROM dag_run"
        " WHERE dag_id = 'mdp_ingest_file' AND conf::jsonb ->> 'key' = ANY(%s)",
        keys,
    )
    return {key: start.timestamp() for key, start in rows if start is not None}


def _finished(installed: Installed, keys: list[str]) -> dict[str, tuple[str, float]]:
    with installed.warehouse() as conn:
        rows = conn.execute(
            "SELECT object_key, final_key, finished_at FROM audit.file_ingestion_log"
            " WHERE object_key = ANY(%s) AND finished_at IS NOT NULL",
            (keys,),
        ).fetchall()
    return {key: (final, at.timestamp()) for key, final, at in rows}


def _through_the_platform(
    installed: Installed, airflow: Airflow, tmp_path: Path, files: int, rows: int, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Upload ``files`` files of ``rows`` rows at once; upload and archive time of each."""
    timed = TimedStore(installed.store())
    manifest = generate(
        timed,  # type: ignore[arg-type]
        "sales",
        files=files,
        rows=rows,
        fmt="csv",
        seed=seed,
        now=datetime.now(UTC),
        scratch_dir=tmp_path,
    )
    keys = [f.key for f in manifest]
    airflow.wait_for(
        f"{files} files of {rows} rows archived",
        lambda: len(_finished(installed, keys)) == len(keys),
        1800 + files * 60,
    )
    done = _finished(installed, keys)

    def runs_ended() -> bool:  # the summary task may still run once its file is archived
        states = airflow.metadata(
            "SELECT state FROM dag_run WHERE dag_id = 'mdp_ingest_file'"
            " AND conf::jsonb ->> 'key' = ANY(%s)",
            keys,
        )
        return len(states) == len(keys) and all(s in ("success", "failed") for (s,) in states)

    airflow.wait_for(f"the runs of {files} files ended", runs_ended, 600)
    for key, (final, _) in done.items():
        assert final.startswith("archive/sales/"), (key, final)
    return timed.uploaded, {key: at for key, (_, at) in done.items()}


def _mdp_run_on_the_host(installed: Installed, tmp_path: Path, rows: int) -> float:
    """``mdp run`` of one file of ``rows`` rows, as one process on this machine."""
    root = installed.cluster.secret("mdp-minio-root")
    owner = installed.cluster.secret("mdp-postgres-owner")
    env = os.environ | {
        "S3__ENDPOINT": installed.minio_endpoint,
        "S3__ACCESS_KEY": root["username"],
        "S3__SECRET_KEY": root["password"],
        "S3__BUCKET": "bench",
        "PG__HOST": installed.postgres_host,
        "PG__USER": owner["username"],
        "PG__PASSWORD": owner["password"],
    }
    bench_store = ObjectStore(installed.store().client, "bench")
    (made,) = generate(
        bench_store, "sales", files=1, rows=rows, fmt="csv", seed=7, scratch_dir=tmp_path
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mdp.cli", "run", made.key, "--run-id", "bench-cluster-mdp-run"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return seconds


def test_platform_throughput(installed: Installed, airflow: Airflow, tmp_path: Path) -> None:
    watch = PodWatch(installed)
    watch.start()
    try:
        uploaded, archived = _through_the_platform(
            installed, airflow, tmp_path, FILES, SMALL_ROWS, seed=int(time.time())
        )
        span = max(archived.values()) - min(uploaded.values())
        latency = [archived[k] - uploaded[k] for k in uploaded]
        small = list(uploaded)
        tasks = _task_times(airflow, small)
        starts = _run_starts(airflow, small)
        dispatch = [starts[k] - uploaded[k] for k in small if k in starts]
        print(f"\n[bench] burst of {FILES} files of {SMALL_ROWS} rows: settled in {span:.1f} s,"
              f" {FILES / span * 60:.1f} files/min")  # fmt: skip
        print(f"[bench] upload -> archived per file: {summary(latency)}")
        print(f"[bench] upload -> its run started:   {summary(dispatch)}")
        print(report(f"burst of {FILES}", phases(tasks, watch.seen())))

        big_up, big_done = _through_the_platform(
            installed, airflow, tmp_path, 1, BIG_ROWS, seed=int(time.time()) + 1
        )
        ((key, up),) = big_up.items()
        platform = big_done[key] - up
        by_step = phases(_task_times(airflow, [key]), watch.seen())
        print(report(f"one file of {BIG_ROWS} rows", by_step))
    finally:
        watch.stop()
    host = _mdp_run_on_the_host(installed, tmp_path, BIG_ROWS)
    steps = sum(by_step[s]["step"][0] for s in ("validate", "transform", "load"))
    print(f"\n[bench] one file of {BIG_ROWS} rows: upload -> archived {platform:.1f} s through the"
          f" platform (validate+transform+load containers {steps:.1f} s); mdp run on the host"
          f" {host:.1f} s; ratio {platform / host:.2f}x")  # fmt: skip
