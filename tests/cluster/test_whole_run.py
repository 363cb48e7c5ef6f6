"""What holds over the whole cluster run, checked after every other test of tests/cluster (the
last file in order): no image was ever pulled; every Airflow container stayed within its memory
limit (peaks sampled every few seconds for the whole run, printed as figures); the documented
capacity (versions.env MIN_CPUS / MIN_MEMORY_GB, docs/kubernetes.md) holds for what the real
pods requested at the busiest moment; and a real Prometheus scrapes the metrics exporter and
Airflow's StatsD exporter through their Services, with totals equal to the audit log's.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.airflow import Airflow, quantity, requested
from tests.cluster.conftest import NAMESPACE, Installed, wait_until
from tests.support.versions import VERSIONS

pytestmark = [pytest.mark.cluster]

# What docs/kubernetes.md counts for kind's own control plane on top of the pods' requests.
KIND_CONTROL_PLANE = (1000, 1.5 * 2**30)


def test_no_image_was_ever_pulled(installed: Installed) -> None:
    pulling = [e for e in installed.cluster.events() if e.get("reason") == "Pulling"]
    assert pulling == []
    log = installed.cluster.node("journalctl", "-u", "containerd", "--no-pager", "-o", "cat")
    assert "PullImage" not in log


def test_every_airflow_container_stayed_within_its_memory_limit(
    installed: Installed, airflow: Airflow
) -> None:
    sampler = airflow.sampler
    assert sampler is not None
    sampler.sample()
    assert {component for component, _ in sampler.peaks} >= {
        "api-server", "scheduler", "dag-processor", "triggerer"
    }  # fmt: skip
    for (component, container), peak in sorted(sampler.peaks.items()):
        limit = quantity(sampler.limits[(component, container)])
        print(
            f"\n[figure] {component}/{container}: peak working set {peak / 2**20:.0f} MiB"
            f" of its {limit / 2**20:.0f} MiB limit",
            flush=True,
        )
        assert peak < limit, (component, container)
    for pod in installed.cluster.pods("release=airflow"):
        for status in pod["status"].get("containerStatuses", []):
            last = status.get("lastState", {}).get("terminated", {})
            assert last.get("reason") != "OOMKilled", (pod["metadata"]["name"], status["name"])


def test_the_documented_capacity_holds_for_the_real_pods(
    installed: Installed, airflow: Airflow
) -> None:
    """The busiest moment's requests, every chart container counted at its default request
    (not the test overlay's smaller CPU), plus kind's own pods as docs/kubernetes.md counts them."""
    sampler = airflow.sampler
    assert sampler is not None
    cpu, memory = sampler.peak_requests
    kind_cpu = kind_memory = 0
    for namespace in ("kube-system", "local-path-storage"):
        for pod in installed.cluster.pods(namespace=namespace):
            kind_cpu += requested(pod, "cpu")
            kind_memory += requested(pod, "memory")
    print(
        f"\n[figure] kind's own pods request {kind_cpu}m CPU and {kind_memory / 2**20:.0f} MiB",
        flush=True,
    )
    assert kind_cpu <= KIND_CONTROL_PLANE[0] and kind_memory <= KIND_CONTROL_PLANE[1]
    print(
        f"\n[figure] busiest moment: pods requested {cpu}m CPU and {memory / 2**30:.2f} GiB"
        f" (+ kind's control plane {KIND_CONTROL_PLANE[0]}m, {KIND_CONTROL_PLANE[1] / 2**30} GiB)",
        flush=True,
    )
    assert cpu > 0 and memory > 0
    assert cpu + KIND_CONTROL_PLANE[0] <= int(VERSIONS["MIN_CPUS"]) * 1000
    assert memory + KIND_CONTROL_PLANE[1] <= int(VERSIONS["MIN_MEMORY_GB"]) * 2**30


def test_prometheus_scrapes_the_exporter_and_airflows_statsd_through_their_services(
    installed: Installed, tmp_path: Path
) -> None:
    """Issue 26 on the cluster: Debian's Prometheus on the host scrapes the metrics exporter's
    Service where its prometheus.io annotations say, and the official chart's StatsD exporter;
    the file totals equal the audit log's and Airflow's scheduler heartbeats arrive."""
    cluster = installed.cluster
    binary = shutil.which("prometheus")
    assert binary, "prometheus not found: apt-get install prometheus (as .ci/run does)"
    service = cluster.json("-n", NAMESPACE, "get", "service", "mdp-metrics")
    notes = service["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    exporter = f"{service['spec']['clusterIP']}:{notes['prometheus.io/port']}"
    statsd = f"{cluster.service_ip('airflow-statsd')}:9102"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "global": {"scrape_interval": "2s"},
        "scrape_configs": [
            {"job_name": "mdp", "metrics_path": notes["prometheus.io/path"],
             "static_configs": [{"targets": [exporter]}]},
            {"job_name": "airflow", "static_configs": [{"targets": [statsd]}]},
        ],
    }  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    with (tmp_path / "prometheus.log").open("w") as log:
        server = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:

        def query(expr: str) -> list[dict[str, Any]]:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            with urllib.request.urlopen(url, timeout=10) as answer:
                return list(json.load(answer)["data"]["result"])

        def scraped() -> bool:
            return sorted(r["value"][1] for r in query("up")) == ["1", "1"]

        wait_until("Prometheus scraped both targets", scraped, 120)
        with installed.warehouse() as conn:
            (audited,) = conn.execute(
                "SELECT count(*) FROM audit.file_ingestion_log WHERE status = 'loaded'"
            ).fetchone() or (0,)
        loaded = query('sum(mdp_files_total{status="loaded"})')
        assert loaded and float(loaded[0]["value"][1]) == audited > 0
        assert query("airflow_scheduler_heartbeat"), "no scheduler heartbeat through StatsD"
    finally:
        server.terminate()
        server.wait(timeout=30)
