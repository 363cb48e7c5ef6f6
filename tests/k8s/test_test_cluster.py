"""Static checks of the cluster test's files (kind itself runs in `make test-cluster`): its build
scripts, the stand-in images, the host-state snapshot and the wiring of the make targets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "scripts" / "test-cluster").glob("*.sh"))
STANDINS = ROOT / "tests" / "cluster" / "standins"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_scripts_pass_shellcheck() -> None:
    kind = ROOT / "tests" / "cluster" / "kind"
    files = [
        *SCRIPTS, STANDINS / "postgres" / "docker-entrypoint.sh",
        kind / "node-image.sh", kind / "kube-proxy-wrapper",
    ]  # fmt: skip
    done = subprocess.run(
        [_bin("shellcheck"), "-x", *map(str, files)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    "dockerfile", sorted(STANDINS.glob("*/Dockerfile")), ids=lambda p: p.parent.name
)
def test_standin_dockerfiles_pass_hadolint_and_say_they_are_standins(dockerfile: Path) -> None:
    done = subprocess.run(
        [_bin("hadolint"), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout
    assert dockerfile.read_text().startswith("# TEST STAND-IN for ")
    assert f"`mdp-standin/{dockerfile.parent.name}" in (STANDINS / "README.md").read_text()


def test_no_dockerfile_asks_for_a_frontend_image() -> None:
    """A `# syntax=` line makes BuildKit pull a frontend image from a registry before building;
    the frontend built into Docker handles every instruction our Dockerfiles use."""
    for dockerfile in [*ROOT.glob("images/*/Dockerfile"), *STANDINS.glob("*/Dockerfile")]:
        assert not re.search(r"^#\s*syntax=", dockerfile.read_text(), re.M), dockerfile


def test_versions_are_pinned_in_versions_env() -> None:
    assert re.fullmatch(r"v1\.\d+\.\d+", VERSIONS["KUBERNETES_VERSION"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+", VERSIONS["COREDNS_VERSION"])
    for script in SCRIPTS:
        text = script.read_text()
        assert "source versions.env" in text or "version" not in text.lower(), script
        assert not re.search(r"v1\.3\d\.\d", text), f"{script} pins a version of its own"


def test_test_cluster_always_stops_docker_checks_the_host_and_keeps_the_test_status() -> None:
    recipe = subprocess.run(
        ["make", "-n", "test-cluster"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    before, tunables, node, tests, leftover, down, restored, after = (
        recipe.index("host-state.sh > .host-state.before"),
        recipe.index("host-state.sh tunables > .host-state.tunables"),
        recipe.index("prepare.sh"),
        recipe.index(" tests/cluster"),
        recipe.index("cluster-down DOCKER=/usr/bin/docker"),
        recipe.index("images.sh docker-down"),
        recipe.index("sysctl -q -w $(cat .host-state.tunables)"),
        recipe.index("host-state.sh > .host-state.after"),
    )
    assert before < tunables < node < tests < leftover < down < restored < after
    assert "|| status=$?" in recipe
    assert recipe.rstrip().endswith("exit $status")


def test_pause_source_compiles_to_a_static_binary(tmp_path: Path) -> None:
    out = tmp_path / "pause"
    source = ROOT / "scripts" / "test-cluster" / "pause.c"
    subprocess.run(["cc", "-Os", "-static", "-o", str(out), str(source)], check=True)
    proc = subprocess.Popen([str(out)])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.3)  # it waits for a signal, doing nothing
        proc.terminate()
        assert proc.wait(timeout=5) == 0  # and exits cleanly on SIGTERM
    finally:
        proc.kill()


def _host_state_in_a_fresh_mount_namespace(tmp_path: Path, setup: str = "true") -> str:
    """`host-state.sh` as a machine that never ran a cluster sees it: /run empty (no
    /run/netns, no Docker socket) and ip6tables-save failing as it does without the ip6tables
    tables, in a private mount namespace so nothing of the real machine changes."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    fail = stubs / "ip6tables-save"
    fail.write_text("#!/bin/sh\necho \"can't initialize ip6tables table 'filter'\" >&2\nexit 1\n")
    fail.chmod(0o755)
    script = (
        "set -e; mount -t tmpfs none /run; "
        f"{setup}; PATH={stubs}:$PATH exec scripts/test-cluster/host-state.sh"
    )
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.append("--map-root-user")
    done = subprocess.run(
        [*unshare, "bash", "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_host_state_works_where_nothing_of_a_cluster_ever_existed(tmp_path: Path) -> None:
    out = _host_state_in_a_fresh_mount_namespace(tmp_path)
    lines = out.splitlines()
    netns = lines.index("# network namespaces")
    assert lines[netns + 1] == "# Docker state directories"  # none listed, and no failure
    assert "ip6tables-save: unavailable" in lines
    assert "# processes of a cluster or a Docker" in lines


def test_host_state_still_shows_a_real_difference(tmp_path: Path) -> None:
    before = _host_state_in_a_fresh_mount_namespace(tmp_path)
    after = _host_state_in_a_fresh_mount_namespace(
        tmp_path, "mkdir -p /run/netns && touch /run/netns/cni-left-behind /run/docker.sock"
    )
    assert before != after
    added = set(after.splitlines()) - set(before.splitlines())
    assert added == {"cni-left-behind", "/var/run/docker.sock exists"}


def _prepare_tree(tmp_path: Path, go: str, images: str) -> Path:
    """prepare.sh in a copy of the layout it expects, with the Go and image builds as fakes."""
    script = tmp_path / "scripts" / "test-cluster" / "prepare.sh"
    script.parent.mkdir(parents=True)
    script.write_text((ROOT / "scripts" / "test-cluster" / "prepare.sh").read_text())
    fakes = {
        tmp_path / "tests" / "cluster" / "kind" / "node-image.sh": go,
        tmp_path / "scripts" / "test-cluster" / "images.sh": images,
    }
    for path, body in fakes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/usr/bin/env bash\nset -eu\ncd '{tmp_path}'\n{body}\n")
    for path in [script, *fakes]:
        path.chmod(0o755)
    return script


def _run(script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script)], capture_output=True, text=True, timeout=60, check=False)


def test_prepare_runs_the_go_and_image_builds_side_by_side_then_prints_the_node_image(
    tmp_path: Path,
) -> None:
    script = _prepare_tree(
        tmp_path,
        go="touch go.started; sleep 1; [ -e images.started ]; touch go.done",
        images='case "$1" in\n'
        "  standins) touch images.started; sleep 1; [ -e go.started ] ;;\n"
        "  warm) [ -e images.started ] ;;\n"
        "  kind-node) [ -e go.done ] && echo mdp-standin/kind-node:test ;;\n"
        "esac",
    )
    done = _run(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "mdp-standin/kind-node:test\n"  # progress goes to stderr only


def test_prepare_fails_and_stops_the_go_builds_when_an_image_build_fails(tmp_path: Path) -> None:
    script = _prepare_tree(
        tmp_path,
        go="sleep 30; touch go.done",
        images='[ "$1" != standins ] || { echo "apt failed" >&2; exit 7; }; touch called.$1',
    )
    started = time.monotonic()
    done = _run(script)
    assert done.returncode == 7
    assert "image builds failed" in done.stderr and "apt failed" in done.stderr
    assert time.monotonic() - started < 20  # the 30 s Go build was stopped, not waited for
    time.sleep(0.5)
    assert not (tmp_path / "go.done").exists()
    assert not list(tmp_path.glob("called.*"))  # no warm-up, no node image


def test_prepare_fails_without_a_node_image_when_the_go_builds_fail(tmp_path: Path) -> None:
    script = _prepare_tree(
        tmp_path, go='echo "compile error" >&2; exit 2', images='touch "called.$1"'
    )
    done = _run(script)
    assert done.returncode == 2
    assert "Go builds failed" in done.stderr and "compile error" in done.stderr
    assert sorted(p.name for p in tmp_path.glob("called.*")) == ["called.standins", "called.warm"]
    assert done.stdout == ""


def _images_sh(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "test-cluster" / "images.sh"), command],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(("containers", "removed"), [("0", True), ("1", False)])
def test_docker_up_removes_a_kind_network_with_no_node_left_by_a_killed_run(
    tmp_path: Path, containers: str, removed: bool
) -> None:
    """The image store keeps kind's network when a run dies before `make cluster-down`; the next
    daemon makes its bridge again, which the host-state check would report. A fake dockerd and
    docker client stand in (the real ones run in `make test-cluster`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dockerd").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "docker").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/calls\n'
        'case "$1 $2" in\n'
        "  'network ls') echo net1 ;;\n"
        f"  'network inspect') echo {containers} ;;\n"
        "esac\n"
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_CLI": str(bin_dir / "docker"),
        "DOCKER_STATE_DIR": str(tmp_path / "state"),
        "TOOLS_CACHE": str(tmp_path / "cache"),
    }
    done = _images_sh("docker-up", env)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert ("network rm net1" in calls) is removed, calls
    # What the daemon will make outside its directories, where nothing is yet.
    candidates = [Path("/run/docker"), Path("/sys/fs/cgroup/docker")]
    candidates += [d / "docker" for d in sorted(Path("/sys/fs/cgroup").glob("*/")) if d.is_dir()]
    made = (tmp_path / "state" / "made-outside").read_text().split()
    assert made == [str(p) for p in candidates if not p.exists()]


def test_docker_down_removes_what_the_daemon_made_outside_its_directories(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (state / "dockerd.pid").write_text(f"{dead.pid}\n")
    made, kept = tmp_path / "run-docker", tmp_path / "was-there"
    (made / "plugins").mkdir(parents=True)
    kept.mkdir()
    (state / "made-outside").write_text(f"{made}\n{tmp_path / 'never-made'}\n")
    env = os.environ | {"DOCKER_STATE_DIR": str(state), "TOOLS_CACHE": str(tmp_path / "cache")}
    done = _images_sh("docker-down", env)
    assert done.returncode == 0, done.stderr
    assert not made.exists() and kept.exists() and not state.exists()
