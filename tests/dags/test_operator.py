"""The operator of a step task gets its pod spec: the chart's ConfigMap(s) mounted read-only where
``CONTRACTS__DIR`` says (dags/mdp_dags/shape.py, operator.py). Every field of the pod spec itself
is checked in tests/dags/test_podspec.py, the pods Airflow asks for in tests/e2e."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.config import PipelineConfig  # noqa: E402
from mdp_dags.platform import CONTRACTS_MOUNT  # noqa: E402
from mdp_dags.shape import step_pod  # noqa: E402

STEPS = ("validate", "transform", "load", "requeue", "summary")


def _contracts(env: dict[str, str], step: str) -> tuple[list[str], list[object], list[object]]:
    """(projected ConfigMap names, contracts mounts, CONTRACTS__DIR values) of one step's pod."""
    op = step_pod(step, PipelineConfig.from_env(env), arguments=[step, "k"], task_id=f"t_{step}")
    volumes = [v for v in op.volumes if v.name == "contracts"]
    assert all(v.projected.default_mode == 0o444 for v in volumes)
    names = [source.config_map.name for v in volumes for source in v.projected.sources]
    mounts = [(m.mount_path, m.read_only) for m in op.volume_mounts if m.name == "contracts"]
    env_dir = [e.value for e in op.env_vars if e.name == "CONTRACTS__DIR"]
    return names, mounts, env_dir


@pytest.mark.parametrize("step", STEPS)
def test_every_step_pod_mounts_the_chart_contracts_read_only(step: str) -> None:
    names, mounts, env_dir = _contracts({}, step)
    assert names == ["mdp-contracts"]  # the chart's ConfigMap for a release called mdp
    assert mounts == [(CONTRACTS_MOUNT, True)]
    assert env_dir == [CONTRACTS_MOUNT] == ["/etc/mdp/contracts"]


def test_more_configmaps_are_projected_into_the_same_directory() -> None:
    names, mounts, _ = _contracts({"MDP_CONTRACTS_CONFIGMAP": "x-contracts,mine"}, "validate")
    assert names == ["x-contracts", "mine"]
    assert mounts == [(CONTRACTS_MOUNT, True)]


def test_no_configmap_means_the_contracts_in_the_image() -> None:
    assert _contracts({"MDP_CONTRACTS_CONFIGMAP": ""}, "load") == ([], [], [])


def test_the_tmp_volume_is_still_there() -> None:
    op = step_pod("load", PipelineConfig.from_env({}), arguments=["load", "k"])
    assert next((m.name, m.mount_path) for m in op.volume_mounts) == ("tmp", "/tmp")
