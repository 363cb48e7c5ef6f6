"""Our side of the official Airflow chart: charts/airflow/values.yaml, the Makefile targets and
skaffold hooks that address Airflow's objects, and the capacity, against the facts recorded from
rendering the official chart with these values (charts/airflow/official-chart-facts.json, written
by scripts/record-airflow-chart-facts.py; CI cannot download the chart itself).

Each test names the first-deploy problem it guards against (issue 11)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS, by_kind, pod_specs, render_chart
from tests.chart.pod_security import restricted_violations
from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]
VALUES_FILE = ROOT / "charts" / "airflow" / "values.yaml"
VALUES = yaml.safe_load(VALUES_FILE.read_text())
FACTS = json.loads((ROOT / "charts" / "airflow" / "official-chart-facts.json").read_text())
RENDERS = FACTS["renders"]
SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
POOL_COMMAND = re.compile(r'airflow pools set "\$MDP_POOL" "\$MDP_POOL_SLOTS"')


def _version(render: dict[str, Any]) -> str:
    return str(render["chart"]["version"])


@pytest.fixture(params=RENDERS, ids=_version)
def render(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


def _workload(render: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(w for w in render["workloads"] if (w["kind"], w["name"]) == (kind, name))


def _env(name: str) -> dict[str, Any]:
    return next(e for e in VALUES["env"] if e["name"] == name)


def _make_n(*targets: str) -> str:
    return subprocess.run(
        ["make", "-n", *targets], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout


def test_the_facts_were_recorded_from_these_values() -> None:
    """Change charts/airflow/values.yaml, then re-record (scripts/record-airflow-chart-facts.py)."""
    assert FACTS["valuesSha256"] == hashlib.sha256(VALUES_FILE.read_bytes()).hexdigest()
    versions = [tuple(int(x) for x in re.findall(r"\d+", _version(r))[:2]) for r in RENDERS]
    assert min(versions) >= (1, 19), "render a chart that supports Airflow 3"


# (1) helm --wait deadlocked: the migrations were a post-install hook every Airflow pod waited on.


def test_no_object_is_a_post_install_hook_so_helm_wait_cannot_deadlock(
    render: dict[str, Any],
) -> None:
    hooks = {(o["kind"], o["name"]): o["hook"] for o in render["objects"] if o["hook"]}
    assert not any("post-" in h for h in hooks.values()), hooks
    job = _workload(render, "Job", "airflow-run-airflow-migrations")
    assert ("Job", job["name"]) not in hooks
    migrate = VALUES["migrateDatabaseJob"]
    assert migrate["useHelmHooks"] is False and migrate["applyCustomEnv"] is False


def test_the_migration_job_does_not_change_when_skaffold_retags_our_step_images(
    render: dict[str, Any],
) -> None:
    """A Job's pod template is immutable: the step images' tags skaffold sets into the env on
    every build must not reach it (only a new Airflow image does, and deploy deletes the Job)."""
    (container,) = _workload(render, "Job", "airflow-run-airflow-migrations")["containers"]
    assert not container["envFrom"]
    airflow = next(r for r in SKAFFOLD["manifests"]["helm"]["releases"] if r["name"] == "airflow")
    retagged = [
        VALUES["env"][int(m[1])]["name"]
        for key in airflow["setValueTemplates"]
        if (m := re.fullmatch(r"env\[(\d+)\]\.value", key))
    ]
    assert retagged and not set(retagged) & set(container["env"])


def test_the_migration_job_goes_away_after_it_finished_and_before_each_upgrade(
    render: dict[str, Any],
) -> None:
    job = _workload(render, "Job", "airflow-run-airflow-migrations")
    assert 0 < job["ttlSecondsAfterFinished"] <= 600
    out = _make_n("deploy").splitlines()
    delete = next(i for i, line in enumerate(out) if "delete job -l" in line)
    upgrade = next(i for i, line in enumerate(out) if "upgrade --install airflow" in line)
    assert delete < upgrade
    selector = re.search(r"delete job -l (\S+)", out[delete])
    assert selector and _selects(selector[1], job["labels"])
    hooks = [" ".join(h["host"]["command"]) for h in SKAFFOLD["deploy"]["helm"]["hooks"]["before"]]
    assert any(f"delete job -l {selector[1]} " in h for h in hooks), hooks


# (2) The scheduler is a StatefulSet with LocalExecutor: targets must not name a workload kind.


def _selects(selector: str, labels: dict[str, str]) -> bool:
    wanted = dict(part.split("=", 1) for part in selector.split(","))
    return all(labels.get(k) == v for k, v in wanted.items())


AIRFLOW_TARGETS = ("deploy", "status", "logs", "demo", "credentials")


def test_make_targets_address_airflow_pods_by_label_and_each_selector_finds_one_workload(
    render: dict[str, Any],
) -> None:
    out = _make_n(*AIRFLOW_TARGETS)
    assert not re.search(r"(deploy|deployment|statefulset|sts)/airflow", out)
    assert _workload(render, "StatefulSet", "airflow-scheduler")
    uses = re.findall(r"-l (\S*release=airflow\S*)(?:.*?-c (\S+))?", out)
    assert {s for s, _ in uses} >= {"component=scheduler,release=airflow"}
    for selector, container in uses:
        matches = [w for w in render["workloads"] if _selects(selector, w["podLabels"])]
        assert len(matches) == 1, (selector, [w["name"] for w in matches])
        if container:
            assert container in [c["name"] for c in matches[0]["containers"]], container


# (3) No pool, no work: the pool must exist on every install path, sized from one value.


def test_the_migration_job_creates_the_pool_after_the_migrations(render: dict[str, Any]) -> None:
    (container,) = _workload(render, "Job", "airflow-run-airflow-migrations")["containers"]
    script = container["args"][-1]
    assert script.index("airflow db migrate") < POOL_COMMAND.search(script).start()  # type: ignore[union-attr]
    assert "&&" in script  # no pool on a half-migrated database
    assert {"MDP_POOL", "MDP_POOL_SLOTS"} <= set(container["env"])


def test_the_pool_name_and_size_are_set_once() -> None:
    job_env = {e["name"]: e for e in VALUES["migrateDatabaseJob"]["env"]}
    for name in ("MDP_POOL", "MDP_POOL_SLOTS"):
        assert job_env[name] == _env(name)  # the same YAML node (an alias), not a copy
    text = VALUES_FILE.read_text()
    assert text.count("mdp_pipeline") == 1
    assert len(re.findall(r"MDP_POOL_SLOTS, value:", text)) == 1
    assert "pools set" not in _make_n("deploy")  # no second, drifting size in the Makefile


def test_the_migration_jobs_command_creates_the_pool_in_a_real_airflow(tmp_path: Path) -> None:
    """The Job's command from the values, run twice with the pinned Airflow (SQLite here)."""
    script = VALUES["migrateDatabaseJob"]["args"][-1]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **{e["name"]: str(e["value"]) for e in VALUES["migrateDatabaseJob"]["env"]},
    }
    for _ in range(2):  # the second run must succeed too: every upgrade runs it again
        done = subprocess.run(
            ["bash", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(
        ["airflow", "pools", "get", env["MDP_POOL"], "-o", "json"],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    pool = json.loads(done.stdout[done.stdout.index("[") :])[0]
    assert (pool["pool"], int(pool["slots"])) == (env["MDP_POOL"], int(env["MDP_POOL_SLOTS"]))


# (4) Every image the Airflow release runs is one that make images builds and kind loads.


def test_every_airflow_pod_runs_our_airflow_image_but_the_pinned_statsd_exporter(
    render: dict[str, Any],
) -> None:
    """Our image everywhere; the StatsD exporter is the one third-party image, as pinned in
    versions.env (it is deployed as it is, not built here)."""
    listed = (ROOT / "images" / "list").read_text().split()
    images = {
        w["name"]: {c["image"] for c in [*w["initContainers"], *w["containers"]]}
        for w in render["workloads"]
    }
    statsd = images.pop("airflow-statsd")
    assert statsd == {VERSIONS["STATSD_EXPORTER_IMAGE"]}
    assert {i.split(":")[0] for s in images.values() for i in s} == {
        VALUES["images"]["airflow"]["repository"]
    }
    assert VALUES["images"]["airflow"]["repository"].split("/")[-1] in listed


def test_airflow_sends_its_metrics_to_a_scrapeable_statsd_exporter(render: dict[str, Any]) -> None:
    """Issue 26: scheduler, executor and pool metrics reach Prometheus; the exporter gets no
    API token (it needs none)."""
    objects = {(o["kind"], o["name"]) for o in render["objects"]}
    assert {("Deployment", "airflow-statsd"), ("Service", "airflow-statsd")} <= objects
    assert VALUES["statsd"]["enabled"] is True
    assert VALUES["statsd"]["serviceAccount"]["automountServiceAccountToken"] is False
    (container,) = _workload(render, "Deployment", "airflow-statsd")["containers"]
    assert "--statsd.mapping-config=/etc/statsd-exporter/mappings.yml" in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


# (6) Requests and limits on every Airflow container; the capacity figures add them up.


def test_every_airflow_container_has_requests_and_a_memory_limit(render: dict[str, Any]) -> None:
    for w in render["workloads"]:
        for c in [*w["initContainers"], *w["containers"]]:
            res = c["resources"] or {}
            assert {"cpu", "memory"} <= set(res.get("requests", {})), (w["name"], c["name"])
            assert "memory" in res.get("limits", {}), (w["name"], c["name"])


def _quantity(value: str) -> float:
    """CPU in cores, memory in MiB."""
    units = {"m": 1e-3, "Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    for unit, factor in units.items():
        if value.endswith(unit):
            return float(value[: -len(unit)]) * factor
    return float(value) / (1024 * 1024) if float(value) > 1000 else float(value)


def _pod_request(pod: dict[str, Any]) -> tuple[float, float]:
    """Kubernetes' effective request: the larger of the containers' sum and any init container."""

    def req(c: dict[str, Any], key: str) -> float:
        value = ((c.get("resources") or {}).get("requests") or {}).get(key)
        return _quantity(str(value)) if value else 0.0

    out = []
    for key in ("cpu", "memory"):
        total = sum(req(c, key) for c in pod["containers"])
        out.append(max([total, *(req(c, key) for c in pod.get("initContainers", []))]))
    return out[0], out[1]


# kind's node: the control plane's own requests (API server 250m, controller-manager 200m,
# scheduler 100m, etcd 100m/100 MiB, CoreDNS 2x 100m/70 MiB, kindnet 100m/50 MiB: 0.95 CPU) and
# the memory the node's processes use beyond requests (API server, etcd, kubelet, containerd).
KIND_CPU, KIND_MEMORY_MIB = 1.0, 1536.0


def test_the_documented_capacity_holds_every_request_with_full_pools() -> None:
    """Long-running pods of both charts, one run of each CronJob, and MDP_POOL_SLOTS step pods
    at the largest step request fit in versions.env's MIN_CPUS / MIN_MEMORY_GB
    (docs/kubernetes.md)."""
    docs = render_chart()
    cpu = mem = 0.0
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet"}:
            c, m = _pod_request(doc["spec"]["template"]["spec"])
            cpu, mem = (
                cpu + c * doc["spec"].get("replicas", 1),
                mem + m * doc["spec"].get("replicas", 1),
            )
    for _, pod in pod_specs([d for d in docs if d["kind"] == "CronJob"]):
        c, m = _pod_request(pod)
        cpu, mem = cpu + c, mem + m
    for w in RENDERS[0]["workloads"]:
        if w["kind"] != "Job":
            c, m = _pod_request(w)
            cpu, mem = cpu + c, mem + m
    sys.path.insert(0, str(ROOT / "dags"))
    from mdp_dags.config import RESOURCES

    slots = int(_env("MDP_POOL_SLOTS")["value"])
    steps = [RESOURCES[s] for s in ("validate", "transform", "load")]
    cpu += slots * max(_quantity(s["requests"]["cpu"]) for s in steps)
    mem += slots * max(_quantity(s["requests"]["memory"]) for s in steps)
    cpu, mem = cpu + KIND_CPU, mem + KIND_MEMORY_MIB
    print(f"requests with full pools: {cpu:.2f} CPU, {mem / 1024:.2f} GiB")
    assert cpu <= float(VERSIONS["MIN_CPUS"]), cpu
    assert mem <= float(VERSIONS["MIN_MEMORY_GB"]) * 1024, mem


# (7) Pod Security "restricted" for every pod of both charts (the namespace enforces it).


def test_the_restricted_check_catches_what_the_api_server_would_refuse() -> None:
    good = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "c",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        "volumes": [{"name": "v", "emptyDir": {}}],
    }
    assert restricted_violations(good) == []
    bad = json.loads(json.dumps(good))
    bad["securityContext"] = {"runAsUser": 50000, "fsGroup": 0}  # the chart's defaults
    bad["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    assert set(restricted_violations(bad)) == {
        "c: runAsNonRoot is not true",
        "c: seccompProfile None",
        "volume h: hostPath",
    }


def test_every_airflow_pod_meets_the_restricted_level(render: dict[str, Any]) -> None:
    for w in render["workloads"]:
        assert restricted_violations(w) == [], w["name"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_pod_of_our_chart_meets_the_restricted_level(value_set: str) -> None:
    for name, pod in pod_specs(render_chart(values_file=VALUE_SETS[value_set])):
        assert restricted_violations(pod) == [], name


# (8) One grant for launching step pods: our chart's Role, bound to the scheduler only.


def test_only_our_role_grants_pod_launching(render: dict[str, Any]) -> None:
    assert render["rbac"] == [], "the official chart creates no Role or RoleBinding"
    assert VALUES["allowPodLaunching"] is False
    ours = render_chart()
    (binding,) = by_kind(ours, "RoleBinding")
    scheduler = _workload(render, "StatefulSet", "airflow-scheduler")
    service_accounts = {o["name"] for o in render["objects"] if o["kind"] == "ServiceAccount"}
    subjects = {s["name"] for s in binding["subjects"]}
    assert subjects == {scheduler["serviceAccountName"]}
    assert subjects <= service_accounts
    (role,) = by_kind(ours, "Role")
    assert not any("pods/exec" in r["resources"] for r in role["rules"])


# (9) Datasets as configuration (issue 16): the DAGs read our chart's contracts ConfigMap.


def test_every_airflow_container_with_the_contracts_dir_has_the_contracts_mounted(
    render: dict[str, Any],
) -> None:
    """The official chart's global volumes reach every workload; MDP_CONTRACTS_DIR is where the
    values mount our chart's ConfigMap, read-only, and the step pods get the same ConfigMap."""
    contracts_dir = _env("MDP_CONTRACTS_DIR")["value"]
    (mount,) = VALUES["volumeMounts"]
    assert mount == {"name": "mdp-contracts", "mountPath": contracts_dir, "readOnly": True}
    (volume,) = VALUES["volumes"]
    sources = [s["configMap"]["name"] for s in volume["projected"]["sources"]]
    assert sources == _env("MDP_CONTRACTS_CONFIGMAP")["value"].split(",")
    ours = {d["metadata"]["name"] for d in by_kind(render_chart(), "ConfigMap")}
    assert set(sources) <= ours
    readers = [
        w
        for w in render["workloads"]
        if any("MDP_CONTRACTS_DIR" in c["env"] for c in [*w["initContainers"], *w["containers"]])
    ]
    assert {w["name"] for w in readers} >= {"airflow-scheduler", "airflow-dag-processor"}
    for w in readers:
        assert {"name": "mdp-contracts", "type": "projected"} in w["volumes"], w["name"]
