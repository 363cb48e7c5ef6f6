"""Airflow as it runs on the cluster: the official chart's pods (api-server, scheduler with the
LocalExecutor, dag-processor, triggerer), installed by ``make deploy`` with
``charts/airflow/values.yaml``, our Airflow image and the production DAGs, unmodified.

The test talks to it the ways an operator does: ``kubectl exec`` into the scheduler for the
``airflow`` CLI, the REST API through ``kubectl port-forward``, and the metadata database (the
``airflow`` database of our chart's PostgreSQL, through the chart's Secret) for what no CLI
prints. Nothing of Airflow runs on the host.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import urllib3
import yaml
from minio.error import S3Error

from tests.cluster.conftest import NAMESPACE, ClusterError, Installed

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "charts" / "airflow" / "values.yaml").read_text())
CHART_ENV = {e["name"]: e["value"] for e in VALUES["env"] if e["name"].startswith("MDP_")}
RELEASE = "release=airflow"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# What a check may raise while MinIO, PostgreSQL or the API server is restarting.
TRANSIENT = (ClusterError, OSError, psycopg.Error, urllib3.exceptions.HTTPError, S3Error)


def selector(component: str) -> str:
    """The official chart's labels for one component (what the Makefile selects by)."""
    return f"component={component},{RELEASE}"


@dataclass
class Airflow:
    """The Airflow release of the installation."""

    installed: Installed
    sampler: MemorySampler | None = None

    def pod(self, component: str) -> dict[str, Any]:
        pods = [
            p
            for p in self.installed.cluster.pods(selector(component))
            if not p["metadata"].get("deletionTimestamp")
        ]
        if not pods:
            raise ClusterError(f"no {component} pod")
        return pods[0]

    def cli(self, *args: str, timeout: float = 300) -> str:
        """``airflow ARGS`` in the scheduler container, as ``make status`` runs it."""
        name = self.pod("scheduler")["metadata"]["name"]
        return self.installed.cluster.kubectl(
            "-n", NAMESPACE, "exec", name, "-c", "scheduler", "--", "airflow", *args,
            timeout=timeout,
        )  # fmt: skip

    def read_in(self, component: str, container: str, *command: str) -> str:
        name = self.pod(component)["metadata"]["name"]
        return self.installed.cluster.kubectl(
            "-n", NAMESPACE, "exec", name, "-c", container, "--", *command, timeout=120
        )

    def metadata(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """A query on Airflow's metadata database, with the chart's connection Secret."""
        url = urlsplit(self.installed.cluster.secret("mdp-airflow-metadata")["connection"])
        with psycopg.connect(
            host=self.installed.postgres_host,
            port=url.port or 5432,
            dbname=url.path.lstrip("/"),
            user=url.username,
            password=url.password,
            connect_timeout=10,
        ) as conn:
            return conn.execute(sql, params).fetchall()

    def tails(self) -> str:
        """The end of every component's log: what a person reads when a wait times out."""
        out = []
        for component in COMPONENTS:
            logs = self.installed.cluster.kubectl(
                "-n", NAMESPACE, "logs", "-l", selector(component), "--all-containers",
                "--tail=40", "--prefix", check=False,
            )  # fmt: skip
            out += [f"--- {component}", logs]
        return "\n".join(out)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        """Poll ``check`` until true; the seconds it took. Fails with every component's log."""
        start = time.monotonic()
        while True:
            try:
                if check():
                    return time.monotonic() - start
            except TRANSIENT:
                pass  # a component being restarted on purpose
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s: {what}\n{self.tails()}")
            time.sleep(1)

    def contracts_seen_by_scheduler(self) -> dict[str, str]:
        """The contract files as the scheduler pod sees them at MDP_CONTRACTS_DIR (the kubelet's
        copy of the mounted ConfigMap), name -> text."""
        directory = CHART_ENV["MDP_CONTRACTS_DIR"]
        script = (
            "import json, pathlib, sys;"
            f"d = pathlib.Path({directory!r});"
            "json.dump({p.name: p.read_text() for p in d.glob('*.yaml')}, sys.stdout)"
        )
        return dict(json.loads(self.read_in("scheduler", "scheduler", "python", "-c", script)))

    def admin_password(self) -> str:
        """The admin password the simple auth manager generated (what ``make credentials``
        prints)."""
        script = (
            "import json, glob;"
            "print(json.load(open(glob.glob('/opt/airflow/simple_auth_manager_passwords.json*')"
            "[0]))['admin'])"
        )
        return self.read_in("api-server", "api-server", "python", "-c", script).strip()


def container_id(pod: dict[str, Any], container: str) -> str | None:
    """The runtime's id of a running container of ``pod`` (the name of its cgroup), or None."""
    statuses = pod["status"].get("containerStatuses") or []
    status = next((c for c in statuses if c["name"] == container), None)
    if not status or not status.get("containerID") or "running" not in status.get("state", {}):
        return None
    return str(status["containerID"].split("://", 1)[1])


def _working_set(
    pod: dict[str, Any], container: str, cgroups: dict[str, dict[str, int]]
) -> int | None:
    """A running container's memory working set (usage minus inactive page cache, as the
    kubelet counts it), from the node's cgroups (Cluster.memory_cgroups)."""
    found = cgroups.get(container_id(pod, container) or "")
    return None if found is None else found["usage"] - found["inactive_file"]


def quantity(text: str) -> float:
    """A Kubernetes quantity (``250m``, ``512Mi``, ``1Gi``, ``2``) as a number of units."""
    factors = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix in sorted(factors, key=len, reverse=True):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factors[suffix]
    return float(text)


def _pod_specs(document: Any) -> Iterator[dict[str, Any]]:
    """Every pod spec in a rendered object (Deployment, StatefulSet, Job, CronJob, Pod...)."""
    if isinstance(document, dict):
        if "containers" in document and isinstance(document["containers"], list):
            yield document
        for value in document.values():
            yield from _pod_specs(value)
    elif isinstance(document, list):
        for value in document:
            yield from _pod_specs(value)


def default_requests() -> dict[str, dict[str, str]]:
    """Each container's requests under the committed values alone (no test overlay), by
    container name, from ``helm template`` of both charts: what a user's cluster asks for."""
    from tests.chart.conftest import helm
    from tests.cluster.conftest import AIRFLOW_CHART, CHART

    rendered = ""
    for args in (
        ["mdp", str(CHART)],
        [
            "airflow",
            str(AIRFLOW_CHART),
            "--values",
            str(ROOT / "charts" / "airflow" / "values.yaml"),
        ],
    ):
        rendered += subprocess.run(
            [helm(), "template", *args, "--namespace", NAMESPACE],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout + "\n---\n"  # fmt: skip
    found: dict[str, dict[str, str]] = {}
    for document in yaml.safe_load_all(rendered):
        for spec in _pod_specs(document):
            # Main containers only: an init container's name repeats across pods (the official
            # chart's wait-for-airflow-migrations) and asks for what its pod's main one does.
            for container in spec["containers"]:
                requests = container.get("resources", {}).get("requests")
                if requests:
                    found[container["name"]] = requests
    return found


def requested(
    pod: dict[str, Any], resource: str, defaults: dict[str, dict[str, str]] | None = None
) -> int:
    """A pod's effective request (the larger of its containers' sum and any init container's):
    millicores for cpu, bytes for memory; with ``defaults``, each container the charts start is
    counted at its default request instead of the test overlay's (default_requests)."""
    scale = 1000 if resource == "cpu" else 1

    def request(container: dict[str, Any], default: bool = False) -> int:
        value = container.get("resources", {}).get("requests", {}).get(resource)
        if default and defaults and container["name"] in defaults:
            value = defaults[container["name"]].get(resource, value)
        return round(quantity(value) * scale) if value else 0

    main = sum(request(c, default=True) for c in pod["spec"]["containers"])
    init = max((request(c) for c in pod["spec"].get("initContainers", [])), default=0)
    return max(main, init)


class MemorySampler:
    """Samples every Airflow container's working set every few seconds for the whole run and
    keeps the peak per component/container, with the container's memory limit."""

    def __init__(self, airflow: Airflow, every: float = 5.0) -> None:
        self.airflow = airflow
        self.every = every
        self.peaks: dict[tuple[str, str], int] = {}
        self.limits: dict[tuple[str, str], str] = {}
        # The largest sum of requests of the namespace's pods (Pending or Running) seen at once
        # while a burst flows (``counting_requests``; not during upgrades, when old and new pods
        # and hook Jobs overlap for a moment): what a cluster of the documented capacity must
        # hold. CPU in millicores, memory in bytes.
        self.peak_requests: tuple[int, int] = (0, 0)
        self.defaults = default_requests()
        self._count_requests = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.sample()
            except (ClusterError, OSError, ValueError, KeyError):
                continue

    @contextmanager
    def counting_requests(self) -> Iterator[None]:
        self._count_requests = True
        try:
            yield
        finally:
            self._count_requests = False

    def sample(self) -> None:
        pods = self.airflow.installed.cluster.pods()
        live = [p for p in pods if p["status"].get("phase") in {"Pending", "Running"}]
        if self._count_requests:
            cpu = sum(requested(p, "cpu", self.defaults) for p in live)
            memory = sum(requested(p, "memory", self.defaults) for p in live)
            self.peak_requests = (
                max(self.peak_requests[0], cpu),
                max(self.peak_requests[1], memory),
            )
        cgroups = self.airflow.installed.cluster.memory_cgroups()
        for pod in (p for p in live if p["metadata"]["labels"].get("release") == "airflow"):
            component = pod["metadata"]["labels"].get("component", "?")
            for container in pod["spec"]["containers"]:
                used = _working_set(pod, container["name"], cgroups)
                if used is None:
                    continue
                key = (component, container["name"])
                self.peaks[key] = max(self.peaks.get(key, 0), used)
                limit = container.get("resources", {}).get("limits", {}).get("memory")
                if limit:
                    self.limits[key] = limit
