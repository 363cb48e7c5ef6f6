"""Platform faults and an Airflow upgrade while files are in flight, on the installation of
test_platform.py (issue 22); marked ``faults`` so that ``make test-cluster CLUSTER_TESTS='-m "not
faults"'`` can leave them out.

Each test uploads a burst of small, valid sales files, waits until step pods run, then deletes
one of the platform's own pods (the scheduler, the triggerer, MinIO, PostgreSQL with its volume
kept) or upgrades the Airflow release to an image with a changed DAG. Afterwards every file of
the burst is in exactly one place under ``archive/`` or ``failed/<stage>/``, with exactly one
audit row and at most one successful load, and nothing is left in ``incoming/``. The time the
component took to come back and the burst to settle are printed as figures.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mdp.generate.step import generate
from tests.cluster.airflow import Airflow, selector
from tests.cluster.conftest import (
    AIRFLOW_CHART,
    AIRFLOW_VALUES,
    NAMESPACE,
    ROOT,
    Installed,
)

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.timeout(2400)]

BURST = 20
STEP_SELECTOR = "app.kubernetes.io/name=mdp-step"
# The pod each fault deletes, by a selector that also finds its replacement.
VICTIMS = {
    "scheduler": selector("scheduler"),
    "triggerer": selector("triggerer"),
    "minio": "statefulset.kubernetes.io/pod-name=mdp-minio-0",
    "postgresql": "statefulset.kubernetes.io/pod-name=mdp-postgresql-0",
}


def _figure(name: str, value: float) -> None:
    print(f"\n[figure] {name}: {value:.1f} s", flush=True)


def _burst(installed: Installed, tmp_path: Path, seed: int) -> list[str]:
    manifest = generate(
        installed.store(),
        "sales",
        files=BURST,
        rows=200,
        fmt="csv",
        bad_fraction=0.0,
        seed=seed,
        now=datetime(2026, 11, 2, tzinfo=UTC),
        scratch_dir=tmp_path,
    )
    return [f.key for f in manifest]


def _audit_of(installed: Installed, keys: list[str]) -> dict[str, list[tuple[str, str | None]]]:
    with installed.warehouse() as conn:
        rows = conn.execute(
            "SELECT object_key, status, final_key FROM audit.file_ingestion_log"
            " WHERE object_key = ANY(%s) ORDER BY id",
            (keys,),
        ).fetchall()
    found: dict[str, list[tuple[str, str | None]]] = {key: [] for key in keys}
    for key, status, final in rows:
        found[key].append((status, final))
    return found


def _settled(installed: Installed, keys: list[str]) -> bool:
    audit = _audit_of(installed, keys)
    return all(rows and rows[-1][1] for rows in audit.values())


def _assert_each_file_once(installed: Installed, keys: list[str]) -> None:
    store = installed.store()
    audit = _audit_of(installed, keys)
    incoming = set(store.list("incoming/sales/"))
    for key in keys:
        assert len(audit[key]) == 1, (key, audit[key])  # one audit row: never processed twice
        ((status, final),) = audit[key]
        assert status == "loaded", (key, status)
        assert final is not None and final.startswith("archive/sales/"), (key, final)
        assert store.exists(final), final
        assert key not in incoming, key


def _wait_mid_burst(installed: Installed, airflow: Airflow) -> None:
    def running() -> bool:
        pods = installed.cluster.pods(STEP_SELECTOR)
        return any(p["status"].get("phase") == "Running" for p in pods)

    airflow.wait_for("a step pod of the burst running", running, 600)


def _ready_pod_uid(installed: Installed, pod_selector: str) -> str | None:
    for pod in installed.cluster.pods(pod_selector):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        if conditions.get("Ready") == "True":
            return str(pod["metadata"]["uid"])
    return None


@pytest.mark.parametrize("victim", list(VICTIMS))
def test_a_platform_pod_deleted_mid_burst_loses_no_file_and_loads_none_twice(
    installed: Installed, airflow: Airflow, tmp_path: Path, victim: str
) -> None:
    assert airflow.sampler is not None
    with airflow.sampler.counting_requests():
        _fault_mid_burst(installed, airflow, tmp_path, victim)


def _fault_mid_burst(installed: Installed, airflow: Airflow, tmp_path: Path, victim: str) -> None:
    pod_selector = VICTIMS[victim]
    keys = _burst(installed, tmp_path, seed=100 + list(VICTIMS).index(victim))
    _wait_mid_burst(installed, airflow)
    (pod,) = installed.cluster.pods(pod_selector)
    old_uid = pod["metadata"]["uid"]
    started = time.monotonic()
    installed.cluster.kubectl("-n", NAMESPACE, "delete", "pod", pod["metadata"]["name"])

    def replaced() -> bool:
        uid = _ready_pod_uid(installed, pod_selector)
        return uid is not None and uid != old_uid

    airflow.wait_for(f"a new {victim} pod Ready", replaced, 600)
    _figure(f"{victim} pod deleted mid-burst: back (Ready)", time.monotonic() - started)
    airflow.wait_for(f"the burst of {BURST} settled", lambda: _settled(installed, keys), 1500)
    _figure(f"{victim} pod deleted mid-burst: {BURST} files settled", time.monotonic() - started)
    _assert_each_file_once(installed, keys)


def test_an_airflow_upgrade_in_flight_loses_no_run_and_the_next_runs_use_the_new_dag(
    installed: Installed, airflow: Airflow, tmp_path: Path
) -> None:
    """`helm upgrade` of the Airflow release to an image whose mdp_ingest_file has a new tag
    (tests/cluster/upgrade/Dockerfile), as `make deploy` runs it, while a burst is in flight."""
    cluster = installed.cluster
    keys = _burst(installed, tmp_path, seed=200)
    _wait_mid_burst(installed, airflow)
    started = time.monotonic()
    cluster.kubectl(
        "-n", NAMESPACE, "delete", "job", "-l", selector("run-airflow-migrations"),
        "--ignore-not-found",
    )  # fmt: skip
    cluster.helm(
        "upgrade", "--install", "airflow", str(AIRFLOW_CHART), "--namespace", NAMESPACE,
        "--wait", "--timeout", "15m",
        "--values", str(ROOT / "charts" / "airflow" / "values.yaml"),
        "--values", str(AIRFLOW_VALUES),
        "--set", "images.airflow.tag=dev-upgraded",
    )  # fmt: skip
    _figure("helm upgrade of the Airflow release, in flight (--wait)", time.monotonic() - started)
    for component in ("scheduler", "dag-processor", "triggerer", "api-server"):
        image = airflow.pod(component)["spec"]["containers"][0]["image"]
        assert image.endswith("airflow:dev-upgraded"), (component, image)
    airflow.wait_for(f"the burst of {BURST} settled", lambda: _settled(installed, keys), 1500)
    _figure(f"Airflow upgrade in flight: {BURST} files settled", time.monotonic() - started)
    _assert_each_file_once(installed, keys)

    def runs() -> list[tuple[str, str]]:
        found = airflow.metadata(
            "SELECT conf::jsonb ->> 'key', state FROM dag_run WHERE dag_id = 'mdp_ingest_file'"
            " AND conf::jsonb ->> 'key' = ANY(%s)",
            keys,
        )
        return sorted((str(key), str(state)) for key, state in found)

    # One run per file, each finished (a run's last task may still run once its file is placed).
    wanted = sorted((key, "success") for key in keys)
    airflow.wait_for("every run of the burst finished", lambda: runs() == wanted, 180)

    # The new DAG code is what runs next: parsed by the new dag-processor, used by a new file.
    def tagged() -> bool:
        tags = airflow.metadata("SELECT name FROM dag_tag WHERE dag_id = 'mdp_ingest_file'")
        return ("upgraded",) in tags

    airflow.wait_for("the changed DAG parsed", tagged, 300)
    key = "incoming/sales/after-upgrade.csv"
    body = (ROOT / "tests" / "cluster" / "small-sales.csv").read_bytes()
    installed.store().put_bytes(key, body.replace(b"IDLE", b"UPG"), "text/csv")
    airflow.wait_for(f"{key} settled", lambda: _settled(installed, [key]), 600)
    _assert_each_file_once(installed, [key])
    ((serialized,),) = airflow.metadata(
        "SELECT s.data::text FROM dag_run r JOIN serialized_dag s"
        " ON s.dag_version_id = r.created_dag_version_id"
        " WHERE r.dag_id = 'mdp_ingest_file' AND r.conf::jsonb ->> 'key' = %s",
        key,
    )
    assert '"upgraded"' in serialized
