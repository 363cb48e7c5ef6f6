"""The platform on a real Kubernetes: fixtures for the local test cluster.

The cluster itself (etcd, control plane, kubelet, kube-proxy, CoreDNS, containerd) and the images
are brought up by ``make test-cluster`` (scripts/local-cluster/) before pytest starts; these
fixtures find it through ``MDP_CLUSTER_KUBECONFIG`` and fail - never skip - with the reason when
it is not there. Everything below talks to the cluster's real API server, and to MinIO and
PostgreSQL *inside* the cluster through their Service IPs (the host reaches Service IPs through
kube-proxy, like any node).

What the test installs, as a user would: the namespace with Pod Security ``restricted`` enforced,
our chart with ``helm upgrade --install --wait`` (tests/cluster/values-local.yaml), and, because
the cluster has no volume provisioner, one hostPath PersistentVolume per claim of the chart.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from minio import Minio

from mdp.storage import ObjectStore
from tests.chart.conftest import helm

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mini-data-platform"
VALUES = Path(__file__).with_name("values-local.yaml")
NAMESPACE = "mdp"
RELEASE = "mdp"
STATE = Path(os.environ.get("CLUSTER_STATE_DIR", "/var/lib/mdp-local-cluster"))
AIRFLOW_VALUES = Path(__file__).with_name("airflow-local.yaml")
# The official Airflow chart, vendored beside the checkout because CI cannot download it
# (../shared/vendor/PROVENANCE.md); MDP_AIRFLOW_CHART points elsewhere.
AIRFLOW_CHART = Path(
    os.environ.get("MDP_AIRFLOW_CHART", ROOT.parent / "shared" / "vendor" / "apache-airflow-chart")
)
# Volumes of both charts' StatefulSets: claim name -> owner uid, gid of the hostPath directory
# (the pod's runAsUser and group: hostPath volumes get no fsGroup ownership change) and the size
# the claim asks for (Airflow's: charts/airflow/values.yaml workers.persistence.size).
VOLUMES = {
    "data-mdp-minio-0": (10001, 10001, "2Gi"),
    "data-mdp-postgresql-0": (999, 999, "2Gi"),
    "logs-airflow-scheduler-0": (50000, 0, "5Gi"),
}


class ClusterError(Exception):
    pass


def _kubeconfig() -> Path:
    path = Path(os.environ.get("MDP_CLUSTER_KUBECONFIG", STATE / "admin.kubeconfig"))
    if not path.exists():
        pytest.fail(
            f"no local cluster: {path} does not exist. Start one with `make cluster-local` "
            "(or run everything with `make test-cluster`)",
            pytrace=False,
        )
    return path


def _kubectl_binary() -> str:
    return os.environ.get("MDP_CLUSTER_KUBECTL", "kubectl")


@dataclass
class Cluster:
    """The API server as the admin sees it, through kubectl and helm."""

    kubeconfig: Path
    kubectl_bin: str
    log: list[str] = field(default_factory=list)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 300
    ) -> str:
        cmd = [self.kubectl_bin, "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any] | str) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        self.kubectl("apply", "-f", "-", input=text)

    def helm(self, *args: str, timeout: float = 1200) -> str:
        cmd = [helm(), "--kubeconfig", str(self.kubeconfig), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise ClusterError(
                f"helm {' '.join(args)} failed:\n{done.stderr}\n{self.describe_failures()}"
            )
        return done.stdout

    def secret(self, name: str, namespace: str = NAMESPACE) -> dict[str, str]:
        data = self.json("-n", namespace, "get", "secret", name)["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    def service_ip(self, name: str, namespace: str = NAMESPACE) -> str:
        return str(self.json("-n", namespace, "get", "service", name)["spec"]["clusterIP"])

    def pods(self, selector: str = "", namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        args = ["-n", namespace, "get", "pods"]
        if selector:
            args += ["-l", selector]
        return list(self.json(*args)["items"])

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["--all-namespaces"] if namespace is None else ["-n", namespace]
        return list(self.json("get", "events", *scope)["items"])

    def describe_failures(self) -> str:
        """What a person would look at when something did not become ready."""
        out = [self.kubectl("-n", NAMESPACE, "get", "pods,jobs,pvc", "-o", "wide", check=False)]
        for pod in self.pods():
            phase = pod["status"].get("phase")
            if phase in {"Running", "Succeeded"}:
                continue
            name = pod["metadata"]["name"]
            out.append(f"--- {name} ({phase})")
            out.append(self.kubectl("-n", NAMESPACE, "describe", "pod", name, check=False)[-3000:])
            out.append(
                self.kubectl(
                    "-n", NAMESPACE, "logs", name, "--all-containers", "--tail=30", check=False
                )
            )
        return "\n".join(out)


def wait_until(what: str, check: Callable[[], bool], timeout: float, every: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (ClusterError, OSError, psycopg.Error):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    c = Cluster(_kubeconfig(), _kubectl_binary())
    try:
        c.kubectl("get", "--raw", "/readyz", timeout=30)
    except (ClusterError, subprocess.TimeoutExpired) as e:
        pytest.fail(f"the local cluster does not answer: {e}", pytrace=False)
    return c


def _namespace_and_volumes(cluster: Cluster) -> None:
    """The namespace as the README tells users to create it (Pod Security restricted enforced),
    and the volumes a provisioner would give the chart's claims."""
    cluster.apply((ROOT / "k8s" / "namespace.yaml").read_text())
    cluster.apply(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "mdp-local"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
            "reclaimPolicy": "Retain",
        }
    )
    for claim, (uid, gid, size) in VOLUMES.items():
        path = STATE / "volumes" / claim
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, uid, gid)
        path.chmod(0o770)
        cluster.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"mdp-local-{claim}"},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "mdp-local",
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": str(path), "type": "Directory"},
                    "claimRef": {"namespace": NAMESPACE, "name": claim},
                },
            }
        )


@dataclass
class Installed:
    """Our release on the cluster and host-side clients for what runs inside it."""

    cluster: Cluster
    install_seconds: float
    minio_endpoint: str
    postgres_host: str

    def store(self) -> ObjectStore:
        root = self.cluster.secret("mdp-minio-root")
        client = Minio(
            self.minio_endpoint,
            access_key=root["username"],
            secret_key=root["password"],
            secure=False,
        )
        return ObjectStore(client, "mdp")

    def warehouse(self) -> psycopg.Connection:
        owner = self.cluster.secret("mdp-postgres-owner")
        return psycopg.connect(
            host=self.postgres_host,
            port=5432,
            dbname="warehouse",
            user=owner["username"],
            password=owner["password"],
            autocommit=True,
            connect_timeout=10,
        )


def helm_install(cluster: Cluster, *extra: str) -> float:
    started = time.monotonic()
    cluster.helm(
        "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "--values", str(VALUES), "--wait", "--timeout", "15m", *extra,
    )  # fmt: skip
    return time.monotonic() - started


def _bin_dir(program: str) -> Path:
    return Path(shutil.which(program) or program).resolve().parent


def kube_context(cluster: Cluster) -> str:
    return str(yaml.safe_load(cluster.kubeconfig.read_text())["current-context"])


def user_env(cluster: Cluster) -> dict[str, str]:
    """A user's shell on this cluster: its kubeconfig, and kubectl on PATH by name."""
    return os.environ | {
        "KUBECONFIG": str(cluster.kubeconfig),
        "PATH": f"{_bin_dir(cluster.kubectl_bin)}{os.pathsep}{os.environ['PATH']}",
    }


def make_deploy(cluster: Cluster) -> float:
    """``make deploy`` as a user runs it, on this cluster: both releases, our chart with the
    local values, the official Airflow chart from AIRFLOW_CHART with the local overlay."""
    if not (AIRFLOW_CHART / "Chart.yaml").exists():
        pytest.fail(
            f"no official Airflow chart at {AIRFLOW_CHART} (set MDP_AIRFLOW_CHART)", pytrace=False
        )
    started = time.monotonic()
    done = subprocess.run(
        [
            "make", "--no-print-directory", "deploy",
            f"KUBE_CONTEXT={kube_context(cluster)}",
            f"HELM={helm()}",
            f"MDP_VALUES={VALUES}",
            f"AIRFLOW_CHART={AIRFLOW_CHART}",
            f"AIRFLOW_VALUES={AIRFLOW_VALUES}",
        ],
        cwd=ROOT, env=user_env(cluster), capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(
            f"make deploy failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}\n"
            f"{cluster.describe_failures()}"
        )
    return time.monotonic() - started


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Iterator[Installed]:
    _namespace_and_volumes(cluster)
    seconds = make_deploy(cluster)
    yield Installed(
        cluster=cluster,
        install_seconds=seconds,
        minio_endpoint=f"{cluster.service_ip('mdp-minio')}:9000",
        postgres_host=cluster.service_ip("mdp-postgresql"),
    )


@pytest.fixture(scope="session")
def airflow(installed: Installed) -> Iterator[Any]:
    """The Airflow release ``make deploy`` installed, with a sampler of its pods' memory that
    runs for the whole session (tests/cluster/test_whole_run.py reports the peaks)."""
    from tests.cluster.airflow import Airflow, MemorySampler

    release = Airflow(installed)
    sampler = MemorySampler(release)
    sampler.start()
    release.sampler = sampler
    yield release
    sampler.stop()
