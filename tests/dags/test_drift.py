"""What the DAGs repeat from ``mdp`` (dags/mdp_dags/platform.py) is what ``mdp`` says.

The DAGs cannot import ``mdp`` (they parse with Airflow alone), so each value they share with it
is written twice; one parametrized test compares every pair, and the commands the DAGs run must
parse with the real ``mdp`` parser."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "dags"))

from mdp_dags import platform  # noqa: E402


def _image_user() -> int:
    text = (ROOT / "images" / "python-base" / "Dockerfile").read_text(encoding="utf-8")
    users = set(re.findall(r"^USER (\d+):(\d+)$", text, re.MULTILINE))
    assert len(users) == 1, users
    (user, group) = users.pop()
    assert user == group
    return int(user)


def _chart_contracts_mount() -> str:
    from tests.chart.conftest import by_kind, render_chart

    (job,) = [j for j in by_kind(render_chart(), "Job") if j["metadata"]["name"].endswith("setup")]
    containers = job["spec"]["template"]["spec"]["containers"]
    (value,) = {e["value"] for c in containers for e in c["env"] if e["name"] == "CONTRACTS__DIR"}
    return str(value)


def _mdp() -> dict[str, Callable[[], Any]]:
    """The mdp side of each value, computed when its case runs."""
    from mdp import exitcodes, layout
    from mdp.config import ContractSettings
    from mdp.contracts.model import NAME_RE
    from mdp.contracts.registry import CONTRACT_FILES

    return {
        "dataset name": lambda: NAME_RE,
        "incoming prefix": lambda: layout.INCOMING,
        "failed prefix": lambda: layout.FAILED,
        "quarantine stages": lambda: tuple(s.value for s in layout.FailedStage),
        "report suffix": lambda: layout.error_report_key(""),
        "exit fault": lambda: exitcodes.FAULT,
        "exit rejected": lambda: exitcodes.REJECTED,
        "exit terminal": lambda: exitcodes.TERMINAL,
        "step image user": _image_user,
        "contracts variable": lambda: str(ContractSettings.model_config["env_prefix"]) + "DIR",
        "contracts mount": _chart_contracts_mount,
        "contract files": lambda: CONTRACT_FILES,
    }


DAGS_SIDE: dict[str, Any] = {
    "dataset name": platform.DATASET_NAME.pattern,
    "incoming prefix": platform.INCOMING,
    "failed prefix": platform.FAILED,
    "quarantine stages": platform.FAILED_STAGES,
    "report suffix": platform.REPORT_SUFFIX,
    "exit fault": platform.EXIT_FAULT,
    "exit rejected": platform.EXIT_REJECTED,
    "exit terminal": platform.EXIT_TERMINAL,
    "step image user": platform.UID,
    "contracts variable": platform.CONTRACTS_ENV,
    "contracts mount": platform.CONTRACTS_MOUNT,
    "contract files": platform.CONTRACT_FILES,
}


def test_every_shared_value_has_its_mdp_source() -> None:
    public = {n for n in vars(platform) if n.isupper()}
    assert len(public) == len(DAGS_SIDE), "a value of platform.py without a drift case"
    assert set(DAGS_SIDE) == set(_mdp())


@pytest.mark.parametrize("name", sorted(DAGS_SIDE))
def test_the_dags_repeat_mdp_faithfully(name: str) -> None:
    assert DAGS_SIDE[name] == _mdp()[name]()


def _rendered(arguments: list[Any]) -> list[str]:
    """The arguments of a task as Airflow renders them for one file's run."""
    context = {
        "run_id": "sales__a.csv__0123456789abcdef",
        "ti": {"try_number": 2},
        "task": {"retries": 3},
        "params": {"key": "incoming/sales/a.csv"},
    }
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - command arguments, not HTML
    return [env.from_string(str(a)).render(**context) for a in arguments]


def _dag_commands() -> list[tuple[str, list[str]]]:
    from airflow.sdk import DAG

    from mdp_dags.config import PipelineConfig
    from mdp_dags.shape import file_steps, step_pod, summary_pod

    cfg = PipelineConfig.from_env({})
    key = "{{ params.key }}"
    with DAG("drift", schedule=None):
        tasks = [
            *file_steps(cfg, key=key, dataset="sales", label="a.csv"),
            summary_pod(cfg, expect="{{ [params.key] | tojson }}"),
            step_pod("requeue", cfg, arguments=["requeue", "failed/loading_failed/sales/a.csv"]),
        ]
    return [(t.task_id, _rendered(t.arguments)) for t in tasks]


@pytest.mark.parametrize(("task", "arguments"), _dag_commands(), ids=lambda v: str(v)[:20])
def test_every_command_the_dags_run_parses_with_the_mdp_parser(
    task: str, arguments: list[str]
) -> None:
    from mdp.cli import build_parser

    args = build_parser().parse_args(arguments)
    assert args.command == task
    if task in ("transform", "load"):
        assert (args.attempt, args.max_attempts) == (2, 4)
    if task == "summary":
        assert args.expect == ["incoming/sales/a.csv"]


DUPLICATES = [
    "dataset: sales\ndataset: orders\nversion: 1\n",
    "dataset: sales\nversion: 1\ncolumns:\n  - {name: a, name: b, type: string}\n",
    "dataset: sales\nkey: [a]\nkey: [b]\n",
]


@pytest.mark.parametrize("text", DUPLICATES, ids=["dataset", "nested", "key"])
def test_the_dags_refuse_a_duplicate_key_as_the_steps_do(tmp_path: Path, text: str) -> None:
    import yaml

    from mdp.contracts.loading import read_document
    from mdp_dags.contracts import dataset_of_file, read_contract

    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        read_document(path)
    with pytest.raises(yaml.YAMLError, match="duplicate key"):
        read_contract(text)
    assert dataset_of_file(path) is None


def test_a_clean_contract_reads_the_same_on_both_sides() -> None:
    from mdp.contracts.loading import read_document
    from mdp_dags.contracts import read_contract

    for path in sorted((ROOT / "contracts").glob("*.yaml")):
        dags = read_contract(path.read_text(encoding="utf-8"))
        assert dags["dataset"] == read_document(path)["dataset"]
