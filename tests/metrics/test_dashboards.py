"""Every panel query of the Grafana dashboards (charts/mini-data-platform/files/dashboards)
returns data from a real Prometheus.

Debian's ``prometheus`` runs on a free loopback port with a throwaway TSDB and scrapes, every
second, the exporter on the test's MinIO and PostgreSQL and a real StatsD exporter (the official
chart's version, ``make tools``) loaded with the official Airflow chart's mappings. While it
scrapes, the known sequence of files runs through the real steps. Airflow itself does not run
here: the StatsD lines are written by this test in Airflow's wire format, with the names the
installed Airflow's metric registry gives (checked below), so the mapping and the panel queries
are exercised for real, not Airflow's own emission.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from tests.metrics.conftest import run_sequence

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted(
    (ROOT / "charts" / "mini-data-platform" / "files" / "dashboards").glob("*.json")
)
STATSD_EXPORTER = ROOT / ".tools" / "bin" / "statsd_exporter"
# The official Airflow chart's StatsD mappings (vendored beside the repository, never copied in).
MAPPINGS = (
    ROOT.parent / "shared" / "vendor" / "apache-airflow-chart" / "files" / "statsd-mappings.yml"
)
# What Grafana sends for the dashboards' variables at their default ("All").
VARIABLES = {"$dataset": ".*"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def airflow_registry() -> dict[str, dict[str, Any]]:
    """The installed Airflow's metric registry (name -> entry), read without importing Airflow."""
    spec = importlib.util.find_spec("airflow")
    assert spec and spec.submodule_search_locations
    path = (
        Path(spec.submodule_search_locations[0])
        / "_shared/observability/metrics/metrics_template.yaml"
    )
    document = yaml.safe_load(path.read_text())
    entries = document["metrics"] if isinstance(document, dict) else document
    return {e["name"]: e for e in entries}


def statsd_name(registry: dict[str, dict[str, Any]], name: str, **variables: str) -> str:
    """The name Airflow sends for ``name``: its legacy name with the variables (what the chart's
    mappings match), or the name itself when it has none."""
    entry = registry[name]
    legacy = entry.get("legacy_name", "-")
    return f"airflow.{name if legacy == '-' else legacy.format(**variables)}"


def airflow_lines(registry: dict[str, dict[str, Any]], heartbeat: int) -> list[str]:
    dag, pool = {"dag_id": "mdp_ingest_file"}, {"pool_name": "mdp_pipeline"}
    return [
        f"{statsd_name(registry, 'scheduler_heartbeat')}:{heartbeat}|c",
        # One executor: Airflow sends the executor gauges under their plain names.
        "airflow.executor.open_slots:7|g",
        "airflow.executor.running_tasks:1|g",
        "airflow.executor.queued_tasks:0|g",
        f"{statsd_name(registry, 'pool.open_slots', **pool)}:3|g",
        f"{statsd_name(registry, 'pool.starving_tasks', **pool)}:0|g",
        f"{statsd_name(registry, 'dagrun.duration.success', **dag)}:42000|ms",
        f"{statsd_name(registry, 'task.duration', **dag, task_id='validate')}:9000|ms",
        f"{statsd_name(registry, 'dag_processing.import_errors')}:0|g",
    ]


@pytest.fixture
def statsd(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A real StatsD exporter with the official chart's mappings: (UDP port, metrics port)."""
    assert STATSD_EXPORTER.exists(), "no .tools/bin/statsd_exporter: run `make tools`"
    assert MAPPINGS.exists(), f"the official Airflow chart's mappings are missing: {MAPPINGS}"
    udp, web = free_port(), free_port()
    proc = subprocess.Popen(
        [str(STATSD_EXPORTER), f"--statsd.listen-udp=127.0.0.1:{udp}", "--statsd.listen-tcp=",
         f"--web.listen-address=127.0.0.1:{web}", f"--statsd.mapping-config={MAPPINGS}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "statsd.log").open("w"),
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{web}/metrics")
        yield udp, web
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def prometheus(tmp_path: Path, exporter: str, statsd: tuple[int, int]) -> Iterator[str]:
    """Debian's Prometheus scraping both exporters every second: its base URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: apt-get install prometheus (as .ci/run does)"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": "mdp-metrics",
             "static_configs": [{"targets": [exporter.removeprefix("http://")]}]},
            {"job_name": "airflow-statsd",
             "static_configs": [{"targets": [f"127.0.0.1:{statsd[1]}"]}]},
        ],
    }  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "prometheus.log").open("w"),
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
        body = json.loads(response.read())
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def wait_scrapes(prometheus: str, n: int) -> None:
    """Until both targets have been scraped successfully ``n`` more times."""

    def count() -> float:
        found = query(prometheus, "min(count_over_time(up[10m]))")
        return float(found[0]["value"][1]) if found else 0.0

    target = count() + n
    deadline = time.monotonic() + 120
    while count() < target:
        assert time.monotonic() < deadline, "Prometheus stopped scraping"
        time.sleep(0.5)
    assert [r["value"][1] for r in query(prometheus, "up")] == ["1", "1"]


def panel_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for name, value in VARIABLES.items():
                    expr = expr.replace(name, value)
                out.append((path.stem, panel["title"], expr))
    return out


def test_airflow_metric_names_come_from_airflows_registry() -> None:
    registry = airflow_registry()
    used = ["scheduler_heartbeat", "pool.open_slots", "pool.starving_tasks", "task.duration"]
    used += ["dagrun.duration.success", "dag_processing.import_errors", "executor.open_slots"]
    used += ["executor.running_tasks", "executor.queued_tasks"]
    for name in used:
        assert name in registry, name
    assert statsd_name(registry, "pool.open_slots", pool_name="p") == "airflow.pool.open_slots.p"


def test_every_panel_query_returns_data(
    prometheus: str, statsd: tuple[int, int], store: ObjectStore, audit: AuditLog
) -> None:
    registry = airflow_registry()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(heartbeat: int) -> None:
        for line in airflow_lines(registry, heartbeat):
            udp.sendto(line.encode(), ("127.0.0.1", statsd[0]))

    wait_scrapes(prometheus, 3)  # the platform idle: every counter at 0
    send(1)
    run_sequence(store, audit)
    wait_scrapes(prometheus, 3)
    send(2)
    wait_scrapes(prometheus, 4)
    udp.close()

    empty, not_finite = [], []
    queries = panel_queries()
    assert len(queries) >= 18
    for dashboard, title, expr in queries:
        result = query(prometheus, expr)
        if not result:
            empty.append(f"{dashboard} / {title}: {expr}")
        elif not any(math.isfinite(float(r["value"][1])) for r in result):
            not_finite.append(f"{dashboard} / {title}: {expr} -> {result}")
    assert empty == []
    assert not_finite == []
