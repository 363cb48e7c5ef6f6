"""End-to-end fixtures: Airflow (from the lock file) + the test Kubernetes API + real MinIO and
PostgreSQL.

Airflow's metadata database lives on the same test PostgreSQL server, as it does in the chart.
Each test gets a fresh bucket, warehouse database, fake cluster and Airflow home; the DAGs read the
same ``MDP_*`` variables, Secrets and ConfigMap names the chart sets up, and reach the cluster
through a kubeconfig, so the DAG files run unmodified.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mdp.devservers import MinioServer, PostgresServer
from mdp.storage import ObjectStore
from tests.e2e.airflow_processes import airflow_base_env, airflow_cli
from tests.kubeapi.server import KubeApiServer
from tests.support.servers import Database

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
NAMESPACE = "mdp"
PIPELINE_USER = "mdp_pipeline_e2e"
AIRFLOW_TEMPLATE_DB = "airflow_template"


def _sqlalchemy_url(server: PostgresServer, dbname: str) -> str:
    return f"postgresql+psycopg://{server.user}:{server.password}@127.0.0.1:{server.port}/{dbname}"


@pytest.fixture(scope="session")
def airflow_db(pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An Airflow metadata database, migrated once per session with ``airflow db migrate``."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE airflow")
        # The pipeline's login role: a member of mdp_loader only, as the chart creates it.
        conn.execute(f"CREATE ROLE {PIPELINE_USER} LOGIN PASSWORD 'e2e-pw' IN ROLE mdp_loader")
    url = _sqlalchemy_url(pg_server, "airflow")
    home = tmp_path_factory.mktemp("airflow-home")
    airflow_cli(airflow_base_env(home, url), "db", "migrate")
    # A migrated, empty copy for tests that need an Airflow database of their own.
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {AIRFLOW_TEMPLATE_DB} TEMPLATE airflow")
    return url


@dataclass
class DagRunResult:
    state: str
    run_id: str
    tasks: dict[str, tuple[str | None, int]]
    output: str
    conf: dict[str, Any]

    def states(self, task_id: str) -> list[str | None]:
        """States of every mapped instance of ``task_id`` (or the one unmapped instance)."""
        return [s for key, (s, _) in sorted(self.tasks.items()) if key.split("[")[0] == task_id]

    def tries(self, task_id: str) -> list[int]:
        return [n for key, (_, n) in sorted(self.tasks.items()) if key.split("[")[0] == task_id]


@dataclass
class IngestResult:
    """A sweep of the dispatcher and every ``mdp_ingest_file`` run it created, in run order."""

    dispatch: DagRunResult
    files: list[DagRunResult]
    output: str

    def by_key(self) -> dict[str, DagRunResult]:
        return {run.conf["key"]: run for run in self.files}

    def run_states(self) -> dict[str, str]:
        return {key: run.state for key, run in sorted(self.by_key().items())}

    def states(self, task_id: str) -> list[str | None]:
        """States of ``task_id`` in every file's run, ordered by object key."""
        return [s for _, run in sorted(self.by_key().items()) for s in run.states(task_id)]

    def tries(self, task_id: str) -> list[int]:
        return [n for _, run in sorted(self.by_key().items()) for n in run.tries(task_id)]


@dataclass
class Platform:
    """One test's platform: bucket, warehouse, fake cluster and the env the DAGs run with."""

    store: ObjectStore
    database: Database
    kube: KubeApiServer
    env: dict[str, str]

    def run_dag(self, dag_id: str, conf: dict[str, Any] | None = None) -> DagRunResult:
        argv = [dag_id] + ([json.dumps(conf)] if conf is not None else [])
        doc, output = self._run(argv)
        return _result(doc, output)

    def ingest(self) -> IngestResult:
        """One sweep of ``mdp_ingest``, then every file run it created (tests/e2e/run_dag.py)."""
        doc, output = self._run(["ingest"])
        files = [_result(run, output) for run in doc["files"]]
        return IngestResult(_result(doc["dispatch"], output), files, output)

    def _run(self, args: list[str]) -> tuple[dict[str, Any], str]:
        argv = [sys.executable, "-m", "tests.e2e.run_dag", *args]
        done = subprocess.run(
            argv, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False
        )
        output = done.stdout + done.stderr
        last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "{}"
        assert done.returncode == 0, output[-6000:]
        doc: dict[str, Any] = json.loads(last)
        return doc, output

    def put(self, key: str, data: bytes) -> None:
        self.store.put_bytes(key, data, "application/octet-stream")

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(self.store.list(prefix))


def _result(doc: dict[str, Any], output: str) -> DagRunResult:
    return DagRunResult(doc["state"], doc["run_id"], doc["tasks"], output, doc.get("conf") or {})


@pytest.fixture
def platform(
    airflow_db: str,
    minio_server: MinioServer,
    store: ObjectStore,
    database: Database,
    tmp_path: Path,
) -> Iterator[Platform]:
    # The Airflow database is shared by the session: file runs an earlier test left queued are
    # not this test's (``ingest`` executes every queued file run).
    with psycopg.connect(
        airflow_db.replace("postgresql+psycopg", "postgresql"), autocommit=True
    ) as c:
        c.execute("DELETE FROM dag_run WHERE dag_id = 'mdp_ingest_file' AND state = 'queued'")
    kube = KubeApiServer().start()
    cluster = kube.cluster
    # What the chart's setup creates in the pipeline namespace (issue 5 renders the real ones).
    cluster.preload_configmap(
        NAMESPACE,
        "mdp-pipeline",
        {
            "S3__ENDPOINT": minio_server.endpoint,
            "S3__BUCKET": store.bucket,
            "S3__SECURE": "false",
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(database.server.port),
            "PG__DATABASE": database.name,
            "PG__SSLMODE": "disable",
        },
    )
    # The chart's contracts ConfigMap: the repository's contracts/*.yaml, as it renders them.
    cluster.preload_configmap(
        NAMESPACE,
        "mdp-contracts",
        {p.name: p.read_text(encoding="utf-8") for p in sorted(CONTRACTS.glob("*.yaml"))},
    )
    cluster.preload_secret(
        NAMESPACE,
        "mdp-minio-pipeline",
        {"access-key": minio_server.access_key, "secret-key": minio_server.secret_key},
    )
    cluster.preload_secret(
        NAMESPACE, "mdp-postgres-pipeline", {"username": PIPELINE_USER, "password": "e2e-pw"}
    )
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace=NAMESPACE)
    home = tmp_path / "airflow-home"
    home.mkdir()
    s3_conn = {
        "conn_type": "aws",
        "login": minio_server.access_key,
        "password": minio_server.secret_key,
        "extra": {"endpoint_url": f"http://{minio_server.endpoint}", "region_name": "us-east-1"},
    }
    k8s_conn = {
        "conn_type": "kubernetes",
        "extra": {"kube_config_path": str(kubeconfig), "namespace": NAMESPACE},
    }
    env = airflow_base_env(home, airflow_db) | {
        "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(k8s_conn),
        "AIRFLOW_CONN_MDP_S3": json.dumps(s3_conn),
        "MDP_NAMESPACE": NAMESPACE,
        "MDP_BUCKET": store.bucket,
        # The datasets come from the contracts, as the Airflow values mount them.
        "MDP_CONTRACTS_DIR": str(CONTRACTS),
        "MDP_IMAGE_TAG": f"e2e-{uuid.uuid4().hex[:6]}",
        "MDP_RETRIES": "2",
        "MDP_RETRY_DELAY_SECONDS": "1",
        "MDP_MAX_RETRY_DELAY_SECONDS": "2",
        "MDP_POD_STARTUP_TIMEOUT_SECONDS": "60",
    }
    yield Platform(store, database, kube, env)
    kube.stop()
