"""The contracts as configuration (templates/contracts/, the setup Job, the generator): one
ConfigMap with the repository's contracts/*.yaml byte for byte plus the values' files, mounted
read-only with CONTRACTS__DIR wherever the chart runs `mdp`, and bad values refused early."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    VALUE_SETS,
    RenderError,
    by_kind,
    pod_specs,
    render_chart,
    run_helm,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
MOUNT = "/etc/mdp/contracts"
ORDERS = """\
dataset: orders
version: 1
key: [order_id]
columns:
  - {name: order_id, type: string}
"""


def _builtin() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CONTRACTS.glob("*.yaml"))}


def _configmap(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (cm,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mdp-contracts"]
    return cm


def _workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pod specs of the workloads that run `mdp` with datasets: the setup Job, the generators."""
    return {
        name: spec
        for name, spec in pod_specs(docs)
        if name == "mdp-setup" or name.startswith("mdp-generator-")
    }


def _annotations(docs: list[dict[str, Any]], name: str) -> dict[str, str]:
    doc = next(d for d in docs if d["metadata"]["name"] == name and d["kind"] != "ConfigMap")
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    return dict(spec["template"]["metadata"].get("annotations") or {})


def test_the_chart_reads_the_repositorys_contracts_through_a_symlink() -> None:
    """One copy of the built-in contracts: the chart's contracts/ is ../../contracts."""
    link = CHART / "contracts"
    assert link.is_symlink() and link.resolve() == CONTRACTS.resolve()
    assert {"sales.yaml", "youtube.yaml"} <= set(_builtin())


@pytest.mark.parametrize("name", VALUE_SETS)
def test_the_configmap_holds_every_built_in_contract_byte_for_byte(name: str) -> None:
    assert _configmap(render_chart(values_file=VALUE_SETS[name]))["data"] == _builtin()


def test_values_files_are_added_next_to_the_built_ins() -> None:
    docs = render_chart(values={"contracts": {"files": {"orders": ORDERS, "orders_v2": ORDERS}}})
    data = _configmap(docs)["data"]
    assert data == _builtin() | {"orders.yaml": ORDERS, "orders_v2.yaml": ORDERS}


def test_helm_package_follows_the_symlink(tmp_path: Path) -> None:
    """What `helm package` ships (and so what a chart repository serves) has the contracts."""
    done = run_helm("package", str(CHART), "--destination", str(tmp_path))
    assert done.returncode == 0, done.stderr
    (archive,) = tmp_path.glob("mini-data-platform-*.tgz")
    with tarfile.open(archive) as tar:
        shipped = {
            Path(m.name).name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.startswith("mini-data-platform/contracts/")
        }
    assert {k: v for k, v in shipped.items() if k.endswith(".yaml")} == _builtin()
    done = run_helm(
        "template", "mdp", str(archive), "-n", "mdp",
        "--show-only", "templates/contracts/contracts-configmap.yaml",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(io.StringIO(done.stdout))["data"] == _builtin()


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_mdp_container_of_the_setup_job_and_generator_reads_the_mounted_contracts(
    name: str,
) -> None:
    docs = render_chart(values_file=VALUE_SETS[name])
    workloads = _workloads(docs)
    assert "mdp-setup" in workloads
    for obj, spec in workloads.items():
        (volume,) = [v for v in spec["volumes"] if v["name"] == "contracts"]
        assert volume["projected"] == {
            "defaultMode": 0o444,
            "sources": [{"configMap": {"name": "mdp-contracts"}}],
        }, obj
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            assert c["command"] == ["mdp"], (obj, c["name"])
            mounts = [m for m in c["volumeMounts"] if m["name"] == "contracts"]
            assert mounts == [{"name": "contracts", "mountPath": MOUNT, "readOnly": True}], obj
            assert {"name": "CONTRACTS__DIR", "value": MOUNT} in c["env"], (obj, c["name"])


def test_setup_storage_covers_every_dataset_of_the_contracts() -> None:
    """No --datasets: `mdp setup storage` takes them from CONTRACTS__DIR (src/mdp/cli/setup.py)."""
    spec = _workloads(render_chart())["mdp-setup"]
    storage = next(c for c in spec["initContainers"] if c["name"] == "storage")
    assert storage["args"] == ["setup", "storage"]


def test_an_existing_configmap_is_projected_next_to_the_charts() -> None:
    docs = render_chart(values={"contracts": {"existingConfigMap": "team-contracts"}})
    for obj, spec in _workloads(docs).items():
        (volume,) = [v for v in spec["volumes"] if v["name"] == "contracts"]
        assert volume["projected"]["sources"] == [
            {"configMap": {"name": "mdp-contracts"}},
            {"configMap": {"name": "team-contracts"}},
        ], obj


def test_the_checksum_changes_with_the_contracts_and_only_then() -> None:
    """The setup Job (a hook: it runs on every upgrade anyway) and the generator pods carry a
    hash of what they were given, so `kubectl describe` tells which contract set a pod ran with
    and any workload mounting the contracts rolls when they change."""

    def checksums(values: dict[str, Any] | None) -> set[str]:
        docs = render_chart(values=values)
        names = ["mdp-setup", "mdp-generator-sales", "mdp-generator-youtube"]
        found = {_annotations(docs, n).get("checksum/contracts", "") for n in names}
        assert len(found) == 1 and "" not in found
        return found

    default = checksums(None)
    assert checksums({"generator": {"files": 3}}) == default
    with_orders = checksums({"contracts": {"files": {"orders": ORDERS}}})
    assert with_orders != default
    evolved = checksums({"contracts": {"files": {"orders": ORDERS + "description: x\n"}}})
    assert evolved not in (default, with_orders)
    assert checksums({"contracts": {"existingConfigMap": "team"}}) != default


def test_the_dags_default_configmap_is_the_charts() -> None:
    sys.path.insert(0, str(ROOT / "dags"))
    from mdp_dags.config import PipelineConfig
    from mdp_dags.platform import CONTRACTS_MOUNT

    cfg = PipelineConfig.from_env({})
    names = {d["metadata"]["name"] for d in by_kind(render_chart(), "ConfigMap")}
    assert set(cfg.contracts_configmaps) <= names
    assert CONTRACTS_MOUNT == MOUNT


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"sales": ORDERS}, "would replace the built-in contract contracts/sales.yaml"),
        ({"orders": "dataset: [unclosed\n"}, "contracts.files.orders is not a YAML mapping"),
        ({"orders": "version: 1\n"}, "`dataset:` must be a lower_snake name"),
        ({"orders": "dataset: Orders\n"}, 'got "Orders"'),
        ({"orders": "- a list\n"}, "contracts.files.orders"),
    ],
)
def test_bad_contract_values_fail_the_render_with_the_fix(
    files: dict[str, str], message: str
) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart(values={"contracts": {"files": files}}, validate=False)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"files": {"orders.yaml": ORDERS}}, "does not match pattern"),
        ({"files": {"Orders": ORDERS}}, "does not match pattern"),
        ({"files": {"orders": ""}}, "minLength"),
        ({"files": {"orders": {"dataset": "orders"}}}, "got object, want string"),
        ({"files": ["orders.yaml"]}, "got array, want object"),
        ({"existingConfigMap": "Not_A_Name"}, "does not match pattern"),
        ({"existingConfigMap": 5}, "want string"),
        ({"file": {}}, "additional properties 'file' not allowed"),
    ],
)
def test_the_schema_rejects_bad_contracts_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart(values={"contracts": values}, validate=False)


def _check_job(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (job,) = [d for d in by_kind(docs, "Job") if d["metadata"]["name"] == "mdp-contracts-check"]
    return job


@pytest.mark.parametrize("is_upgrade", [False, True], ids=["install", "upgrade"])
def test_the_new_contracts_are_checked_before_anything_changes(is_upgrade: bool) -> None:
    """Pre-install/pre-upgrade hooks: the new contract set in a hook ConfigMap, and a Job that
    runs `mdp contracts check` on it and, on an upgrade, `mdp db migrate --dry-run` (which
    refuses an unsafe evolution). Exit 2 or 4 will not pass on a retry: the Job, and with it the
    upgrade, fails at once, before the contracts ConfigMap or any table changed."""
    values = {"contracts": {"files": {"orders": ORDERS}, "existingConfigMap": "team"}}
    docs = render_chart(values=values, is_upgrade=is_upgrade)
    (nxt,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mdp-contracts-next"
    ]
    assert nxt["data"] == _configmap(docs)["data"]  # exactly what the upgrade would install
    job = _check_job(docs)
    for obj in (nxt, job):
        hooks = obj["metadata"]["annotations"]
        assert hooks["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "hook-succeeded" in hooks["helm.sh/hook-delete-policy"]
    assert int(nxt["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert job["spec"]["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [2, 4]}}
    ]
    spec = job["spec"]["template"]["spec"]
    assert "serviceAccountName" not in spec  # none of ours exists before a first install
    (volume,) = [v for v in spec["volumes"] if v["name"] == "contracts"]
    assert volume["projected"]["sources"] == [
        {"configMap": {"name": "mdp-contracts-next"}},
        {"configMap": {"name": "team"}},
    ]
    steps = [*spec.get("initContainers", []), *spec["containers"]]
    expected = [["contracts", "check", MOUNT]] + ([["db", "migrate", "--dry-run"]] * is_upgrade)
    assert [c["args"] for c in steps] == expected
    for c in steps:
        assert {"name": "CONTRACTS__DIR", "value": MOUNT} in c["env"]
        assert {"name": "contracts", "mountPath": MOUNT, "readOnly": True} in c["volumeMounts"]
    # Labelled as the setup component: the NetworkPolicies let it reach PostgreSQL.
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == "setup"
    from mdp import exitcodes

    assert (exitcodes.USAGE, exitcodes.TERMINAL) == (2, 4)  # check's and migrate's refusals


def test_every_command_of_the_check_job_is_accepted_by_the_cli() -> None:
    from mdp.cli import build_parser

    spec = _check_job(render_chart(is_upgrade=True))["spec"]["template"]["spec"]
    for c in [*spec["initContainers"], *spec["containers"]]:
        build_parser().parse_args(c["args"])
