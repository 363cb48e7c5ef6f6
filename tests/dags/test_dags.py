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
    env = {
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


def test_dags_parse_without_errors_or_forbidden_imports(dagbag: dict[str, Any]) -> None:
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == {"mdp_ingest", "mdp_reprocess"}
    assert dagbag["forbidden_after_parse"] == [], "pandas/pyarrow/mdp/... imported at parse time"


def test_each_dag_file_parses_in_under_a_second(dagbag: dict[str, Any]) -> None:
    """Measured after the provider is imported, as the DAG processor pre-imports it."""
    assert set(dagbag["parse_seconds"]) == {"mdp_ingest.py", "mdp_reprocess.py"}
    for name, seconds in dagbag["parse_seconds"].items():
        assert seconds < 1.0, f"{name} took {seconds:.2f} s to parse"


def test_ingest_structure(dagbag: dict[str, Any]) -> None:
    dag = dagbag["dags"]["mdp_ingest"]
    assert (dag["schedule"], dag["max_active_runs"], dag["catchup"]) == ("* * * * *", 1, False)
    tasks = dag["tasks"]
    assert {t: sorted(v["upstream"]) for t, v in tasks.items()} == {
        "discover": [],
        "any_files": ["discover"],
        "file.validate": ["any_files", "discover"],
        "file.transform": ["discover", "file.validate"],
        "file.load": ["discover", "file.transform"],
        "summary": ["file.load"],
        "watcher": ["discover", "file.load", "summary"],
    }
    assert tasks["watcher"]["trigger_rule"].endswith("ONE_FAILED")
    for step in ("file.validate", "file.transform", "file.load"):
        t = tasks[step]
        assert t["operator"] == "StepPodOperator"
        assert t["mapped"] is True
        assert (t["pool"], t["max_active_tis_per_dag"]) == ("mdp_pipeline", 8)
        assert (t["retries"], t["retry_delay"], t["exponential"]) == (3, 30.0, True)
        assert t["skip_on_exit_code"] == [3]
    assert tasks["file.validate"]["image"] == "mini-data-platform/validator:dev"
    assert tasks["file.transform"]["image"] == "mini-data-platform/transformer:dev"
    assert tasks["file.load"]["image"] == "mini-data-platform/loader:dev"
    assert tasks["summary"]["trigger_rule"].endswith("ALL_DONE")
    assert tasks["any_files"]["operator"] == "_ShortCircuitDecoratedOperator"


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

    from tests.versions import VERSIONS

    assert version("apache-airflow") == VERSIONS["AIRFLOW_VERSION"]
    assert (
        version("apache-airflow-providers-cncf-kubernetes")
        == VERSIONS["AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION"]
    )


def test_dag_exit_codes_are_the_step_clis() -> None:
    """dags/mdp_dags/config.py repeats mdp.exitcodes (the DAGs cannot import mdp)."""
    from mdp import exitcodes
    from mdp_dags import config

    assert (config.EXIT_FAULT, config.EXIT_REJECTED, config.EXIT_TERMINAL) == (
        exitcodes.FAULT,
        exitcodes.REJECTED,
        exitcodes.TERMINAL,
    )
