"""The DAG folder: import hygiene, parse time, structure, and the stdlib-only helpers.

Structure is read from a real DagBag in a subprocess (tests/dags/inspect_dags.py), so these
assertions are about what Airflow sees, not about our intentions.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mdp import layout

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.config import PipelineConfig  # noqa: E402
from mdp_dags.naming import file_label, parse_failed_key  # noqa: E402

STDLIB = sys.stdlib_module_names
ALLOWED_THIRD_PARTY = {"airflow", "kubernetes"}  # kubernetes: the provider's own client models


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("airflow-home")
    # Contracts as the chart mounts them, plus a file that is not a contract: parsing must not care.
    contracts = tmp_path_factory.mktemp("contracts")
    (contracts / "sales.yaml").write_text("dataset: sales\nversion: 1\n")
    (contracts / "broken.yaml").write_text("dataset: [unclosed\n")
    env = {
        "MDP_CONTRACTS_DIR": str(contracts),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": f"{DAGS}:{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.dags.inspect_dags"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _dag_files() -> list[Path]:
    return sorted(DAGS.glob("*.py")) + sorted((DAGS / "mdp_dags").glob("*.py"))


@pytest.mark.parametrize("path", _dag_files(), ids=lambda p: p.name)
def test_dag_files_import_only_stdlib_airflow_and_the_provider(path: Path) -> None:
    """Module-level imports only; imports inside functions run in the worker, not at parse."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert top in STDLIB or top in ALLOWED_THIRD_PARTY or top == "mdp_dags", (
                f"{path.name} imports {name} at module level"
            )


def test_local_settings_preload_the_provider_unless_told_not_to(tmp_path: Path) -> None:
    """dags/airflow_local_settings.py: Airflow imports it at start; forked task processes then
    find the provider loaded."""
    module = "airflow.providers.cncf.kubernetes.operators.pod"
    code = f"import sys, airflow; print({module!r} in sys.modules)"
    base = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
        "PYTHONPATH": str(DAGS),
    }
    seen = []
    for preload in ("true", "false"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=base | {"MDP_PRELOAD_PROVIDER": preload},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        seen.append(done.stdout.strip().splitlines()[-1])
    assert seen == ["True", "False"]


def test_dags_parse_without_errors_or_forbidden_imports(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == {"mdp_ingest", "mdp_ingest_file", "mdp_reprocess"}
    assert dagbag["forbidden_after_parse"] == [], "pandas/pyarrow/mdp/... imported at parse time"


def test_each_dag_file_parses_in_under_a_second(dagbag: dict[str, Any]) -> None:
    """Measured after the provider is imported, as the DAG processor pre-imports it."""
    assert set(dagbag["parse_seconds"]) == {
        "mdp_ingest.py",
        "mdp_ingest_file.py",
        "mdp_reprocess.py",
    }
    for name, seconds in dagbag["parse_seconds"].items():
        assert seconds < 1.0, f"{name} took {seconds:.2f} s to parse"


def test_ingest_dispatcher_structure(dagbag: dict[str, Any]) -> None:
    """Started by MinIO events (an asset with a watcher) or by the minute sweep; one task."""
    dag = dagbag["dags"]["mdp_ingest"]
    assert (dag["timetable"], dag["max_active_runs"], dag["catchup"]) == (
        "AssetOrTimeSchedule",
        1,
        False,
    )
    (asset,) = dag["assets"]
    assert (asset["name"], asset["uri"]) == ("mdp_incoming", "s3://mdp/incoming")
    assert asset["watchers"] == [
        [
            "mdp_minio_incoming",
            "mdp_dags.events.MinioObjectCreatedTrigger",
            {"conn_id": "mdp_s3", "bucket": "mdp", "prefix": "incoming/", "poll_seconds": 5.0},
        ]
    ]
    assert {t: v["upstream"] for t, v in dag["tasks"].items()} == {"dispatch": []}
    assert dag["tasks"]["dispatch"]["retries"] == 2


def test_ingest_file_structure(dagbag: dict[str, Any]) -> None:
    """One run per file; depth-first weights; the pool and max_active_runs bound the files."""
    dag = dagbag["dags"]["mdp_ingest_file"]
    assert (dag["schedule"], dag["max_active_runs"]) == ("None", 8)
    assert set(dag["params"]) == {"key", "dataset", "label"}
    tasks = dag["tasks"]
    assert {t: v["upstream"] for t, v in tasks.items()} == {
        "validate": [],
        "transform": ["validate"],
        "load": ["transform"],
        "summary": ["load"],
        "watcher": ["load", "summary", "transform", "validate"],
    }
    weights = {t: (v["priority_weight"], v["weight_rule"]) for t, v in tasks.items()}
    assert weights["validate"] < weights["transform"] < weights["load"] < weights["summary"]
    assert {rule for t, (_, rule) in weights.items() if t != "watcher"} == {"absolute"}
    for step in ("validate", "transform", "load"):
        t = tasks[step]
        assert t["operator"] == "StepPodOperator"
        assert t["mapped"] is False
        assert t["pool"] == "mdp_pipeline"
        assert (t["retries"], t["retry_delay"], t["exponential"]) == (3, 30.0, True)
        assert t["skip_on_exit_code"] == [3]
        assert t["startup_check_seconds"] == 1  # the provider's 5 s would idle a pool slot
    assert tasks["summary"]["startup_check_seconds"] == 1
    assert tasks["validate"]["image"] == "mini-data-platform/validator:dev"
    assert tasks["transform"]["image"] == "mini-data-platform/transformer:dev"
    assert tasks["load"]["image"] == "mini-data-platform/loader:dev"
    assert tasks["summary"]["trigger_rule"].endswith("ALL_DONE")
    assert tasks["watcher"]["trigger_rule"].endswith("ONE_FAILED")


def test_dispatcher_parses_without_the_kubernetes_provider(tmp_path: Path) -> None:
    """Its task process parses only mdp_ingest.py: that must not pull in the provider's operator
    and the Kubernetes client (about a second of CPU per task start, more on a busy machine);
    checked in a fresh interpreter, as a task process starts. (boto3 may be loaded: Airflow's
    asset code imports the Amazon provider's s3 URI handler for any asset.)"""
    code = (
        "import sys, time; t = time.perf_counter();"
        "from airflow.dag_processing.dagbag import DagBag;"
        "t1 = time.perf_counter();"
        f"bag = DagBag(dag_folder={str(DAGS / 'mdp_ingest.py')!r});"
        "print(sorted(bag.dags), bag.import_errors, time.perf_counter() - t1,"
        " sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'"
        " or m.startswith('airflow.providers.cncf.kubernetes.operators')))"
    )
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": f"{DAGS}",
        "MDP_PRELOAD_PROVIDER": "false",  # dags/airflow_local_settings.py: measure the DAG alone
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("['mdp_ingest'] {}"), last
    assert last.endswith(" []"), f"the dispatcher's parse imported: {last}"


def test_reprocess_structure(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["mdp_reprocess"]
    assert dag["schedule"] == "None"
    assert set(dag["params"]) == {"keys", "prefix"}
    assert dag["params"]["keys"]["items"]["pattern"] == "^failed/"
    tasks = dag["tasks"]
    assert {t: sorted(v["upstream"]) for t, v in tasks.items()} == {
        "select": [],
        "file.requeue": ["select"],
        "file.validate": ["file.requeue", "select"],
        "file.transform": ["file.validate", "select"],
        "file.load": ["file.transform", "select"],
        "summary": ["file.load"],
        "watcher": ["file.load", "select", "summary"],
    }
    assert tasks["select"]["retries"] == 0
    assert tasks["file.requeue"]["image"] == "mini-data-platform/validator:dev"
    assert tasks["file.requeue"]["mapped"] is True


def test_config_from_env_overrides_and_checks() -> None:
    cfg = PipelineConfig.from_env(
        {
            "MDP_IMAGE_REPOSITORY": "registry.local/mdp",
            "MDP_IMAGE_TAG": "1.2.3",
            "MDP_IMAGE_LOADER": "other/loader@sha256:abc",
            "MDP_RETRIES": "5",
            "MDP_RETRY_DELAY_SECONDS": "7",
            "MDP_DATASETS": "sales",
        }
    )
    assert cfg.image_for("validate") == "registry.local/mdp/validator:1.2.3"
    assert cfg.image_for("load") == "other/loader@sha256:abc"
    assert cfg.image_for("summary") == "other/loader@sha256:abc"
    assert (cfg.retries, cfg.retry_delay, cfg.datasets) == (5, timedelta(seconds=7), ("sales",))
    with pytest.raises(ValueError, match="MDP_RETRIES='x' is not a whole number"):
        PipelineConfig.from_env({"MDP_RETRIES": "x"})
    with pytest.raises(ValueError, match="MDP_MAX_ACTIVE_FILES=0 must be at least 1"):
        PipelineConfig.from_env({"MDP_MAX_ACTIVE_FILES": "0"})
    with pytest.raises(ValueError, match="MDP_DATASETS is empty"):
        PipelineConfig.from_env({"MDP_DATASETS": " , "})


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("incoming/sales/day1.csv", "day1.csv"),
        ("incoming/sales/sub/dir/file_2.json", "file_2.json"),
    ],
)
def test_file_label_keeps_clean_names(key: str, expected: str) -> None:
    assert file_label(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "incoming/sales/Ümlaut and spaces (1).csv",
        "incoming/sales/" + "x" * 80 + ".csv",
        "incoming/sales/---.csv",
        "incoming/sales/{{ run_id }}.csv",
    ],
)
def test_file_label_is_always_a_valid_label_value(key: str) -> None:
    from tests.kubeapi.server import _LABEL_VALUE

    label = file_label(key)
    assert len(label) <= 63
    assert _LABEL_VALUE.match(label), label
    assert file_label(key) != file_label(key + "x")


def test_failed_key_parsing_agrees_with_the_platform_layout() -> None:
    incoming = layout.IncomingKey.parse("incoming/youtube/a/b.jsonl")
    for stage in layout.FailedStage:
        failed = layout.failed_key(stage, incoming)
        assert parse_failed_key(failed) == (stage.value, "youtube", incoming.key)
        assert layout.parse_failed_key(failed) == (stage, incoming)
    for bad in ("incoming/sales/x.csv", "failed/validation_failed/sales/x.csv.error.json"):
        with pytest.raises(ValueError, match="not a quarantined file"):
            parse_failed_key(bad)


def test_installed_airflow_matches_versions_env() -> None:
    from importlib.metadata import version

    from tests.support.versions import VERSIONS

    assert version("apache-airflow") == VERSIONS["AIRFLOW_VERSION"]
    assert (
        version("apache-airflow-providers-cncf-kubernetes")
        == VERSIONS["AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION"]
    )


def test_dag_exit_codes_are_the_step_clis() -> None:
    """dags/mdp_dags/platform.py repeats mdp.exitcodes (the DAGs cannot import mdp)."""
    from mdp import exitcodes
    from mdp_dags import platform as config

    assert (config.EXIT_FAULT, config.EXIT_REJECTED, config.EXIT_TERMINAL) == (
        exitcodes.FAULT,
        exitcodes.REJECTED,
        exitcodes.TERMINAL,
    )
