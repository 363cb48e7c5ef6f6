"""The test Kubernetes API, driven by the real ``kubernetes`` client through a kubeconfig.

These pin the behaviour the end-to-end DAG tests rely on, so a failure there points at the DAG,
not at the stand-in cluster.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.kubeapi.server import KubeApiServer, label_matcher

NS = "pipeline"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[KubeApiServer, client.CoreV1Api]]:
    server = KubeApiServer().start()
    kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig", namespace=NS)
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    yield server, client.CoreV1Api(api_client)
    api_client.close()
    server.stop()


def _pod(name: str, code: str, env: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "metadata": {"name": name, "labels": {"app": "t", "step": name}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "base",
                    "image": "example/test:1",
                    "command": [sys.executable, "-c"],
                    "args": [code],
                    "env": env or [],
                }
            ],
        },
    }


def _log(core: client.CoreV1Api, name: str) -> str:
    """The pod's log as the provider reads it (unparsed: the client's own str decoding of
    ``read_namespaced_pod_log`` gives ``"b'...'"`` in this client version)."""
    return core.read_namespaced_pod_log(name, NS, _preload_content=False).data.decode()


def _wait_phase(core: client.CoreV1Api, name: str, timeout: float = 20) -> client.V1Pod:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, NS)
        if pod.status.phase in ("Succeeded", "Failed"):
            return pod
        time.sleep(0.05)
    raise AssertionError(f"pod {name} did not finish")


def test_pod_runs_command_with_env_from_secret_and_reports_exit_code(api) -> None:
    server, core = api
    core.create_namespaced_secret(NS, {"metadata": {"name": "creds"}, "stringData": {"pw": "s3"}})
    core.create_namespaced_config_map(NS, {"metadata": {"name": "cfg"}, "data": {"mode": "x"}})
    env = [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "pw"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "mode"}}},
        {"name": "BOTH", "value": "$(PW)-$(MODE)"},
    ]
    code = "import os,sys; print(os.environ['BOTH']); print('HOME' in os.environ); sys.exit(3)"
    core.create_namespaced_pod(NS, _pod("one", code, env))
    pod = _wait_phase(core, "one")
    assert pod.status.phase == "Failed"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 3
    assert _log(core, "one") == "s3-x\nTrue\n"
    assert server.cluster.runs()[0].env["PW"] == "s3"


def test_the_test_process_environment_does_not_leak_into_pods(api, monkeypatch) -> None:
    _, core = api
    monkeypatch.setenv("LEAKY_SECRET", "x")
    core.create_namespaced_pod(NS, _pod("p", "import os; print(os.environ.get('LEAKY_SECRET'))"))
    assert _wait_phase(core, "p").status.phase == "Succeeded"
    assert _log(core, "p") == "None\n"


def test_missing_secret_is_a_create_container_config_error(api) -> None:
    _, core = api
    env = [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "pw"}}}]
    core.create_namespaced_pod(NS, _pod("m", "print(1)", env))
    time.sleep(0.3)
    pod = core.read_namespaced_pod("m", NS)
    assert pod.status.phase == "Pending"
    waiting = pod.status.container_statuses[0].state.waiting
    assert waiting.reason == "CreateContainerConfigError"
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=m").items
    assert any(e.type == "Warning" and "absent" in e.message for e in events)


def test_configmap_volumes_are_files_at_the_mount_path(api) -> None:
    """A projected volume of two ConfigMaps, read through the mount path named in env and args."""
    _, core = api
    for name, data in (("a", {"one.yaml": "1\n"}), ("b", {"two.yaml": "2\n"})):
        core.create_namespaced_config_map(NS, {"metadata": {"name": name}, "data": data})
    pod = _pod(
        "v",
        "import os,sys; d=os.environ['DIR']; print(sorted(os.listdir(d)), sys.argv[1:]);"
        "print(open(sys.argv[1]).read().strip(), oct(os.stat(d + '/one.yaml').st_mode & 0o777))",
        [{"name": "DIR", "value": "/etc/x"}],
    )
    container = pod["spec"]["containers"][0]  # type: ignore[index]
    container["args"].append("/etc/x/two.yaml")
    container["volumeMounts"] = [{"name": "c", "mountPath": "/etc/x", "readOnly": True}]
    pod["spec"]["volumes"] = [  # type: ignore[index]
        {"name": "c", "projected": {"sources": [{"configMap": {"name": n}} for n in "ab"]}}
    ]
    core.create_namespaced_pod(NS, pod)
    assert _wait_phase(core, "v").status.phase == "Succeeded", _log(core, "v")
    lines = _log(core, "v").splitlines()
    assert lines[0].startswith("['one.yaml', 'two.yaml'] ['")
    assert lines[0].endswith("/two.yaml']")
    assert lines[1] == "2 0o444"  # read-only


def test_a_missing_configmap_volume_keeps_the_pod_from_starting(api) -> None:
    _, core = api
    pod = _pod("n", "print(1)")
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "c", "mountPath": "/etc/x"}]  # type: ignore[index]
    pod["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "absent"}}]  # type: ignore[index]
    core.create_namespaced_pod(NS, pod)
    time.sleep(0.3)
    assert core.read_namespaced_pod("n", NS).status.phase == "Pending"
    events = core.list_namespaced_event(NS, field_selector="involvedObject.name=n").items
    assert any(e.type == "Warning" and "absent" in e.message for e in events)


def test_logs_follow_with_timestamps_until_the_container_ends(api) -> None:
    _, core = api
    code = "import time\nfor i in range(3):\n    print(i, flush=True); time.sleep(0.2)"
    core.create_namespaced_pod(NS, _pod("f", code))
    time.sleep(0.1)
    while core.read_namespaced_pod("f", NS).status.phase == "Pending":
        time.sleep(0.02)
    resp = core.read_namespaced_pod_log(
        "f", NS, container="base", follow=True, timestamps=True, _preload_content=False
    )
    lines = b"".join(resp.stream()).decode().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["0", "1", "2"]
    assert all(line.split(" ", 1)[0].endswith("Z") for line in lines)


def test_list_by_label_selector_patch_and_delete(api) -> None:
    server, core = api
    core.create_namespaced_pod(NS, _pod("a", "pass"))
    core.create_namespaced_pod(NS, _pod("b", "pass"))
    core.patch_namespaced_pod("a", NS, {"metadata": {"labels": {"already_checked": "True"}}})
    names = {p.metadata.name for p in core.list_namespaced_pod(NS, label_selector="app=t").items}
    assert names == {"a", "b"}
    unchecked = core.list_namespaced_pod(NS, label_selector="app=t,already_checked!=True").items
    assert [p.metadata.name for p in unchecked] == ["b"]
    core.delete_namespaced_pod("a", NS)
    with pytest.raises(ApiException) as e:
        core.read_namespaced_pod("a", NS)
    assert e.value.status == 404
    assert len(server.cluster.created_pods(app="t")) == 2  # history keeps deleted pods


def test_invalid_label_and_duplicate_name_are_rejected(api) -> None:
    _, core = api
    bad = _pod("x", "pass")
    bad["metadata"]["labels"] = {"file": "has spaces/and slashes.csv"}  # type: ignore[index]
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(NS, bad)
    assert e.value.status == 422
    core.create_namespaced_pod(NS, _pod("y", "pass"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(NS, _pod("y", "pass"))
    assert e.value.status == 409


def test_eviction_kills_the_process_and_says_evicted(api) -> None:
    server, core = api
    server.cluster.evict(lambda pod: pod["metadata"]["name"] == "e", after=0.2)
    core.create_namespaced_pod(NS, _pod("e", "import time; time.sleep(30)"))
    pod = _wait_phase(core, "e")
    assert (pod.status.phase, pod.status.reason) == ("Failed", "Evicted")
    assert pod.status.container_statuses[0].state.terminated.exit_code == 137


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1,b", {"a": "1", "b": "x"}, True),
        ("a==1,!b", {"a": "1", "b": "x"}, False),
        ("a in (1, 2),c notin (3)", {"a": "2"}, True),
        ("a in (1,2)", {"a": "3"}, False),
        ("", {}, True),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert label_matcher(selector)(labels) is expected
