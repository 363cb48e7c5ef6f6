"""Static checks of the kind test's own parts (tests/cluster/kind; kind itself runs in
`make test-cluster`): the runtime wrapper that lets kind's ``--privileged`` nodes start on this
machine, and the node image recipe's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "tests" / "cluster" / "kind"
WRAPPER = KIND / "runc-without-sys-resource"
CAPS = ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]


def _fake_runc(tmp_path: Path) -> Path:
    """A runc that records its arguments and the capabilities it was handed."""
    fake = tmp_path / "runc"
    fake.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > {tmp_path}/args\n'
        'for a in "$@"; do\n'
        f'  [ "$prev" = --process ] && cp "$a" {tmp_path}/seen.json; prev=$a\n'
        "done\n"
        "true\n"
    )
    fake.chmod(0o755)
    return fake


def _run(tmp_path: Path, *args: str, cwd: Path | None = None) -> list[str]:
    env = os.environ | {"MDP_WRAPPED_RUNC": str(_fake_runc(tmp_path))}
    subprocess.run([sys.executable, str(WRAPPER), *args], env=env, cwd=cwd, check=True)
    return (tmp_path / "args").read_text().splitlines()


def _caps() -> dict[str, list[str]]:
    return {key: list(CAPS) for key in ("bounding", "effective", "permitted")}


@pytest.mark.parametrize("bundle_flag", ["--bundle", "-b", "--bundle="])
def test_create_drops_cap_sys_resource_from_the_bundle_and_passes_every_argument(
    tmp_path: Path, bundle_flag: str
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps({"process": {"capabilities": _caps()}}))
    flag = [f"--bundle={bundle}"] if bundle_flag.endswith("=") else [bundle_flag, str(bundle)]
    argv = ["--root", "/run/x", "--log", "/l", "--log-format", "json", "create", *flag, "id1"]
    assert _run(tmp_path, *argv) == argv
    seen = json.loads((bundle / "config.json").read_text())["process"]["capabilities"]
    assert seen == {key: [c for c in CAPS if c != "CAP_SYS_RESOURCE"] for key in _caps()}


def test_create_without_a_bundle_flag_uses_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"process": {"capabilities": _caps()}}))
    _run(tmp_path, "run", "id2", cwd=tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert "CAP_SYS_RESOURCE" not in config["process"]["capabilities"]["bounding"]


def test_exec_drops_it_from_the_process_file(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh"], "capabilities": _caps()}))
    _run(tmp_path, "--root", "/r", "exec", "--process", str(process), "--detach", "id3")
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["args"] == ["sh"]
    assert all("CAP_SYS_RESOURCE" not in caps for caps in seen["capabilities"].values())


def test_other_commands_pass_through_untouched(tmp_path: Path) -> None:
    assert _run(tmp_path, "--root", "/r", "state", "id4") == ["--root", "/r", "state", "id4"]
    assert _run(tmp_path, "--version") == ["--version"]


def test_the_pod_network_is_kinds_default_pod_subnet_and_the_cni_manifest_no_template() -> None:
    conflist = json.loads((KIND / "10-mdp-bridge.conflist").read_text())
    ranges = conflist["plugins"][0]["ipam"]["ranges"]
    assert ranges == [[{"subnet": "10.244.0.0/16"}]]  # kind's default networking.podSubnet
    manifest = (KIND / "default-cni.yaml").read_text()
    # kind templates the file only when it carries this marker; ours must apply as it is.
    assert "would you kindly" not in manifest
    assert yaml.safe_load(manifest)["kind"] == "ConfigMap"


def test_node_image_versions_are_pinned() -> None:
    names = ("KIND_VERSION", "ETCD_VERSION", "CRICTL_VERSION", "LOCAL_PATH_PROVISIONER_VERSION")
    for name in names:
        assert VERSIONS[name].startswith("v"), name
    script = (KIND / "node-image.sh").read_text()
    assert "source versions.env" in script
    assert "config images list" in script  # the tags come from kubeadm, checked against these


def test_the_base_dockerfile_passes_hadolint() -> None:
    hadolint = str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run(
        [hadolint, str(KIND / "base.Dockerfile")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("how", ["environment", "command line"])
def test_make_cluster_up_hands_the_node_image_over_whichever_way_it_is_given(how: str) -> None:
    """versions.env sets the default; a KIND_NODE_IMAGE from the environment must win over it
    (make would otherwise pass versions.env's value on to cluster-up.sh)."""
    env = os.environ | ({"KIND_NODE_IMAGE": "my/node:1"} if how == "environment" else {})
    args = [] if how == "environment" else ["KIND_NODE_IMAGE=my/node:1"]
    recipe = subprocess.run(
        ["make", "-n", "cluster-up", *args], env=env, capture_output=True, text=True,
        check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert "KIND_NODE_IMAGE=my/node:1 scripts/cluster-up.sh" in recipe
    default = subprocess.run(
        ["make", "-n", "cluster-up"], env={k: v for k, v in os.environ.items()
        if k != "KIND_NODE_IMAGE"}, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert f"KIND_NODE_IMAGE={VERSIONS['KIND_NODE_IMAGE']} " in default
