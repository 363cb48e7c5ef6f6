"""Airflow for the local-cluster test: the production DAGs, unmodified, under a real scheduler,
launching real pods.

The official Airflow chart cannot be downloaded in CI, so Airflow's four components (api-server,
scheduler with the LocalExecutor, dag-processor, triggerer) run here as local processes from the
project's lock file (the same versions as the Airflow image), configured the way the chart
configures them in the cluster:

- every ``MDP_*`` setting is read from ``charts/airflow/values.yaml`` (pool name and size
  included), and the pool is created with the same ``airflow pools set`` the chart's migration
  Job runs;

- its metadata database is the ``airflow`` database of *our chart's* PostgreSQL, through the
  chart's Secret ``mdp-airflow-metadata`` (the host reaches it through the Service IP);
- the ``mdp_s3`` connection is the chart's Secret ``mdp-airflow-connections`` (read-only MinIO
  user), with the in-cluster host name replaced by the Service IP;
- ``kubernetes_default`` authenticates as the ServiceAccount ``airflow-scheduler`` with a
  short-lived token, so the step pods are created with exactly the rights our chart's
  pod-launcher Role grants (not as cluster admin);
- the contracts ConfigMap that the values mount at ``MDP_CONTRACTS_DIR`` is written into a host
  directory by ``materialise_contracts`` (the kubelet's job for a pod's volume), and again after
  each ``helm upgrade`` that changes it, as the kubelet refreshes a mounted ConfigMap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.conftest import NAMESPACE, Installed
from tests.e2e.airflow_processes import (
    AirflowProcesses,
    airflow_base_env,
    airflow_cli,
    create_pool,
    free_port,
    scheduler_env,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER_SA = "airflow-scheduler"
VALUES = yaml.safe_load((ROOT / "charts" / "airflow" / "values.yaml").read_text())
CHART_ENV = {e["name"]: e["value"] for e in VALUES["env"] if e["name"].startswith("MDP_")}


def scheduler_kubeconfig(installed: Installed, path: Path) -> Path:
    """A kubeconfig for the ServiceAccount the Airflow scheduler runs as in the cluster."""
    cluster = installed.cluster
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SCHEDULER_SA, "namespace": NAMESPACE},
        }
    )
    token = cluster.kubectl(
        "-n", NAMESPACE, "create", "token", SCHEDULER_SA, "--duration", "2h"
    ).strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": server}],
        "users": [{"name": SCHEDULER_SA, "user": {"token": token}}],
        "contexts": [
            {
                "name": "local",
                "context": {"cluster": "local", "user": SCHEDULER_SA, "namespace": NAMESPACE},
            }
        ],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def materialise_contracts(installed: Installed, directory: Path) -> list[str]:
    """The ConfigMap(s) the Airflow values mount (MDP_CONTRACTS_CONFIGMAP) as files in
    ``directory``, stale files removed; returns the file names."""
    files: dict[str, str] = {}
    for name in CHART_ENV["MDP_CONTRACTS_CONFIGMAP"].split(","):
        cm = installed.cluster.json("-n", NAMESPACE, "get", "configmap", name.strip())
        files |= cm.get("data") or {}
    directory.mkdir(parents=True, exist_ok=True)
    for stale in {p.name for p in directory.iterdir()} - set(files):
        (directory / stale).unlink()
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return sorted(files)


def airflow_env(installed: Installed, home: Path) -> dict[str, str]:
    cluster = installed.cluster
    contracts = home / "contracts"
    materialise_contracts(installed, contracts)
    metadata = cluster.secret("mdp-airflow-metadata")["connection"]
    db_url = metadata.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "mdp-postgresql.mdp.svc.cluster.local", installed.postgres_host
    )
    s3 = json.loads(cluster.secret("mdp-airflow-connections")["mdp-s3"])
    s3["extra"]["endpoint_url"] = f"http://{installed.minio_endpoint}"
    kube = {
        "conn_type": "kubernetes",
        "extra": {
            "kube_config_path": str(scheduler_kubeconfig(installed, home / "kubeconfig")),
            "namespace": NAMESPACE,
        },
    }
    return airflow_base_env(home, db_url) | {
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kube),
        "AIRFLOW_CONN_MDP_S3": json.dumps(s3),
        # What charts/airflow/values.yaml sets (its image names are the ones loaded into
        # containerd); quicker retries than in production, so a killed pod is retried at once.
        **CHART_ENV,
        "MDP_CONTRACTS_DIR": str(contracts),  # the values' mount, materialised on the host
        "MDP_RETRIES": "2",
        "MDP_RETRY_DELAY_SECONDS": "2",
        "MDP_MAX_RETRY_DELAY_SECONDS": "5",
        "MDP_POD_STARTUP_TIMEOUT_SECONDS": "120",
    }


def migrate(env: dict[str, str]) -> None:
    airflow_cli(env, "db", "migrate", timeout=900)


def start(env: dict[str, str], logdir: Path) -> AirflowProcesses:
    """Pool and components, as an install has them; the caller stops them."""
    slots = int(CHART_ENV["MDP_POOL_SLOTS"])
    env = scheduler_env(env | {"MDP_MAX_ACTIVE_FILES": str(slots)}, free_port(), parallelism=8)
    create_pool(env, CHART_ENV["MDP_POOL"], slots)
    processes = AirflowProcesses(env, logdir)
    processes.start()
    return processes


def metadata(env: dict[str, str], sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """A query on Airflow's metadata database (the chart's PostgreSQL)."""
    import psycopg

    url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(sql, params).fetchall()
