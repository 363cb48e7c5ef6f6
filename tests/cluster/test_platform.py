"""The whole platform on a real single-node Kubernetes (the local test cluster).

In order, as a user would meet it: both releases installed by ``make deploy`` (our chart, and
the official Airflow chart with ``charts/airflow/values.yaml``), the setup Job's work, the
Metabase provisioning Job, Pod Security ``restricted`` enforced, Airflow's components as pods,
the generator CronJob uploading files, the production DAGs in the scheduler pod launching the
real validator/transformer/loader images as pods that reach MinIO and PostgreSQL through cluster
DNS, an idle upload's latency, a step pod killed mid-run, a ``helm upgrade`` to a new image tag,
and a ``helm upgrade`` that adds a dataset declared only in values (and evolves it, and refuses
an unsafe change). test_resilience.py, test_user_journey.py and test_whole_run.py follow on the
same installation; the tests run in file order and print the figures the docs quote
(``[figure] ...`` lines).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mdp.generate.step import generate
from tests.cluster.airflow import CHART_ENV, COMPONENTS, Airflow, container_id
from tests.cluster.conftest import (
    NAMESPACE,
    ROOT,
    ClusterError,
    Installed,
    docker,
    helm_install,
    kind_load,
    wait_until,
)
from tests.test_third_dataset import (
    BATCH_1,
    BATCH_2,
    ORDERS_V1,
    ORDERS_V2,
    ORDERS_V3_TYPE_CHANGE,
)

# Real pods, a real scheduler of pods: minutes, not seconds, per test.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

STEP_SELECTOR = "app.kubernetes.io/name=mdp-step"


def _figure(name: str, value: float) -> None:
    print(f"\n[figure] {name}: {value:.1f} s", flush=True)


def _settled(installed: Installed, expected: int) -> bool:
    store = installed.store()
    done = list(store.list("archive/")) + [
        k for k in store.list("failed/") if not k.endswith(".error.json")
    ]
    return not list(store.list("incoming/")) and len(done) >= expected


def _audit(installed: Installed) -> list[tuple[Any, ...]]:
    with installed.warehouse() as conn:
        return conn.execute(
            "SELECT object_key, status, final_key, attempts FROM audit.file_ingestion_log"
            " ORDER BY object_key, id"
        ).fetchall()


def _count(installed: Installed, table: str) -> int:
    with installed.warehouse() as conn:
        row = conn.execute(f"SELECT count(*) FROM warehouse.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_chart_installs_with_wait_and_the_setup_job_did_its_work(installed: Installed) -> None:
    _figure("make deploy: both releases, first install, --wait", installed.install_seconds)
    cluster = installed.cluster
    for name in ("mdp-minio", "mdp-postgresql"):
        sts = cluster.json("-n", NAMESPACE, "get", "statefulset", name)
        assert sts["status"].get("readyReplicas") == 1, name
    # The setup Job (a post-install hook, deleted once it succeeded): bucket, prefixes, users,
    # policies, migrations.
    store = installed.store()
    assert store.client.bucket_exists("mdp")
    with installed.warehouse() as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM public.schema_migrations")]
    assert "001_roles_and_schemas.sql" in applied
    assert len(applied) >= 7


def test_the_provisioning_job_filled_metabase(installed: Installed) -> None:
    """The post-install hook Job ran `mdp metabase provision` against the Metabase Service (the
    fake stand-in): helm --wait waited for it, and the dashboards file is now in Metabase."""
    import httpx

    admin = installed.cluster.secret("mdp-metabase-admin")
    base = f"http://{installed.cluster.service_ip('mdp-metabase')}:3000"
    with httpx.Client(base_url=base, timeout=10) as http:
        session = http.post(
            "/api/session", json={"username": admin["email"], "password": admin["password"]}
        )
        session.raise_for_status()
        headers = {"X-Metabase-Session": session.json()["id"]}
        cards = http.get("/api/card", headers=headers).json()
        databases = http.get("/api/database", headers=headers).json()["data"]
    content = yaml.safe_load((ROOT / "metabase" / "dashboards.yaml").read_text())
    assert len(cards) == len(content["questions"])
    assert [d["details"]["user"] for d in databases] == ["mdp_readonly"]


def test_namespace_enforces_pod_security_restricted(installed: Installed) -> None:
    cluster = installed.cluster
    labels = cluster.json("get", "namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    # A pod that is fine anywhere else but asks for nothing: may run as root, keeps its
    # capabilities, no seccomp profile. The API server refuses it here.
    plain = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "not-allowed", "namespace": NAMESPACE},
        "spec": {"containers": [{"name": "c", "image": "mini-data-platform/loader:dev"}]},
    }
    with pytest.raises(ClusterError, match=re.escape('violates PodSecurity "restricted:v1.34"')):
        cluster.apply(plain)
    # Every pod that runs was admitted under "restricted", and runs under its declared limits:
    # kubelet put each container in a memory cgroup with exactly that limit.
    checked, cgroups = 0, cluster.memory_cgroups()
    for pod in cluster.pods():
        if pod["status"].get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            continue  # an old pod of a rolling update on its way out has no cgroups to read
        for container in pod["spec"]["containers"]:
            limit = container["resources"].get("limits", {}).get("memory")
            assert limit, (pod["metadata"]["name"], container["name"])
            assert cgroups[str(container_id(pod, container["name"]))]["limit"] == _bytes(limit)
            checked += 1
    assert checked >= 7  # MinIO, PostgreSQL, Metabase, Airflow's four components


def _bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def test_airflow_runs_as_pods_of_the_official_chart(installed: Installed, airflow: Airflow) -> None:
    """Issue 22: every Airflow component is a pod the official chart started, Ready (its probes
    pass), admitted under Pod Security restricted, each container with a memory limit; the
    migration Job migrated the database and created the pool; the scheduler starts step pods
    with its own ServiceAccount, which may manage pods and nothing more; no Airflow process
    runs outside the cluster's pods."""
    cluster = installed.cluster
    for component in COMPONENTS:
        pod = airflow.pod(component)
        name = pod["metadata"]["name"]
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert pod["status"]["phase"] == "Running" and ready["Ready"] == "True", name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["spec"]["containers"]:
            assert container["resources"]["limits"]["memory"], (name, container["name"])
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        image = pod["spec"]["containers"][0]["image"]
        assert image.endswith("mini-data-platform/airflow:dev"), (name, image)
    # The pool the DAGs' step tasks take slots of, created by the migration Job.
    pool = json.loads(airflow.cli("pools", "get", CHART_ENV["MDP_POOL"], "-o", "json"))
    assert [(p["pool"], int(p["slots"])) for p in pool] == [
        (CHART_ENV["MDP_POOL"], int(CHART_ENV["MDP_POOL_SLOTS"]))
    ]
    assert airflow.metadata("SELECT count(*) FROM alembic_version") == [(1,)]
    # The scheduler's identity and what it may do (our chart's pod-launcher Role).
    scheduler = airflow.pod("scheduler")
    assert scheduler["spec"]["serviceAccountName"] == "airflow-scheduler"
    who = f"system:serviceaccount:{NAMESPACE}:airflow-scheduler"

    def can(verb: str, resource: str, *more: str) -> str:
        return cluster.kubectl(
            "auth", "can-i", verb, resource, "-n", NAMESPACE, "--as", who, *more, check=False
        ).strip()

    assert can("create", "pods") == "yes"
    assert can("delete", "pods") == "yes"
    assert can("get", "pods", "--subresource=log") == "yes"
    assert can("create", "pods", "--subresource=exec") == "no"
    assert can("get", "secrets") == "no"
    assert can("create", "pods", "--namespace=default") == "no"
    # Every Airflow process on this machine lives in a pod's cgroup (the kubelet's kubepods).
    outside = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cgroup = (proc / "cgroup").read_text()
        except (OSError, ValueError):
            continue
        if "airflow " in cmdline and "kubepods" not in cgroup:
            outside.append(cmdline)
    assert outside == []
    # The contracts ConfigMap, mounted by the kubelet in the scheduler (the dispatcher reads it).
    cm = cluster.json("-n", NAMESPACE, "get", "configmap", "mdp-contracts")["data"]
    assert airflow.contracts_seen_by_scheduler() == cm


def test_generator_cronjob_uploads_files(installed: Installed) -> None:
    cluster = installed.cluster
    started = time.monotonic()
    for dataset in ("sales", "youtube"):
        cluster.kubectl(
            "-n", NAMESPACE, "create", "job", f"gen-{dataset}",
            f"--from=cronjob/mdp-generator-{dataset}",
        )  # fmt: skip
    for dataset in ("sales", "youtube"):
        cluster.kubectl(
            "-n", NAMESPACE, "wait", "--for=condition=complete", f"job/gen-{dataset}",
            "--timeout=300s", timeout=330,
        )  # fmt: skip
    _figure("generator Jobs (2 datasets x 3 files)", time.monotonic() - started)


def test_ingest_runs_the_real_step_images_as_pods_launched_by_airflow_in_the_cluster(
    installed: Installed, airflow: Airflow
) -> None:
    store = installed.store()
    # One file known to be broken, next to what the generator wrote (the events may already
    # have started some of those: count them wherever they are).
    store.put_bytes("incoming/sales/broken.csv", b"sale_id,quantity\nx,1\n", "text/csv")
    expected = 3 + 3 + 1
    assert airflow.sampler is not None
    with airflow.sampler.counting_requests():
        seconds = airflow.wait_for(
            "every file archived or quarantined", lambda: _settled(installed, expected), 900
        )
    _figure(f"{expected} files from upload to archive/ or failed/ (Airflow in pods)", seconds)

    archived = sorted(store.list("archive/"))
    failed = sorted(k for k in store.list("failed/") if not k.endswith(".error.json"))
    assert "failed/validation_failed/sales/broken.csv" in failed
    assert len(archived) + len(failed) == expected, (archived, failed)
    # The audit log agrees with where every file is.
    rows = _audit(installed)
    assert len(rows) == expected
    by_final = {final: status for _, status, final, _ in rows}
    for key in archived:
        assert by_final[key] in {"loaded", "duplicate"}, key
    for key in failed:
        assert by_final[key] == "validation_failed", key
    assert _count(installed, "sales") > 0
    assert _count(installed, "video_snapshots") > 0

    # One mdp_ingest_file run per object version, each finished (its last task, after the file
    # is in place, may still be running for a moment).
    def runs() -> list[tuple[str, str]]:
        sql = "SELECT run_id, state FROM dag_run WHERE dag_id = 'mdp_ingest_file'"
        return [(str(run), str(state)) for run, state in airflow.metadata(sql)]

    airflow.wait_for("every file run finished", lambda: {s for _, s in runs()} == {"success"}, 120)
    assert len(runs()) == expected, runs()
    # The pods were real: created through the API server by the scheduler pod, run by the
    # kubelet, deleted when done.
    wait_until("step pods deleted", lambda: installed.cluster.pods(STEP_SELECTOR) == [], 120)
    names = {e["involvedObject"]["name"] for e in installed.cluster.events(NAMESPACE)}
    assert any(name.startswith("mdp-validate-") for name in names)
    assert any(name.startswith("mdp-load-") for name in names)


def test_an_idle_platform_archives_a_small_file_within_seconds(
    installed: Installed, airflow: Airflow
) -> None:
    """Upload -> archived for one small file on an idle platform, 5 times (median reported)."""
    store = installed.store()
    body = (ROOT / "tests" / "cluster" / "small-sales.csv").read_bytes()
    times = []
    for i in range(5):
        key = f"incoming/sales/idle-{i}.csv"
        store.put_bytes(key, body.replace(b"IDLE", f"IDLE{i}".encode()), "text/csv")

        def archived(key: str = key) -> bool:
            return any(r[0] == key and r[2] for r in _audit(installed))

        times.append(airflow.wait_for(f"{key} archived", archived, 300))
    _figure("idle platform: upload -> archived, median of 5", statistics.median(times))
    print(f"[figure] idle upload -> archived, all 5: {[round(t, 1) for t in times]}", flush=True)
    assert all(status == "loaded" for key, status, _, _ in _audit(installed) if "idle-" in key)


@pytest.fixture
def big_sales_file(installed: Installed, tmp_path: Path) -> Iterator[str]:
    store = installed.store()
    manifest = generate(
        store,
        "sales",
        files=1,
        rows=400_000,  # its load runs for several seconds: long enough to be killed mid-work
        fmt="csv",
        bad_fraction=0.0,
        seed=12,
        now=datetime(2026, 11, 1, tzinfo=UTC),
        scratch_dir=tmp_path,
    )
    yield manifest[0].key


def _running_for(pod: dict[str, Any]) -> float:
    """Seconds the pod's container has been running (0 when it is not running)."""
    statuses = pod["status"].get("containerStatuses") or [{}]
    started = statuses[0].get("state", {}).get("running", {}).get("startedAt")
    if not started:
        return 0.0
    return (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()


def _kill_first_running(
    installed: Installed, key: str, steps: tuple[str, ...], timeout: float
) -> str:
    """Force-delete the first step pod of ``steps`` for the object ``key`` as soon as its
    container runs (``startedAt`` has whole seconds: 0-1 s in), never near its end, when the
    step may already have exited and the operator read its result. Only that file's pod:
    another file's step may be running at the same time."""
    cluster = installed.cluster
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in cluster.pods(STEP_SELECTOR):
            step = pod["metadata"]["labels"].get("mdp.dev/step")
            of_key = pod["metadata"].get("annotations", {}).get("mdp.dev/object-key") == key
            if of_key and step in steps and _running_for(pod) >= 1:
                name = pod["metadata"]["name"]
                cluster.kubectl(
                    "-n", NAMESPACE, "delete", "pod", name, "--grace-period=0", "--force"
                )
                return str(step)
        time.sleep(0.3)
    raise AssertionError(f"no {steps} pod was seen running within {timeout:.0f} s")


def test_a_step_pod_killed_mid_run_is_retried_and_the_file_loads_once(
    installed: Installed, airflow: Airflow, big_sales_file: str
) -> None:
    before = _count(installed, "sales")
    killed = _kill_first_running(installed, big_sales_file, ("load",), timeout=600)

    def loaded() -> bool:
        return any(r[0] == big_sales_file and r[1] == "loaded" and r[2] for r in _audit(installed))

    airflow.wait_for("the big file loaded after the kill", loaded, 900)

    def tries() -> dict[str, tuple[int, str | None]]:
        found = airflow.metadata(
            "SELECT ti.task_id, ti.try_number, ti.state FROM task_instance ti JOIN dag_run r"
            " ON r.dag_id = ti.dag_id AND r.run_id = ti.run_id"
            " WHERE ti.dag_id = 'mdp_ingest_file' AND r.conf::jsonb ->> 'key' = %s",
            big_sales_file,
        )
        return {str(task): (int(number), state) for task, number, state in found}

    # The kill may land after the step's work was done (the audit row already says loaded) while
    # its try is still running: that try fails all the same, and the next one finds the file
    # loaded. So the task's end is what counts, not the audit row's.
    airflow.wait_for(f"the {killed} task ended", lambda: tries()[killed][1] == "success", 600)
    assert tries()[killed][0] >= 2, tries()  # the killed try was retried
    rows = [r for r in _audit(installed) if r[0] == big_sales_file]
    assert [(r[1], r[2] is not None) for r in rows] == [("loaded", True)]
    with installed.warehouse() as conn:
        inserted = conn.execute(
            "SELECT rows_inserted FROM audit.file_ingestion_log WHERE object_key = %s",
            (big_sales_file,),
        ).fetchone()
    assert inserted is not None
    assert _count(installed, "sales") == before + int(inserted[0])


def test_helm_upgrade_to_a_new_image_tag_keeps_data_and_secrets(installed: Installed) -> None:
    cluster = installed.cluster
    names = ("mdp-minio-root", "mdp-postgres-owner", "mdp-postgres-pipeline", "mdp-airflow-keys")
    secrets = {name: cluster.secret(name) for name in names}
    rows, objects = _count(installed, "sales"), sorted(installed.store().list("archive/"))
    # Every image our chart's pods run (images/list, Airflow's aside) gets the new tag and goes
    # into the node as `make cluster-up` puts images there.
    listed = [line.split("#")[0].strip() for line in (ROOT / "images" / "list").open()]
    retagged = [f"mini-data-platform/{name}:dev2" for name in listed if name not in ("", "airflow")]
    for image in retagged:
        docker("tag", image.replace(":dev2", ":dev"), image)
    kind_load(cluster, *retagged)
    seconds = helm_install(
        cluster, "--set", "images.steps.tag=dev2", "--set", "images.minio.tag=dev2"
    )
    _figure("helm upgrade --wait to a new image tag", seconds)
    for name in ("mdp-minio", "mdp-postgresql"):
        sts = cluster.json("-n", NAMESPACE, "get", "statefulset", name)
        assert sts["status"].get("readyReplicas") == 1, name
    minio_pod = cluster.json("-n", NAMESPACE, "get", "pod", "mdp-minio-0")
    assert minio_pod["spec"]["containers"][0]["image"].endswith("minio:dev2")
    wait_until("MinIO answers after the roll", lambda: installed.store().exists(objects[0]), 120)
    assert {name: cluster.secret(name) for name in secrets} == secrets
    assert _count(installed, "sales") == rows
    assert sorted(installed.store().list("archive/")) == objects


def _orders_columns(installed: Installed) -> dict[str, str]:
    with installed.warehouse() as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'warehouse' AND table_name = 'orders'"
        ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def _orders_audit(installed: Installed, key: str) -> list[tuple[Any, ...]]:
    with installed.warehouse() as conn:
        return conn.execute(
            "SELECT status, contract_name, contract_version, final_key"
            " FROM audit.file_ingestion_log WHERE object_key = %s",
            (key,),
        ).fetchall()


def test_helm_upgrade_adds_a_dataset_from_values_and_its_files_flow_with_no_new_image(
    installed: Installed, airflow: Airflow, tmp_path: Path
) -> None:
    """Issue 16: a third dataset declared only in a values file. `helm upgrade --set-file`
    checks it before anything changes, then the setup Job creates its prefix and table; the
    kubelet refreshes the contracts ConfigMap inside the Airflow pods, the running DAGs pick the
    dataset up from there and the real step images load its file. A version 2 adds a nullable
    column; a version 3 that changes a type fails the upgrade and changes nothing."""
    cluster, store = installed.cluster, installed.store()

    def upgrade(name: str, text: str) -> float:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return helm_install(
            cluster, "--reuse-values", "--set-file", f"contracts.files.{name}={path}"
        )

    def flow(name: str, key: str, body: str) -> None:
        seconds = airflow.wait_for(
            f"{name}.yaml refreshed in the scheduler pod",
            lambda: f"{name}.yaml" in airflow.contracts_seen_by_scheduler(),
            300,
        )
        _figure(f"ConfigMap change ({name}.yaml) visible inside the scheduler pod", seconds)
        store.put_bytes(key, body.encode(), "text/csv")
        airflow.wait_for(
            f"{key} archived", lambda: any(r[3] for r in _orders_audit(installed, key)), 600
        )

    # v1: declared in values; checked, then prefix and table created by the setup Job.
    _figure("helm upgrade adding a dataset (check, setup, migrate)", upgrade("orders", ORDERS_V1))
    cm = cluster.json("-n", NAMESPACE, "get", "configmap", "mdp-contracts")
    assert cm["data"]["orders.yaml"] == ORDERS_V1
    assert store.exists("incoming/orders/")
    assert "coupon" not in _orders_columns(installed) and "order_id" in _orders_columns(installed)
    key1 = "incoming/orders/batch-1.csv"
    flow("orders", key1, BATCH_1)
    ((status, name, version, final_key),) = _orders_audit(installed, key1)
    assert (status, name, version) == ("loaded", "orders", 1)
    assert final_key.startswith("archive/orders/")
    with installed.warehouse() as conn:
        rows = conn.execute("SELECT order_id, status FROM warehouse.orders ORDER BY 1").fetchall()
    assert rows == [("O1", "paid"), ("O2", "placed")]  # bad rows rejected, newest O1 won

    # v2: a new nullable column, added by the upgrade's migrate; the next file fills it.
    upgrade("orders_v2", ORDERS_V2)
    assert _orders_columns(installed)["coupon"] == "text"
    key2 = "incoming/orders/batch-2.csv"
    flow("orders_v2", key2, BATCH_2)
    assert [r[:3] for r in _orders_audit(installed, key2)] == [("loaded", "orders", 2)]
    with installed.warehouse() as conn:
        coupon = conn.execute(
            "SELECT coupon FROM warehouse.orders WHERE order_id = 'O1'"
        ).fetchone()
    assert coupon == ("WELCOME10",)

    # v3: a type change. The pre-upgrade check fails the upgrade; nothing of the release changed.
    columns = _orders_columns(installed)
    with pytest.raises(ClusterError, match="contracts-check") as refused:
        upgrade("orders_v3", ORDERS_V3_TYPE_CHANGE)
    print("\n[helm says] " + "\n".join(str(refused.value).splitlines()[:4]), flush=True)
    # The check container failed (exit 2); the dry run never started.
    log = cluster.kubectl("-n", NAMESPACE, "logs", "job/mdp-contracts-check", "-c", "check")
    assert "orders_v3.yaml: (document): unsafe change from version 2" in log, log
    cm = cluster.json("-n", NAMESPACE, "get", "configmap", "mdp-contracts")
    assert "orders_v3.yaml" not in cm["data"]
    assert _orders_columns(installed) == columns
