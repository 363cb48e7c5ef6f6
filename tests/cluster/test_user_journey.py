"""The user's ways in, on the installation of test_platform.py (issue 22, point 4): the
``kubectl port-forward`` lines of docs/kubernetes.md run as written reach the Airflow UI and REST
API (logged in through the auth manager), the MinIO API and console, Metabase and PostgreSQL; a
file uploaded through the forwarded MinIO port is in the warehouse as ``psql`` on the forwarded
PostgreSQL port sees it; ``make status``, ``make credentials``, ``make logs`` and ``make demo``
work against this cluster; a second ``make cluster-up`` reuses it (issue 23).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from minio import Minio

from tests.cluster.airflow import Airflow
from tests.cluster.conftest import (
    NODE,
    ROOT,
    Installed,
    docker,
    kube_context,
    make,
    wait_until,
)
from tests.support.port_forwards import documented_port_forwards

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _kind_mapped_ports() -> set[int]:
    """The host ports kind maps onto NodePorts (k8s/kind-config.yaml extraPortMappings)."""
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    return {m["hostPort"] for node in config["nodes"] for m in node.get("extraPortMappings", [])}


@pytest.fixture(scope="module")
def forwarded(installed: Installed) -> Iterator[list[int]]:
    """Every documented port-forward running, as the user started them; their local ports.
    Ports kind already maps (Airflow 8080, console 9001, Metabase 3000) are reached through
    kind's mapping instead, as docs/kubernetes.md says: forwarding them would find them taken."""
    env = installed.cluster.env
    processes, ports = [], []
    mapped = _kind_mapped_ports()
    assert mapped == {8080, 9001, 3000}
    for line in documented_port_forwards():
        argv = shlex.split(line)
        assert argv[0] == "kubectl" and "port-forward" in argv, line
        ports.append(int(argv[-1].split(":")[0]))
        if ports[-1] in mapped:
            continue
        processes.append(
            subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
    try:
        for port in ports:
            wait_until(f"port-forward on {port}", lambda port=port: _listening(port), 60, 0.5)
        yield ports
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


def test_the_documented_port_forwards_reach_airflow_minio_metabase_and_postgres(
    installed: Installed, airflow: Airflow, forwarded: list[int], tmp_path: Path
) -> None:
    assert forwarded == [8080, 9000, 9001, 3000, 5432]
    cluster = installed.cluster
    # Airflow: log in through the simple auth manager, list the file runs through the REST API.
    with httpx.Client(base_url="http://127.0.0.1:8080", timeout=30) as http:
        login = http.post(
            "/auth/token", json={"username": "admin", "password": airflow.admin_password()}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        runs = http.get("/api/v2/dags/mdp_ingest_file/dagRuns", headers=headers)
        runs.raise_for_status()
        assert runs.json()["total_entries"] >= 7
        assert http.get("/api/v2/dags/mdp_ingest_file/dagRuns").status_code == 401
        assert http.get("/").status_code == 200  # the UI
    # MinIO's console and API, Metabase.
    assert httpx.get("http://127.0.0.1:9001/", timeout=30).status_code == 200
    assert httpx.get("http://127.0.0.1:9000/minio/health/live", timeout=30).status_code == 200
    assert httpx.get("http://127.0.0.1:3000/api/health", timeout=30).json() == {"status": "ok"}
    # A file uploaded through the forwarded MinIO port (root user, as `make credentials` prints
    # it), then read back through psql on the forwarded PostgreSQL port as the read-only user.
    root = cluster.secret("mdp-minio-root")
    client = Minio(
        "127.0.0.1:9000", access_key=root["username"], secret_key=root["password"], secure=False
    )
    body = (ROOT / "tests" / "cluster" / "small-sales.csv").read_bytes().replace(b"IDLE", b"PF")
    path = tmp_path / "forwarded.csv"
    path.write_bytes(body)
    client.fput_object("mdp", "incoming/sales/forwarded.csv", str(path), "text/csv")
    reader = cluster.secret("mdp-postgres-reader")

    def psql(sql: str) -> str:
        done = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "mdp_readonly", "-d", "warehouse",
             "-At", "-c", sql],
            env=os.environ | {"PGPASSWORD": reader["password"]},
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    airflow.wait_for(
        "the forwarded upload in the warehouse",
        lambda: psql("SELECT count(*) FROM warehouse.sales WHERE sale_id LIKE 'PF-%'") == "2",
        600,
    )


def test_make_status_credentials_logs_and_demo_work_against_the_cluster(
    installed: Installed, airflow: Airflow
) -> None:
    cluster = installed.cluster
    context = f"KUBE_CONTEXT={kube_context(cluster)}"
    status = make(cluster.env, "status", context, timeout=120)  # fails with make's output
    assert "airflow-scheduler-0" in status and "mdp-minio-0" in status
    assert "mdp_ingest_file" in status  # the latest file runs, from the scheduler pod
    credentials = make(cluster.env, "credentials", context, timeout=120)
    assert f"password {airflow.admin_password()}" in credentials
    assert f"password {cluster.secret('mdp-minio-root')['password']}" in credentials
    # `make logs` follows the scheduler's log until stopped.
    logs = subprocess.Popen(
        ["make", "--no-print-directory", "logs", context],
        cwd=ROOT, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    time.sleep(15)
    os.killpg(logs.pid, 15)
    out, _ = logs.communicate(timeout=30)
    assert out.strip(), "make logs printed nothing"
    started = time.monotonic()
    demo = make(cluster.env, "demo", context, timeout=900)
    assert "sales_rows" in demo and "loaded" in demo
    print(f"\n[figure] make demo: {time.monotonic() - started:.1f} s", flush=True)


def test_a_second_make_cluster_up_reuses_the_cluster_and_keeps_the_data(
    installed: Installed,
) -> None:
    """Issue 23: `make cluster-up` on an existing cluster reuses it (same node container),
    rebuilds and reloads the images, upgrades both releases in place and prints the URLs;
    nothing stored is lost."""
    cluster = installed.cluster
    node_id = docker("inspect", "-f", "{{.Id}}", NODE).strip()
    with installed.warehouse() as conn:
        audit = conn.execute("SELECT count(*) FROM audit.file_ingestion_log").fetchone()
    archived = sorted(installed.store().list("archive/"))
    started = time.monotonic()
    output = make(cluster.env, "cluster-up", timeout=3600)
    print(f"\n[figure] make cluster-up on the existing cluster: {time.monotonic() - started:.0f} s")
    assert "reusing the existing cluster" in output
    assert "Airflow   http://localhost:8080" in output and "make credentials" in output
    assert docker("inspect", "-f", "{{.Id}}", NODE).strip() == node_id
    with installed.warehouse() as conn:
        assert conn.execute("SELECT count(*) FROM audit.file_ingestion_log").fetchone() == audit
    assert sorted(installed.store().list("archive/")) == archived
