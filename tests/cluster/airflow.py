"""Airflow for the local-cluster test: the production DAGs, unmodified, launching real pods.

The official Airflow chart cannot be downloaded in CI, so Airflow runs here as local processes
from the project's lock file (the same versions as the Airflow image), configured the way the
chart configures it in the cluster:

- its metadata database is the ``airflow`` database of *our chart's* PostgreSQL, through the
  chart's Secret ``mdp-airflow-metadata`` (the host reaches it through the Service IP);
- the ``mdp_s3`` connection is the chart's Secret ``mdp-airflow-connections`` (read-only MinIO
  user), with the in-cluster host name replaced by the Service IP;
- ``kubernetes_default`` authenticates as the ServiceAccount ``airflow-scheduler`` with a
  short-lived token, so the step pods are created with exactly the rights our chart's
  pod-launcher Role grants (not as cluster admin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.conftest import NAMESPACE, Installed

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
SCHEDULER_SA = "airflow-scheduler"


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


def airflow_env(installed: Installed, home: Path) -> dict[str, str]:
    cluster = installed.cluster
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MDP_"))}
    return env | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": os.pathsep.join([str(DAGS), str(ROOT)]),
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(kube),
        "AIRFLOW_CONN_MDP_S3": json.dumps(s3),
        # What charts/airflow/values.yaml sets; the images are the ones loaded into containerd.
        "MDP_NAMESPACE": NAMESPACE,
        "MDP_IMAGE_PULL_POLICY": "IfNotPresent",
        "MDP_RETRIES": "2",
        "MDP_RETRY_DELAY_SECONDS": "2",
        "MDP_MAX_RETRY_DELAY_SECONDS": "5",
        "MDP_POD_STARTUP_TIMEOUT_SECONDS": "120",
    }


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def run_dag(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """One run of a production DAG; returns the task states (see tests/e2e/run_dag.py)."""
    argv = [sys.executable, "-m", "tests.e2e.run_dag", dag_id]
    if conf is not None:
        argv.append(json.dumps(conf))
    done = subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    doc: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    doc["output"] = output
    return doc
