"""``make bench-cluster``: the platform's own throughput on the kind cluster of ``make
test-cluster`` (Airflow in pods, step pods started by its scheduler). A benchmark, not a test: it
asserts only that every file was loaded once, and prints its figures.

1. A burst of ``MDP_BENCH_FILES`` (100) small sales files, uploaded at once: files per minute,
   upload -> archived per file (median, p95), and each step's time by phase:

   - *queue*: from the moment the step could start (its upstream task ended, or the run started)
     to Airflow starting its task process (scheduler loop, pool slots, executor slots);
   - *pod start*: from the task process starting to the container running (the task parses its
     DAG and creates the pod; kubelet sandbox and container start);
   - *step*: the container running;
   - *teardown*: from the container ending to the task ending (logs, completion poll, deletion).

   Pod times come from a watch on the step pods, stamped on arrival (Kubernetes' own stamps have
   whole seconds); task times from Airflow's metadata database; both on this machine's clock.
2. One ``MDP_BENCH_ROWS`` (1M) row file through the platform, upload -> archived and per step,
   against ``mdp run`` of a file of the same size on the host (one process, the same MinIO and
   PostgreSQL through their Service IPs, a bucket the platform does not watch).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mdp.generate.step import generate
from mdp.storage import ObjectStore
from tests.cluster.airflow import Airflow
from tests.cluster.conftest import ROOT, Installed

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(7200)]

FILES = int(os.environ.get("MDP_BENCH_FILES", "100"))
SMALL_ROWS = 200
BIG_ROWS = int(os.environ.get("MDP_BENCH_ROWS", "1000000"))
STEPS = ("validate", "transform", "load", "summary")
PHASES = ("queue", "pod start", "step", "teardown")


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
        self.pods: dict[str, dict[str, Any]] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        while True:
            try:
                for event in self._watch.stream(
                    self._api.list_namespaced_pod,
                    "mdp",
                    label_selector="app.kubernetes.io/name=mdp-step",
                    timeout_seconds=0,
                ):
                    self._saw(event["object"], time.time())
                return  # stopped
            except Exception:  # the API server restarting: watch again
                time.sleep(1)

    def _saw(self, pod: Any, now: float) -> None:
        meta = pod.metadata
        seen = self.pods.setdefault(
            meta.name,
            {
                "key": (meta.annotations or {}).get("mdp.dev/object-key"),
                "step": (meta.labels or {}).get("mdp.dev/step"),
                "try": int((meta.labels or {}).get("try_number", "1")),
                "created": now,
            },
        )
        for status in (pod.status.container_statuses if pod.status else None) or []:
            if status.name != "base" or status.state is None:
                continue
            if status.state.running or status.state.terminated:
                seen.setdefault("running", now)
            if status.state.terminated:
                seen.setdefault("ended", now)


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered):6.1f} s  p95 {p95:6.1f} s  max {ordered[-1]:6.1f} s"


def _task_times(airflow: Airflow, keys: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """(key, task) -> the first try's start/end and its run's start, as epoch seconds."""
    rows = airflow.metadata(
        "SELECT r.conf::jsonb ->> 'key', t.task_id, r.start_date, t.start_date, t.end_date"
        " FROM task_instance t JOIN dag_run r ON r.dag_id = t.dag_id AND r.run_id = t.run_id"
        " WHERE t.dag_id = 'mdp_ingest_file' AND r.conf::jsonb ->> 'key' = ANY(%s)",
        keys,
    )
    found = {}
    for key, task, run_start, start, end in rows:
        if start is None or end is None:
            continue
        found[(key, task)] = {
            "run": run_start.timestamp(),
            "start": start.timestamp(),
            "end": end.timestamp(),
        }
    return found


def _phases(
    tasks: dict[tuple[str, str], dict[str, float]], pods: dict[str, dict[str, Any]]
) -> dict[str, dict[str, list[float]]]:
    first_pod: dict[tuple[str, str], dict[str, Any]] = {}
    for pod in pods.values():
        if pod["try"] == 1 and "ended" in pod:
            first_pod[(pod["key"], pod["step"])] = pod
    by_step: dict[str, dict[str, list[float]]] = {s: {p: [] for p in PHASES} for s in STEPS}
    for (key, task), t in tasks.items():
        found = first_pod.get((key, task))
        if task not in by_step or found is None:
            continue
        ready = (
            t["run"] if task == "validate" else tasks[(key, STEPS[STEPS.index(task) - 1])]["end"]
        )
        phases = by_step[task]
        phases["queue"].append(t["start"] - ready)
        phases["pod start"].append(found["running"] - t["start"])
        phases["step"].append(found["ended"] - found["running"])
        phases["teardown"].append(t["end"] - found["ended"])
    return by_step


def _finished(installed: Installed, keys: list[str]) -> dict[str, tuple[str, float]]:
    with installed.warehouse() as conn:
        rows = conn.execute(
            "SELECT object_key, final_key, finished_at FROM audit.file_ingestion_log"
            " WHERE object_key = ANY(%s) AND finished_at IS NOT NULL",
            (keys,),
        ).fetchall()
    return {key: (final, at.timestamp()) for key, final, at in rows}


def _report(title: str, by_step: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{title}: each step's first try, by phase")
    for step, phases in by_step.items():
        for phase in PHASES:
            print(f"  {step:<9} {phase:<9} {_stats(phases[phase])}")


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
        dispatch = [tasks[(k, "validate")]["run"] - uploaded[k] for k in small]
        print(f"\n[bench] burst of {FILES} files of {SMALL_ROWS} rows: settled in {span:.1f} s,"
              f" {FILES / span * 60:.1f} files/min")  # fmt: skip
        print(f"[bench] upload -> archived per file: {_stats(latency)}")
        print(f"[bench] upload -> its run started:   {_stats(dispatch)}")
        _report(f"burst of {FILES}", _phases(tasks, watch.pods))

        big_up, big_done = _through_the_platform(
            installed, airflow, tmp_path, 1, BIG_ROWS, seed=int(time.time()) + 1
        )
        ((key, up),) = big_up.items()
        platform = big_done[key] - up
        by_step = _phases(_task_times(airflow, [key]), watch.pods)
        _report(f"one file of {BIG_ROWS} rows", by_step)
    finally:
        watch.stop()
    host = _mdp_run_on_the_host(installed, tmp_path, BIG_ROWS)
    steps = sum(by_step[s]["step"][0] for s in ("validate", "transform", "load"))
    print(f"\n[bench] one file of {BIG_ROWS} rows: upload -> archived {platform:.1f} s through the"
          f" platform (validate+transform+load containers {steps:.1f} s); mdp run on the host"
          f" {host:.1f} s; ratio {platform / host:.2f}x")  # fmt: skip
