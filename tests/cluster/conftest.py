"""The platform on a real Kubernetes: a kind cluster brought up by ``make cluster-up``.

``make test-cluster`` builds what no registry can give here (the stand-in base images and the
kind node image, tests/cluster/kind) and starts a Docker of its own, then runs pytest with
``MDP_KIND_NODE_IMAGE`` and ``DOCKER_HOST`` set. The session's first fixture runs the user's
``make cluster-up`` as the README writes it, in a user's shell of its own (a throwaway
kubeconfig, kind, kubectl, helm and docker on PATH), with only variables for what this machine
lacks: the node image, the vendored official Airflow chart, the stand-in images
(tests/cluster/values-local.yaml, airflow-local.yaml) and FORCE=1 for the 2-core capacity check.
The last thing the session does is ``make cluster-down``, and it fails when a container, network,
volume or kubeconfig entry is left behind. Fixtures fail - never skip - when something is missing.

Everything below talks to the cluster's real API server, and to MinIO and PostgreSQL *inside* the
cluster through their Service IPs: the harness routes the Service and pod ranges to the node's
address on kind's Docker network (the host then reaches them as another node would).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
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
AIRFLOW_VALUES = Path(__file__).with_name("airflow-local.yaml")
# The official Airflow chart, vendored beside the checkout because CI cannot download it
# (../shared/vendor/PROVENANCE.md); MDP_AIRFLOW_CHART points elsewhere.
AIRFLOW_CHART = Path(
    os.environ.get("MDP_AIRFLOW_CHART", ROOT.parent / "shared" / "vendor" / "apache-airflow-chart")
)
# kind's cluster of `make cluster-up` (its default name) and its one node's container.
KIND_CLUSTER = "mdp"
NODE = f"{KIND_CLUSTER}-control-plane"
# kind's default Service and pod ranges (k8s/kind-config.yaml keeps them).
ROUTED = ("10.96.0.0/12", "10.244.0.0/16")
# Prints the `docker build` flags that put the base-image stand-ins (tests/cluster/standins) under
# `make images`; the script's own warm-up build uses the same.
IMAGES_SCRIPT = ROOT / "scripts" / "test-cluster" / "images.sh"
# The Airflow image with a changed DAG the upgrade-in-flight test rolls to (tests/cluster/upgrade).
UPGRADED_AIRFLOW = "mini-data-platform/airflow:dev-upgraded"


class ClusterError(Exception):
    pass


def docker(*args: str, input: bytes | None = None, timeout: float = 600) -> str:
    """Debian's docker client against the test's Docker (DOCKER_HOST, set by make test-cluster)."""
    done = subprocess.run(
        ["/usr/bin/docker", *args], input=input, capture_output=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise ClusterError(f"docker {' '.join(args[:3])}: {done.stderr.decode().strip()}")
    return done.stdout.decode()


@dataclass
class Cluster:
    """The API server as the admin sees it, through kubectl and helm."""

    kubeconfig: Path
    kubectl_bin: str
    # The user's shell the cluster was made in: its PATH, KUBECONFIG and the variables
    # `make cluster-up` was given (tests run make targets in it).
    env: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0
    log: list[str] = field(default_factory=list)

    def node(self, *command: str, timeout: float = 120) -> str:
        """A command run inside the kind node's container (its containerd, journal, cgroups)."""
        return docker("exec", NODE, *command, timeout=timeout)

    def memory_cgroups(self) -> dict[str, dict[str, int]]:
        """Every container's memory cgroup on the node, by container id: its limit, usage and
        inactive page cache (cgroup v1; kind's kubelet, systemd driver, names each container's
        scope cri-containerd-<id>.scope). One exec for all of them."""
        script = (
            'find /sys/fs/cgroup/memory/ -type d -name "cri-containerd-*.scope" | while read -r d;'
            ' do echo "$d $(cat "$d/memory.limit_in_bytes") $(cat "$d/memory.usage_in_bytes")'
            ' $(sed -n "s/^total_inactive_file //p" "$d/memory.stat")"; done'
        )
        found = {}
        for line in self.node("sh", "-c", script).splitlines():
            path, limit, usage, inactive = line.split()
            container_id = path.rsplit("cri-containerd-", 1)[1].removesuffix(".scope")
            found[container_id] = {
                "limit": int(limit), "usage": int(usage), "inactive_file": int(inactive or 0)
            }  # fmt: skip
        return found

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


def kube_context(cluster: Cluster) -> str:
    return str(yaml.safe_load(cluster.kubeconfig.read_text())["current-context"])


def _user_shell(home: Path) -> dict[str, str]:
    """A shell as the README's prerequisites leave it: docker, kind, kubectl and helm on PATH
    (the tool cache's builds), and a kubeconfig of its own."""
    node_image = os.environ.get("MDP_KIND_NODE_IMAGE")
    if not node_image or not os.environ.get("DOCKER_HOST"):
        pytest.fail(
            "no kind node image or Docker: run the cluster tests with `make test-cluster` "
            "(it builds the node image and starts Docker, then sets MDP_KIND_NODE_IMAGE and "
            "DOCKER_HOST)",
            pytrace=False,
        )
    if not (AIRFLOW_CHART / "Chart.yaml").exists():
        pytest.fail(
            f"no official Airflow chart at {AIRFLOW_CHART} (set MDP_AIRFLOW_CHART)", pytrace=False
        )
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    tools = {
        "docker": "/usr/bin/docker",
        "kind": str(ROOT / ".tools" / "bin" / "kind"),
        "helm": helm(),
        "kubectl": os.environ.get("MDP_CLUSTER_KUBECTL", shutil.which("kubectl") or "kubectl"),
    }
    for name, target in tools.items():
        if not Path(target).exists():
            pytest.fail(f"{name} is missing ({target}): make tools", pytrace=False)
        (bin_dir / name).symlink_to(Path(target).resolve())
    flags = subprocess.run(
        [str(IMAGES_SCRIPT), "build-flags"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "KUBECONFIG": str(home / "kubeconfig"),
        "KIND_NODE_IMAGE": node_image,
        "AIRFLOW_CHART": str(AIRFLOW_CHART),
        "MDP_VALUES": str(VALUES),
        "AIRFLOW_VALUES": str(AIRFLOW_VALUES),
        "DOCKER_BUILD_FLAGS": flags,
        "FORCE": "1",
    }


def make(env: dict[str, str], *args: str, timeout: float = 600) -> str:
    """A make target in the user's shell; its output, or ClusterError with the output's tail."""
    done = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(
            f"make {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-6000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout + done.stderr


def node_ip() -> str:
    return docker(
        "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", NODE
    ).strip()


def route_to_the_node() -> None:
    """The Service and pod ranges through the node, so the host reaches MinIO and PostgreSQL at
    their Service IPs (the routes go with kind's Docker network at cluster-down)."""
    for cidr in ROUTED:
        subprocess.run(["ip", "route", "replace", cidr, "via", node_ip()], check=True)


def _leftovers(env: dict[str, str]) -> list[str]:
    """What `make cluster-down` must not leave: kind's containers, networks, volumes, contexts."""
    found = []
    label = f"label=io.x-k8s.kind.cluster={KIND_CLUSTER}"
    for what, args in {
        "container": ("ps", "-a", "-q", "--filter", label),
        "network": ("network", "ls", "-q", "--filter", "name=^kind$"),
        "volume": ("volume", "ls", "-q"),
    }.items():
        found += [f"{what} {line}" for line in docker(*args).split()]
    kubeconfig = Path(env["KUBECONFIG"])
    if kubeconfig.exists():
        config = yaml.safe_load(kubeconfig.read_text()) or {}
        found += [
            f"kubeconfig context {c['name']}"
            for c in config.get("contexts") or []
            if c["name"] == f"kind-{KIND_CLUSTER}"
        ]
    return found


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """``make cluster-up`` as a user runs it; at the end ``make cluster-down``, checked."""
    # Not under pytest's basetemp: another pytest on the machine may prune that while this runs.
    home = Path(tempfile.mkdtemp(prefix="mdp-user-"))
    env = _user_shell(home)
    had_modules = Path("/lib/modules").exists()
    started = time.monotonic()
    try:
        output = make(env, "cluster-up", timeout=3600)
    except ClusterError as e:
        pytest.fail(f"make cluster-up failed: {e}", pytrace=False)
    seconds = time.monotonic() - started
    kubectl = str(Path(env["PATH"].split(os.pathsep)[0]) / "kubectl")
    c = Cluster(Path(env["KUBECONFIG"]), kubectl, env, seconds, [output])
    print(f"\n[figure] make cluster-up (new cluster, images, both releases): {seconds:.0f} s")
    route_to_the_node()
    # Test only: the Airflow image with a changed DAG, loaded the way cluster-up loads ours.
    docker("build", "--network", "host", "--quiet", "--build-arg",
           "AIRFLOW_IMAGE=mini-data-platform/airflow:dev", "-t", UPGRADED_AIRFLOW,
           str(ROOT / "tests" / "cluster" / "upgrade"))  # fmt: skip
    kind_load(c, UPGRADED_AIRFLOW)
    yield c
    make(env, "cluster-down", timeout=600)
    modules = Path("/lib/modules")
    if not had_modules and modules.is_dir() and not any(modules.iterdir()):
        modules.rmdir()  # Docker made it for kind's read-only bind mount
    left = _leftovers(env)
    shutil.rmtree(home, ignore_errors=True)
    if left:
        pytest.fail(f"make cluster-down left behind: {left}", pytrace=False)


def kind_load(cluster: Cluster, *images: str) -> None:
    """Images into the node, as `make cluster-up` loads ours (kind load docker-image)."""
    done = subprocess.run(
        ["kind", "load", "docker-image", "--name", KIND_CLUSTER, *images],
        env=cluster.env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(f"kind load {images}: {done.stderr.strip()}")


@pytest.fixture(scope="session")
def installed(cluster: Cluster) -> Iterator[Installed]:
    yield Installed(
        cluster=cluster,
        install_seconds=cluster.up_seconds,
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
