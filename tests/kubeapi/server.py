"""A test Kubernetes API: the core/v1 pod endpoints ``KubernetesPodOperator`` uses, on loopback.

Why: the production DAGs must run unmodified in CI, where no cluster can start. This server is the
one thing that stands in for Kubernetes (the only boundary the house rules let us fake). It speaks
the same JSON over HTTP as a real API server, so the operator, the ``kubernetes`` client and the
kubeconfig are all the real ones; nothing in the DAG knows it is a test.

What "running a pod" means here: the first container's ``command`` + ``args`` (with ``$(VAR)``
expansion, as the kubelet does) is started as a local process. Its environment is built only from
the pod spec (``env`` values, ``secretKeyRef`` / ``configMapKeyRef`` / ``fieldRef``, ``envFrom``)
plus a minimal base (``PATH``, ``HOME``, ``TMPDIR``), never from the test process, so a pod spec
that forgets a Secret fails here as it would in a cluster. ConfigMap volumes (``configMap``, or
``projected`` with ``configMap`` sources) are written to a directory of the pod, read-only, and,
as the process cannot see the mount path itself, an env value or argument that is the mount path
or below it is rewritten to that directory; a missing ConfigMap stops the pod before it starts,
as the kubelet's failed mount does. The process's merged stdout/stderr is the
container log; its exit code becomes ``containerStatuses[0].state.terminated.exitCode`` and the
phase ``Succeeded`` or ``Failed`` (``restartPolicy: Never``, the only policy the operator uses).

Implemented: pods (create, read, list with label selectors, merge-patch, delete), pod logs
(``follow``, ``timestamps``, ``sinceSeconds``, ``tailLines``), events (list with field selectors),
Secrets and ConfigMaps (create, read, list, delete). Anything else answers 404 with a
``Status`` body and is recorded in ``unhandled`` so a test can see what the client wanted.

Fault injection: ``evict(predicate)`` makes the next matching pod be evicted shortly after start
(phase ``Failed``, reason ``Evicted``, exit 137), as the kubelet does under memory pressure.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = dict[str, Any]

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answer: HTTP status, Kubernetes reason and message, as a ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def body(self) -> JSON:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


# --- selectors -----------------------------------------------------------------------------


def _split_selector(text: str) -> list[str]:
    """Split on commas that are not inside ``in (a, b)`` parentheses."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def label_matcher(selector: str | None) -> Callable[[dict[str, str]], bool]:
    """A predicate over a label dict for a Kubernetes label selector string.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)`` and ``k notin (a,b)``.
    """
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in _split_selector(selector or ""):
        if m := re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", part):
            key, op, values = m[1], m[2], {v.strip() for v in m[3].split(",")}
            if op == "in":
                tests.append(lambda labels, k=key, vs=values: labels.get(k) in vs)
            else:
                tests.append(lambda labels, k=key, vs=values: labels.get(k) not in vs)
        elif m := re.fullmatch(r"([^\s!=]+)\s*!=\s*(\S*)", part):
            tests.append(lambda labels, k=m[1], v=m[2]: labels.get(k) != v)
        elif m := re.fullmatch(r"([^\s!=]+)\s*==?\s*(\S*)", part):
            tests.append(lambda labels, k=m[1], v=m[2]: labels.get(k) == v)
        elif m := re.fullmatch(r"!\s*([^\s!=]+)", part):
            tests.append(lambda labels, k=m[1]: k not in labels)
        elif re.fullmatch(r"[^\s!=(),]+", part):
            tests.append(lambda labels, k=part: k in labels)
        else:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
    return lambda labels: all(t(labels) for t in tests)


def field_matcher(selector: str | None, obj: JSON) -> bool:
    """``a.b=c,d.e!=f`` over nested dict paths (the subset ``kubectl get events`` needs)."""
    for part in _split_selector(selector or ""):
        negate = "!=" in part
        path, _, expected = part.replace("!=", "=").replace("==", "=").partition("=")
        value: Any = obj
        for step in path.strip().split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if (str(value) == expected.strip()) == negate:
            return False
    return True


# --- pods ----------------------------------------------------------------------------------


def _in_mounts(value: str, mounted: dict[str, Path]) -> str:
    """``value`` with a leading mount path replaced by the directory standing in for it."""
    for mount_path, directory in mounted.items():
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(directory) + value[len(mount_path) :]
    return value


@dataclass
class PodRun:
    """A pod and the local process standing in for its first container."""

    pod: JSON
    workdir: Path
    log_lines: list[tuple[str, bytes]] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    finished: threading.Event = field(default_factory=threading.Event)
    deleted: bool = False
    evict_after: float | None = None
    evicted: bool = False

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def container(self) -> JSON:
        return dict(self.pod["spec"]["containers"][0])

    @property
    def exit_code(self) -> int | None:
        statuses = self.pod["status"].get("containerStatuses") or []
        terminated = statuses[0]["state"].get("terminated") if statuses else None
        return None if terminated is None else int(terminated["exitCode"])

    def log_text(self) -> str:
        return b"".join(line for _, line in self.log_lines).decode("utf-8", "replace")


class FakeKubernetes:
    """State and behaviour of the fake cluster; ``KubeApiServer`` puts HTTP in front of it."""

    def __init__(self, base_path: str | None = None, workroot: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.pods: dict[tuple[str, str], PodRun] = {}
        self.history: list[PodRun] = []
        """Every pod ever created, in creation order, deleted ones included."""
        self.secrets: dict[tuple[str, str], JSON] = {}
        self.configmaps: dict[tuple[str, str], JSON] = {}
        self.events: list[JSON] = []
        self.unhandled: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self._evictions: list[Callable[[JSON], bool]] = []
        self._version = 1
        self.workroot = workroot or Path(tempfile.mkdtemp(prefix="kubeapi-"))
        self.base_path = base_path or os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        )

    # -- bookkeeping --

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _event(self, run: PodRun, reason: str, message: str, type_: str = "Normal") -> None:
        stamp = now_rfc3339()
        self.events.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{run.name}.{uuid.uuid4().hex[:16]}",
                    "namespace": run.namespace,
                    "resourceVersion": self._next_version(),
                },
                "involvedObject": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": run.name,
                    "namespace": run.namespace,
                    "uid": run.pod["metadata"]["uid"],
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "source": {"component": "kubelet", "host": "kubeapi-test-node"},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
        )

    def _set_status(self, run: PodRun, **status: Any) -> None:
        with self.changed:
            run.pod["status"].update(status)
            run.pod["metadata"]["resourceVersion"] = self._next_version()
            self.changed.notify_all()

    # -- public helpers for tests --

    def preload_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.create_object(
            "secrets", namespace, {"metadata": {"name": name}, "stringData": dict(data)}
        )

    def preload_configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        self.create_object("configmaps", namespace, {"metadata": {"name": name}, "data": data})

    def evict(self, predicate: Callable[[JSON], bool], after: float = 0.3) -> None:
        """Evict the next created pod matching ``predicate``, ``after`` seconds into its run."""
        with self.lock:
            self._evictions.append(predicate)
            self._evict_after = after

    def created_pods(self, **labels: str) -> list[JSON]:
        """Specs of every pod created so far whose labels include ``labels``."""
        with self.lock:
            return [
                copy.deepcopy(run.pod)
                for run in self.history
                if all(run.pod["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
            ]

    def runs(self) -> list[PodRun]:
        with self.lock:
            return list(self.history)

    def shutdown(self) -> None:
        for run in self.runs():
            if run.process and run.process.poll() is None:
                run.process.kill()
        shutil.rmtree(self.workroot, ignore_errors=True)

    # -- secrets and configmaps --

    def _store_for(self, kind: str) -> dict[tuple[str, str], JSON]:
        return self.secrets if kind == "secrets" else self.configmaps

    def create_object(self, kind: str, namespace: str, body: JSON) -> JSON:
        name = body.get("metadata", {}).get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{kind}: metadata.name: Required value")
        obj = copy.deepcopy(body)
        obj["metadata"] |= {
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now_rfc3339(),
        }
        obj["apiVersion"], obj["kind"] = "v1", "Secret" if kind == "secrets" else "ConfigMap"
        if kind == "secrets":
            data = dict(obj.get("data") or {})
            for k, v in (obj.pop("stringData", None) or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        with self.lock:
            store = self._store_for(kind)
            if (namespace, name) in store:
                raise ApiError(409, "AlreadyExists", f'{kind} "{name}" already exists')
            obj["metadata"]["resourceVersion"] = self._next_version()
            store[(namespace, name)] = obj
        return copy.deepcopy(obj)

    def get_object(self, kind: str, namespace: str, name: str) -> JSON:
        with self.lock:
            obj = self._store_for(kind).get((namespace, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind} "{name}" not found')
        return copy.deepcopy(obj)

    def delete_object(self, kind: str, namespace: str, name: str) -> JSON:
        with self.lock:
            obj = self._store_for(kind).pop((namespace, name), None)
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind} "{name}" not found')
        return obj

    def list_objects(self, kind: str, namespace: str) -> list[JSON]:
        with self.lock:
            return [
                copy.deepcopy(o) for (ns, _), o in self._store_for(kind).items() if ns == namespace
            ]

    def _secret_value(self, namespace: str, name: str, key: str) -> str | None:
        secret = self.secrets.get((namespace, name))
        if secret is None or key not in secret.get("data", {}):
            return None
        return base64.b64decode(secret["data"][key]).decode()

    def _configmap_value(self, namespace: str, name: str, key: str) -> str | None:
        cm = self.configmaps.get((namespace, name))
        return None if cm is None else (cm.get("data") or {}).get(key)

    # -- pods --

    def create_pod(self, namespace: str, body: JSON) -> JSON:
        pod = copy.deepcopy(body)
        meta = pod.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        problems = []
        if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
            problems.append(f"metadata.name: Invalid value: {name!r}: must be a DNS-1123 subdomain")
        for k, v in (meta.get("labels") or {}).items():
            label_name = k.rsplit("/", 1)[-1]
            if len(label_name) > 63 or not _LABEL_NAME.match(label_name):
                problems.append(f"metadata.labels: Invalid value: {k!r}: invalid label key")
            if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
                problems.append(f"metadata.labels: Invalid value: {v!r}: invalid label value")
        containers = (pod.get("spec") or {}).get("containers") or []
        if not containers:
            problems.append("spec.containers: Required value")
        for i, c in enumerate(containers):
            if not c.get("image"):
                problems.append(f"spec.containers[{i}].image: Required value")
        if problems:
            raise ApiError(422, "Invalid", f'Pod "{name}" is invalid: ' + "; ".join(problems))
        meta |= {
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now_rfc3339(),
        }
        pod["apiVersion"], pod["kind"] = "v1", "Pod"
        pod["status"] = {"phase": "Pending", "qosClass": "Burstable"}
        workdir = self.workroot / f"{namespace}-{name}-{meta['uid'][:8]}"
        with self.changed:
            if (namespace, name) in self.pods:
                raise ApiError(409, "AlreadyExists", f'pods "{name}" already exists')
            meta["resourceVersion"] = self._next_version()
            run = PodRun(pod=pod, workdir=workdir)
            for i, predicate in enumerate(self._evictions):
                if predicate(pod):
                    run.evict_after = self._evict_after
                    del self._evictions[i]
                    break
            self.pods[(namespace, name)] = run
            self.history.append(run)
            self._event(run, "Scheduled", f"Successfully assigned {namespace}/{name} to test-node")
        threading.Thread(target=self._run_pod, args=(run,), daemon=True).start()
        return copy.deepcopy(pod)

    def _container_env(self, run: PodRun) -> dict[str, str]:
        """The container's environment from the pod spec; raises ``LookupError`` as the kubelet's
        CreateContainerConfigError does when a referenced Secret or key is missing."""
        c = run.container
        env = {
            "PATH": self.base_path,
            "HOME": str(run.workdir / "home"),
            "HOSTNAME": run.name,
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        for source in c.get("envFrom") or []:
            env |= self._env_from(run.namespace, source)
        for var in c.get("env") or []:
            if "value" in var:
                env[var["name"]] = _VAR_REF.sub(lambda m: env.get(m[1], m[0]), str(var["value"]))
            elif (value := self._env_value(run, var)) is not None:
                env[var["name"]] = value
        return env

    def _env_from(self, ns: str, source: JSON) -> dict[str, str]:
        prefix = source.get("prefix", "")
        if ref := source.get("secretRef"):
            secret = self.secrets.get((ns, ref["name"]))
            data = {
                k: base64.b64decode(v).decode() for k, v in (secret or {}).get("data", {}).items()
            }
            kind = "secret"
        else:
            ref = source.get("configMapRef") or {}
            cm = self.configmaps.get((ns, ref.get("name", "")))
            secret, data, kind = cm, dict((cm or {}).get("data") or {}), "configmap"
        if secret is None and not ref.get("optional"):
            raise LookupError(f'{kind} "{ref.get("name")}" not found')
        return {prefix + k: v for k, v in data.items()}

    def _env_value(self, run: PodRun, var: JSON) -> str | None:
        """One ``valueFrom`` entry; None for a missing optional reference."""
        source, ns = var.get("valueFrom") or {}, run.namespace
        value: str | None
        if ref := source.get("secretKeyRef"):
            value = self._secret_value(ns, ref["name"], ref["key"])
            what = f'secret "{ref["name"]}" key "{ref["key"]}"'
        elif ref := source.get("configMapKeyRef"):
            value = self._configmap_value(ns, ref["name"], ref["key"])
            what = f'configmap "{ref["name"]}" key "{ref["key"]}"'
        elif ref := source.get("fieldRef"):
            path = ref["fieldPath"]
            value = {
                "metadata.name": run.name,
                "metadata.namespace": ns,
                "metadata.uid": run.pod["metadata"]["uid"],
                "spec.serviceAccountName": run.pod["spec"].get("serviceAccountName", "default"),
            }.get(path)
            if m := re.fullmatch(r"metadata\.labels\['(.+)'\]", path):
                value = run.pod["metadata"].get("labels", {}).get(m[1], "")
            what = f"field {path}"
        else:
            raise LookupError(f"env {var['name']}: unsupported valueFrom {source}")
        if value is None and not ref.get("optional"):
            raise LookupError(f"couldn't find {what}")
        return value

    def _configmap_volume(self, run: PodRun, volume: JSON) -> dict[str, str] | None:
        """The files of a ``configMap`` or ``projected`` (configMap sources) volume; None for any
        other kind; ``LookupError`` for a missing, non-optional ConfigMap."""
        if "configMap" in volume:
            refs = [volume["configMap"]]
        elif "projected" in volume:
            sources = volume["projected"].get("sources") or []
            refs = [src["configMap"] for src in sources if "configMap" in src]
        else:
            return None
        files: dict[str, str] = {}
        for ref in refs:
            cm = self.configmaps.get((run.namespace, ref.get("name", "")))
            if cm is None:
                if ref.get("optional"):
                    continue
                raise LookupError(
                    f'MountVolume.SetUp failed: configmap "{ref.get("name")}" not found'
                )
            data = dict(cm.get("data") or {})
            items = ref.get("items")
            files |= {i["path"]: data[i["key"]] for i in items} if items else data
        return files

    def _mount_volumes(self, run: PodRun) -> dict[str, Path]:
        """Write the ConfigMap volumes the container mounts; returns mount path -> directory."""
        volumes = {v["name"]: v for v in run.pod["spec"].get("volumes") or []}
        mounted: dict[str, Path] = {}
        for mount in run.container.get("volumeMounts") or []:
            files = self._configmap_volume(run, volumes.get(mount["name"], {}))
            if files is None:
                continue
            directory = run.workdir / "volumes" / mount["name"]
            directory.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                path = directory / name
                path.write_text(text, encoding="utf-8")
                path.chmod(0o444)
            mounted[mount["mountPath"].rstrip("/")] = directory
        return mounted

    def _run_pod(self, run: PodRun) -> None:
        c = run.container
        for d in (run.workdir / "home", run.workdir / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        try:
            mounted = self._mount_volumes(run)
            env = self._container_env(run)
        except LookupError as e:
            with self.lock:
                self._event(run, "Failed", f"Error: {e}", "Warning")
            self._set_status(
                run,
                containerStatuses=[
                    self._container_status(
                        c, {"waiting": {"reason": "CreateContainerConfigError", "message": str(e)}}
                    )
                ],
            )
            run.finished.set()
            return
        env = {k: _in_mounts(v, mounted) for k, v in env.items()}
        env["TMPDIR"] = str(run.workdir / "tmp")  # an emptyDir at /tmp, as our pods mount
        argv = [
            _in_mounts(_VAR_REF.sub(lambda m: env.get(m[1], m[0]), str(a)), mounted)
            for a in (c.get("command") or []) + (c.get("args") or [])
        ]
        run.env, run.argv = env, argv
        with self.lock:
            self._event(run, "Pulled", f'Container image "{c["image"]}" already present on machine')
            self._event(run, "Created", f"Created container {c['name']}")
        started = now_rfc3339()
        try:
            run.process = subprocess.Popen(
                argv,
                env=env,
                cwd=run.workdir,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as e:
            with self.lock:
                self._event(run, "Failed", f"Error: failed to start container: {e}", "Warning")
            self._finish(run, started, 128, "StartError", "Failed")
            return
        with self.lock:
            self._event(run, "Started", f"Started container {c['name']}")
        self._set_status(
            run,
            phase="Running",
            startTime=started,
            podIP="127.0.0.1",
            conditions=[{"type": "Ready", "status": "True"}],
            containerStatuses=[
                self._container_status(c, {"running": {"startedAt": started}}, True)
            ],
        )
        if run.evict_after is not None:
            threading.Thread(target=self._evict, args=(run,), daemon=True).start()
        assert run.process.stdout is not None
        for line in iter(run.process.stdout.readline, b""):
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
            with self.changed:
                run.log_lines.append((stamp, line))
                self.changed.notify_all()
        code = run.process.wait()
        if run.evicted:
            self._finish(run, started, 137, "Error", "Failed", pod_reason="Evicted")
        else:
            self._finish(
                run,
                started,
                code,
                "Completed" if code == 0 else "Error",
                "Succeeded" if code == 0 else "Failed",
            )

    def _evict(self, run: PodRun) -> None:
        """Kill the pod's process as the kubelet does under memory pressure."""
        time.sleep(run.evict_after or 0)
        if run.process and run.process.poll() is None:
            run.evicted = True
            with self.lock:
                self._event(run, "Evicted", "The node was low on resource: memory.", "Warning")
            os.killpg(run.process.pid, signal.SIGKILL)

    def _container_status(self, c: JSON, state: JSON, ready: bool = False) -> JSON:
        return {
            "name": c["name"],
            "image": c["image"],
            "imageID": f"docker.io/library/{c['image']}@sha256:{'0' * 64}",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }

    def _finish(
        self,
        run: PodRun,
        started: str,
        code: int,
        reason: str,
        phase: str,
        pod_reason: str | None = None,
    ) -> None:
        terminated = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": now_rfc3339(),
        }
        status: JSON = {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False"}],
            "containerStatuses": [
                self._container_status(run.container, {"terminated": terminated})
            ],
        }
        if pod_reason:
            status |= {"reason": pod_reason, "message": "The node was low on resource: memory."}
        self._set_status(run, **status)
        run.finished.set()

    def get_pod(self, namespace: str, name: str) -> PodRun:
        with self.lock:
            run = self.pods.get((namespace, name))
        if run is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return run

    def list_pods(self, namespace: str | None, selector: str | None) -> list[JSON]:
        match = label_matcher(selector)
        with self.lock:
            return [
                copy.deepcopy(run.pod)
                for (ns, _), run in self.pods.items()
                if (namespace is None or ns == namespace)
                and match(run.pod["metadata"].get("labels") or {})
            ]

    def patch_pod(self, namespace: str, name: str, patch: Any) -> JSON:
        run = self.get_pod(namespace, name)
        if not isinstance(patch, dict):
            raise ApiError(415, "UnsupportedMediaType", "only merge patches are supported")
        with self.changed:
            _merge(run.pod, {k: v for k, v in patch.items() if k in ("metadata",)})
            run.pod["metadata"]["resourceVersion"] = self._next_version()
            self.changed.notify_all()
            return copy.deepcopy(run.pod)

    def delete_pod(self, namespace: str, name: str) -> JSON:
        run = self.get_pod(namespace, name)
        if run.process and run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGTERM)
        with self.changed:
            run.deleted = True
            run.pod["metadata"]["deletionTimestamp"] = now_rfc3339()
            self.pods.pop((namespace, name), None)
            self.changed.notify_all()
            return copy.deepcopy(run.pod)

    def log_stream(
        self, run: PodRun, *, follow: bool, timestamps: bool, since: float | None, tail: int | None
    ) -> Iterator[bytes]:
        """Yield the log lines, then (``follow``) new ones until the container ends."""
        cutoff = None
        if since is not None:
            cutoff = (datetime.now(UTC) - timedelta(seconds=since)).strftime(
                "%Y-%m-%dT%H:%M:%S.%f000Z"
            )
        with self.lock:
            start = max(0, len(run.log_lines) - tail) if tail is not None else 0
        index = start
        while True:
            with self.changed:
                while index >= len(run.log_lines) and follow and not run.finished.is_set():
                    self.changed.wait(timeout=0.5)
                batch = run.log_lines[index:]
                index = len(run.log_lines)
                done = run.finished.is_set() or not follow
            for stamp, line in batch:
                if cutoff is not None and stamp < cutoff:
                    continue
                yield (stamp.encode() + b" " + line) if timestamps else line
            if done and index >= len(run.log_lines):
                return


def _merge(target: JSON, patch: JSON) -> None:
    """JSON merge patch (RFC 7386): ``None`` deletes, dicts merge, anything else replaces."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


def _flag(value: str | None) -> bool:
    """A boolean query parameter as Go's ``strconv.ParseBool`` reads it (clients send "True")."""
    return value in {"1", "t", "T", "true", "TRUE", "True"}


# --- HTTP ----------------------------------------------------------------------------------

_NS = r"/api/v1/namespaces/(?P<ns>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/version"), "version"),
    ("GET", re.compile(r"/api"), "api_versions"),
    ("GET", re.compile(r"/api/v1"), "api_resources"),
    ("GET", re.compile(r"/apis"), "api_groups"),
    ("GET", re.compile(r"/api/v1/pods"), "list_all_pods"),
    ("GET", re.compile(_NS + r"/pods"), "list_pods"),
    ("POST", re.compile(_NS + r"/pods"), "create_pod"),
    ("GET", re.compile(_NS + r"/pods/(?P<name>[^/]+)"), "read_pod"),
    ("GET", re.compile(_NS + r"/pods/(?P<name>[^/]+)/status"), "read_pod"),
    ("PATCH", re.compile(_NS + r"/pods/(?P<name>[^/]+)"), "patch_pod"),
    ("DELETE", re.compile(_NS + r"/pods/(?P<name>[^/]+)"), "delete_pod"),
    ("GET", re.compile(_NS + r"/pods/(?P<name>[^/]+)/log"), "read_log"),
    ("GET", re.compile(_NS + r"/events"), "list_events"),
    ("GET", re.compile(_NS + r"/(?P<kind>secrets|configmaps)"), "list_objects"),
    ("POST", re.compile(_NS + r"/(?P<kind>secrets|configmaps)"), "create_object"),
    ("GET", re.compile(_NS + r"/(?P<kind>secrets|configmaps)/(?P<name>[^/]+)"), "read_object"),
    ("DELETE", re.compile(_NS + r"/(?P<kind>secrets|configmaps)/(?P<name>[^/]+)"), "delete_object"),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send_json(self, code: int, body: JSON) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        cluster = self.server.cluster
        with cluster.lock:
            cluster.requests.append((method, self.path))
        for verb, pattern, handler in _ROUTES:
            if verb == method and (m := pattern.fullmatch(url.path)):
                try:
                    getattr(self, "_" + handler)(query, **m.groupdict())
                except ApiError as e:
                    self._send_json(e.code, e.body())
                return
        with cluster.lock:
            cluster.unhandled.append(f"{method} {self.path}")
        self._send_json(404, ApiError(404, "NotFound", f"{method} {url.path}").body())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"body is not JSON: {e}") from e

    def _list(self, kind: str, items: list[JSON]) -> None:
        self._send_json(
            200,
            {
                "kind": kind,
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            },
        )

    # Discovery: enough for clients that ask what the server serves (helm --dry-run=server).

    def _version(self, query: dict[str, str]) -> None:
        self._send_json(
            200,
            {"major": "1", "minor": "34", "gitVersion": "v1.34.0", "platform": "linux/amd64"},
        )

    def _api_versions(self, query: dict[str, str]) -> None:
        self._send_json(
            200,
            {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}
                ],
            },
        )

    def _api_resources(self, query: dict[str, str]) -> None:
        verbs = ["create", "delete", "get", "list", "patch"]
        resources = [
            {"name": name, "singularName": "", "namespaced": True, "kind": kind, "verbs": verbs}
            for name, kind in [
                ("pods", "Pod"),
                ("pods/log", "Pod"),
                ("events", "Event"),
                ("secrets", "Secret"),
                ("configmaps", "ConfigMap"),
            ]
        ]
        self._send_json(
            200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": resources}
        )

    def _api_groups(self, query: dict[str, str]) -> None:
        self._send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    def _list_all_pods(self, query: dict[str, str]) -> None:
        self._list("PodList", self.server.cluster.list_pods(None, query.get("labelSelector")))

    def _list_pods(self, query: dict[str, str], ns: str) -> None:
        self._list("PodList", self.server.cluster.list_pods(ns, query.get("labelSelector")))

    def _create_pod(self, query: dict[str, str], ns: str) -> None:
        self._send_json(201, self.server.cluster.create_pod(ns, self._body()))

    def _read_pod(self, query: dict[str, str], ns: str, name: str) -> None:
        cluster = self.server.cluster
        with cluster.lock:
            body = copy.deepcopy(cluster.get_pod(ns, name).pod)
        self._send_json(200, body)

    def _patch_pod(self, query: dict[str, str], ns: str, name: str) -> None:
        self._send_json(200, self.server.cluster.patch_pod(ns, name, self._body()))

    def _delete_pod(self, query: dict[str, str], ns: str, name: str) -> None:
        self._body()
        self._send_json(200, self.server.cluster.delete_pod(ns, name))

    def _read_log(self, query: dict[str, str], ns: str, name: str) -> None:
        cluster = self.server.cluster
        run = cluster.get_pod(ns, name)
        container = query.get("container")
        if container and container != run.container["name"]:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        if run.process is None and not run.finished.is_set():
            raise ApiError(
                400,
                "BadRequest",
                f'container "{run.container["name"]}" in pod "{name}" is '
                "waiting to start: ContainerCreating",
            )
        lines = cluster.log_stream(
            run,
            follow=_flag(query.get("follow")),
            timestamps=_flag(query.get("timestamps")),
            since=float(query["sinceSeconds"]) if "sinceSeconds" in query else None,
            tail=int(query["tailLines"]) if "tailLines" in query else None,
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for line in lines:
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _list_events(self, query: dict[str, str], ns: str) -> None:
        cluster = self.server.cluster
        with cluster.lock:
            items = [
                copy.deepcopy(e)
                for e in cluster.events
                if e["metadata"]["namespace"] == ns and field_matcher(query.get("fieldSelector"), e)
            ]
        self._list("EventList", items)

    def _list_objects(self, query: dict[str, str], ns: str, kind: str) -> None:
        list_kind = "SecretList" if kind == "secrets" else "ConfigMapList"
        self._list(list_kind, self.server.cluster.list_objects(kind, ns))

    def _create_object(self, query: dict[str, str], ns: str, kind: str) -> None:
        self._send_json(201, self.server.cluster.create_object(kind, ns, self._body()))

    def _read_object(self, query: dict[str, str], ns: str, kind: str, name: str) -> None:
        self._send_json(200, self.server.cluster.get_object(kind, ns, name))

    def _delete_object(self, query: dict[str, str], ns: str, kind: str, name: str) -> None:
        self._body()
        self._send_json(200, self.server.cluster.delete_object(kind, ns, name))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    cluster: FakeKubernetes


class KubeApiServer:
    """The fake cluster behind an HTTP server on 127.0.0.1 and a kubeconfig that points at it."""

    def __init__(self, cluster: FakeKubernetes | None = None) -> None:
        self.cluster = cluster or FakeKubernetes()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.cluster = self.cluster
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> KubeApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self.cluster.shutdown()

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig (JSON is valid YAML) whose current context is this server."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeapi-test", "cluster": {"server": self.url}}],
            "users": [{"name": "kubeapi-test", "user": {"token": "test-token"}}],
            "contexts": [
                {
                    "name": "kubeapi-test",
                    "context": {
                        "cluster": "kubeapi-test",
                        "user": "kubeapi-test",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "kubeapi-test",
        }
        path.write_text(json.dumps(config, indent=2))
        return path
