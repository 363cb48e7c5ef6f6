"""The production DAGs end to end: Airflow ``dag.test()`` -> test Kubernetes API -> the step
CLIs as local processes -> real MinIO and PostgreSQL.

Every test runs the DAG files unmodified; the pods Airflow asked for are inspected through the
test API's record of them. Retries are shortened through the DAGs' own ``MDP_RETRIES`` /
``MDP_RETRY_DELAY_SECONDS`` settings (2 retries, 1 s), not by changing the DAGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CONTRACTS, NAMESPACE, Platform
from tests.support.samples import sales_row, sales_rows, to_csv, to_jsonl, youtube_row

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SALES = to_csv(sales_rows(20))
YOUTUBE = to_jsonl([youtube_row(i) for i in range(1, 6)])
BROKEN = to_csv([sales_row(i, quantity="many") for i in range(1, 4)])


def _audit(platform: Platform) -> list[tuple[Any, ...]]:
    with platform.database.connect() as conn:
        return conn.execute(
            "SELECT object_key, status, final_key IS NOT NULL, attempts"
            " FROM audit.file_ingestion_log ORDER BY object_key, id"
        ).fetchall()


def _count(platform: Platform, table: str) -> int:
    with platform.database.connect() as conn:
        row = conn.execute(f"SELECT count(*) FROM warehouse.{table}").fetchone()
    assert row is not None
    return int(row[0])


def test_ingest_loads_good_files_quarantines_bad_ones_and_loads_duplicates_once(
    platform: Platform,
) -> None:
    platform.put("incoming/sales/day1.csv", SALES)
    platform.put("incoming/youtube/snap1.jsonl", YOUTUBE)
    platform.put("incoming/sales/broken.csv", BROKEN)

    run = platform.ingest()

    assert run.dispatch.state == "success", run.output[-5000:]
    assert "sweep: 3 file(s) in incoming/, 3 run(s) created, 0 already had one" in run.output
    # One run per file, its run id derived from the object version.
    assert run.run_states() == {
        "incoming/sales/broken.csv": "success",
        "incoming/sales/day1.csv": "success",
        "incoming/youtube/snap1.jsonl": "success",
    }
    for key, file_run in run.by_key().items():
        dataset, name = key.split("/")[1:]
        assert file_run.run_id.startswith(f"{dataset}__{name}__"), file_run.run_id
        assert file_run.conf["dataset"] == dataset
    # Good files: archived, rows in the warehouse, audit says loaded.
    assert platform.keys("incoming/") == []
    archived = platform.keys("archive/")
    assert [k.rsplit("/", 1)[-1] for k in archived] == ["day1.csv", "snap1.jsonl"]
    assert _count(platform, "sales") == 20
    assert _count(platform, "video_snapshots") == 5
    assert _count(platform, "channel_stats") == 1
    assert _audit(platform) == [
        ("incoming/sales/broken.csv", "validation_failed", True, 1),
        ("incoming/sales/day1.csv", "loaded", True, 1),
        ("incoming/youtube/snap1.jsonl", "loaded", True, 1),
    ]
    # The broken file: quarantined with its report, its validate task skipped after one try.
    assert platform.keys("failed/") == [
        "failed/validation_failed/sales/broken.csv",
        "failed/validation_failed/sales/broken.csv.error.json",
    ]
    assert run.states("validate") == ["skipped", "success", "success"]
    assert run.tries("validate") == [1, 1, 1]
    assert run.states("load") == ["skipped", "success", "success"]
    assert run.states("summary") == ["success"] * 3
    # Each file's summary is in its run's task log.
    assert "accepted 1, duplicate 0, rejected 0, failed 0, unfinished 0" in run.output
    assert "accepted 0, duplicate 0, rejected 1, failed 0, unfinished 0" in run.output
    assert "rows loaded 20 (inserted 20, updated 0)" in run.output
    assert "rows loaded 5 (inserted 5, updated 0)" in run.output

    _assert_pods(platform)

    # The same bytes again, under the same name and under a new one: archived, not loaded twice.
    platform.put("incoming/sales/day1.csv", SALES)
    platform.put("incoming/sales/day1-copy.csv", SALES)
    again = platform.ingest()

    assert again.run_states() == {
        "incoming/sales/day1-copy.csv": "success",
        "incoming/sales/day1.csv": "success",
    }
    # A new upload under an old name is a new version: a new run id.
    assert again.by_key()["incoming/sales/day1.csv"].run_id != (
        run.by_key()["incoming/sales/day1.csv"].run_id
    )
    assert platform.keys("incoming/") == []
    assert _count(platform, "sales") == 20
    assert _audit(platform) == [
        ("incoming/sales/broken.csv", "validation_failed", True, 1),
        ("incoming/sales/day1-copy.csv", "duplicate", True, 1),
        ("incoming/sales/day1.csv", "loaded", True, 1),
        ("incoming/sales/day1.csv", "duplicate", True, 1),
        ("incoming/youtube/snap1.jsonl", "loaded", True, 1),
    ]
    assert again.output.count("accepted 0, duplicate 1, rejected 0") == 2
    assert "rows loaded 20" not in again.output


def test_a_file_seen_twice_gets_one_run(platform: Platform) -> None:
    """Two sweeps (or an event and a sweep) over the same object version: one run, the second
    dispatch is refused by Airflow's run-id uniqueness."""
    platform.put("incoming/sales/day1.csv", SALES)

    first = platform.run_dag("mdp_ingest")
    second = platform.run_dag("mdp_ingest")

    assert (first.state, second.state) == ("success", "success")
    assert "sweep: 1 file(s) in incoming/, 1 run(s) created, 0 already had one" in first.output
    assert "sweep: 1 file(s) in incoming/, 0 run(s) created, 1 already had one" in second.output
    assert platform.kube.cluster.created_pods() == [], "the dispatcher starts no pod"


def test_a_file_gone_before_its_run_is_reported_not_hidden(platform: Platform) -> None:
    platform.put("incoming/sales/day1.csv", SALES)
    assert platform.run_dag("mdp_ingest").state == "success"  # its run is queued
    platform.store.delete("incoming/sales/day1.csv")  # ... and the object deleted meanwhile

    run = platform.ingest()

    (file_run,) = run.files
    assert file_run.state == "failed"
    assert file_run.states("validate") == ["failed"]
    assert file_run.tries("validate") == [1], "a missing object is terminal: no retry"
    assert file_run.states("watcher") == ["failed"]
    # The step's own error line is the task's failure, not the pod object.
    assert "validate failed (exit 4): ObjectMissingError: no object incoming/sales/day1.csv" in (
        run.output
    )
    assert "remote_pod:" not in run.output
    # The summary counts the file although the audit log never saw it.
    assert "1 file(s)" in run.output
    assert "accepted 0, duplicate 0, rejected 0, failed 1, unfinished 0" in run.output
    assert "not_recorded" in run.output
    assert "failed before its first step recorded it" in run.output


def _assert_pods(platform: Platform) -> None:
    """What the operator asked Kubernetes for, as the test API recorded it."""
    cluster = platform.kube.cluster
    pods = cluster.created_pods()
    steps = sorted(p["metadata"]["labels"]["mdp.dev/step"] for p in pods)
    assert steps == ["load"] * 2 + ["summary"] * 3 + ["transform"] * 2 + ["validate"] * 3
    assert cluster.pods == {}, "every pod is deleted when its task finishes"
    tag = platform.env["MDP_IMAGE_TAG"]
    images = {"validate": "validator", "transform": "transformer", "load": "loader"}
    for pod in pods:
        meta, spec = pod["metadata"], pod["spec"]
        step = meta["labels"]["mdp.dev/step"]
        assert meta["namespace"] == NAMESPACE
        assert spec["serviceAccountName"] == "mdp-pipeline"
        assert spec["automountServiceAccountToken"] is False
        assert spec["restartPolicy"] == "Never"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        (container,) = spec["containers"]
        assert container["image"] == f"mini-data-platform/{images.get(step, 'loader')}:{tag}"
        assert container["command"] == ["mdp"]
        assert container["args"][0] == step
        assert "--run-id" in container["args"]
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]
        assert container["resources"]["requests"]["cpu"]
        secret_refs = {
            e["name"]: (
                e["valueFrom"]["secretKeyRef"]["name"],
                e["valueFrom"]["secretKeyRef"]["key"],
            )
            for e in container["env"]
            if "valueFrom" in e
        }
        assert secret_refs == {
            "S3__ACCESS_KEY": ("mdp-minio-pipeline", "access-key"),
            "S3__SECRET_KEY": ("mdp-minio-pipeline", "secret-key"),
            "PG__USER": ("mdp-postgres-pipeline", "username"),
            "PG__PASSWORD": ("mdp-postgres-pipeline", "password"),
        }
        literal = [e for e in container["env"] if "value" in e]
        assert literal == [{"name": "CONTRACTS__DIR", "value": "/etc/mdp/contracts"}], (
            "no literal values in env but where the contracts are"
        )
        assert container["envFrom"] == [{"configMapRef": {"name": "mdp-pipeline"}}]
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        assert mounts["contracts"] == {
            "name": "contracts",
            "mountPath": "/etc/mdp/contracts",
            "readOnly": True,
        }
        (contracts,) = [v for v in spec["volumes"] if v["name"] == "contracts"]
        assert contracts["projected"]["sources"] == [{"configMap": {"name": "mdp-contracts"}}]
    # Each step process saw the repository's contracts where CONTRACTS__DIR pointed.
    expected = {p.name: p.read_text() for p in CONTRACTS.glob("*.yaml")}
    for step_run in cluster.runs():
        seen = Path(step_run.env["CONTRACTS__DIR"])
        assert {p.name: p.read_text() for p in seen.glob("*.yaml")} == expected
        if step != "summary":
            assert meta["labels"]["mdp.dev/dataset"] in {"sales", "youtube"}
            assert meta["labels"]["mdp.dev/file"] in {"day1.csv", "snap1.jsonl", "broken.csv"}
            assert meta["annotations"]["mdp.dev/object-key"].startswith("incoming/")
        if step in {"transform", "load"}:
            args = container["args"]
            assert args[args.index("--attempt") + 1] == "1"
            assert args[args.index("--max-attempts") + 1] == "3"


def test_load_refused_by_postgres_is_retried_then_quarantined_then_reprocessed(
    platform: Platform,
) -> None:
    with platform.database.connect(autocommit=True) as conn:
        conn.execute("REVOKE INSERT, UPDATE ON warehouse.sales FROM mdp_loader")
    platform.put("incoming/sales/day1.csv", SALES)

    run = platform.ingest()

    assert run.run_states() == {"incoming/sales/day1.csv": "success"}, run.output[-5000:]
    assert run.tries("load") == [3], "two retries, then quarantined on the last try"
    assert run.states("load") == ["skipped"]
    assert platform.keys("failed/") == [
        "failed/loading_failed/sales/day1.csv",
        "failed/loading_failed/sales/day1.csv.error.json",
    ]
    assert _audit(platform) == [("incoming/sales/day1.csv", "loading_failed", True, 1)]
    assert _count(platform, "sales") == 0
    assert "permission denied" in run.output
    assert "failed 1" in run.output
    load_pods = platform.kube.cluster.created_pods(**{"mdp.dev/step": "load"})
    assert len(load_pods) == 3

    # Fix the cause, then send the file back through.
    with platform.database.connect(autocommit=True) as conn:
        conn.execute("GRANT INSERT, UPDATE ON warehouse.sales TO mdp_loader")
    again = platform.run_dag(
        "mdp_reprocess", {"keys": ["failed/loading_failed/sales/day1.csv"], "prefix": ""}
    )

    assert again.state == "success", again.output[-5000:]
    assert platform.keys("failed/") == []
    assert platform.keys("incoming/") == []
    assert [k.rsplit("/", 1)[-1] for k in platform.keys("archive/")] == ["day1.csv"]
    assert _count(platform, "sales") == 20
    assert _audit(platform) == [("incoming/sales/day1.csv", "loaded", True, 2)]
    with platform.database.connect() as conn:
        requests = conn.execute(
            "SELECT failed_key, previous_status, run_id FROM audit.file_reprocessing"
        ).fetchall()
    assert requests == [("failed/loading_failed/sales/day1.csv", "loading_failed", again.run_id)]


def test_reprocess_brings_a_fixed_file_from_failed_to_archive(platform: Platform) -> None:
    platform.put("incoming/sales/broken.csv", BROKEN)
    first = platform.ingest()
    assert first.run_states() == {"incoming/sales/broken.csv": "success"}, first.output[-5000:]
    assert "failed/validation_failed/sales/broken.csv" in platform.keys("failed/")

    platform.put("failed/validation_failed/sales/broken.csv", to_csv(sales_rows(3)))  # fixed
    run = platform.run_dag("mdp_reprocess", {"keys": [], "prefix": "failed/validation_failed/"})

    assert run.state == "success", run.output[-5000:]
    assert platform.keys("failed/") == []
    assert [k.rsplit("/", 1)[-1] for k in platform.keys("archive/")] == ["broken.csv"]
    assert _count(platform, "sales") == 3
    assert run.states("file.requeue") == ["success"]
    assert "accepted 1" in run.output


def test_reprocess_of_a_missing_file_fails_once_without_retries(platform: Platform) -> None:
    missing = "failed/validation_failed/sales/nope.csv"
    run = platform.run_dag("mdp_reprocess", {"keys": [missing], "prefix": ""})
    assert run.state == "failed"
    # Exit 4 (terminal: the object is not there) fails the task at once, no retry.
    assert run.states("file.requeue") == ["failed"]
    assert run.tries("file.requeue") == [1]
    assert run.states("file.validate") == ["upstream_failed"]
    assert f"no quarantined file {missing}" in run.output
    assert "requeue failed (exit 4): " in run.output
    # The summary counts the file the run was asked for, although nothing was recorded.
    assert "failed 1, unfinished 0" in run.output
    assert "not_recorded       incoming/sales/nope.csv" in run.output
    assert len(platform.kube.cluster.created_pods(**{"mdp.dev/step": "requeue"})) == 1


def test_reprocess_with_an_empty_selection_fails_with_the_reason(platform: Platform) -> None:
    run = platform.run_dag("mdp_reprocess", {"keys": [], "prefix": "failed/loading_failed/"})
    assert run.state == "failed"
    assert run.states("select") == ["failed"]
    assert "nothing to re-process" in run.output
    steps = [p["metadata"]["labels"]["mdp.dev/step"] for p in platform.kube.cluster.created_pods()]
    assert steps == ["summary"], "no file pod; the summary (all_done) reports 0 files"
    assert run.states("watcher") == ["failed"]


def test_evicted_pod_is_retried_and_the_file_still_loads(platform: Platform) -> None:
    cluster = platform.kube.cluster
    cluster.evict(lambda pod: pod["metadata"]["labels"].get("mdp.dev/step") == "transform")
    platform.put("incoming/sales/day1.csv", SALES)

    run = platform.ingest()

    assert run.run_states() == {"incoming/sales/day1.csv": "success"}, run.output[-5000:]
    assert run.tries("transform") == [2]
    assert _count(platform, "sales") == 20
    assert "Evicted" in run.output
    transforms = cluster.created_pods(**{"mdp.dev/step": "transform"})
    assert len(transforms) == 2


def test_nothing_to_do_starts_no_pod(platform: Platform) -> None:
    run = platform.ingest()
    assert run.dispatch.state == "success"
    assert run.files == []
    assert "sweep: 0 file(s) in incoming/, 0 run(s) created" in run.output
    assert platform.kube.cluster.created_pods() == []
