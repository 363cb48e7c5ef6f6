"""Rendering the chart: `helm template`, every document parsed and validated against the
Kubernetes JSON schemas of a current release (offline, from the kubernetes-validate package)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "mini-data-platform"
KUBE_VERSION = "1.34.0"
CUSTOM_APIS = {"monitoring.coreos.com"}
"""API groups of custom resources the chart may render (the Prometheus Operator's)."""
VALUE_SETS = {
    "default": None,
    "production": CHART / "ci" / "production-values.yaml",
    "minimal": CHART / "ci" / "minimal-values.yaml",
}


def helm() -> str:
    """The pinned helm from `make tools` (.tools/bin), else HELM or PATH."""
    for candidate in (os.environ.get("HELM"), str(ROOT / ".tools" / "bin" / "helm"), "helm"):
        if candidate and (Path(candidate).exists() or shutil.which(candidate)):
            return candidate
    pytest.fail("helm not found: run `make tools` (builds the pinned helm with go install)")


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm(), *args], capture_output=True, text=True, check=False, timeout=120)


class RenderError(Exception):
    pass


def render_chart(
    values: dict[str, Any] | None = None,
    values_file: Path | None = None,
    show_only: list[str] | None = None,
    validate: bool = True,
    kubeconfig: Path | None = None,
    is_upgrade: bool = False,
    api_versions: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Render with `helm template`; raise RenderError with helm's stderr when it refuses.

    With ``kubeconfig``, helm renders against that cluster (``--dry-run=server``), so ``lookup``
    sees its Secrets, as on ``helm upgrade``. ``api_versions`` are APIs the cluster is said to
    serve (``.Capabilities.APIVersions``, e.g. the Prometheus Operator's monitoring.coreos.com/v1);
    objects of such custom APIs are not validated (the offline schemas know only Kubernetes')."""
    args = ["template", "mdp", str(CHART), "--namespace", "mdp", "--kube-version", KUBE_VERSION]
    for api in api_versions or []:
        args += ["--api-versions", api]
    if kubeconfig:
        args += ["--dry-run=server", "--kubeconfig", str(kubeconfig)]
    if is_upgrade:
        args += ["--is-upgrade"]  # .Release.IsUpgrade: what `helm upgrade` renders
    if values_file:
        args += ["--values", str(values_file)]
    for path in show_only or []:
        args += ["--show-only", path]
    if values:
        args += ["--values", "-"]
    done = subprocess.run(
        [helm(), *args],
        input=yaml.safe_dump(values) if values else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RenderError(done.stderr)
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    if validate:
        for doc in docs:
            if doc["apiVersion"].split("/")[0] not in CUSTOM_APIS:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload."""
    out = []
    for d in docs:
        spec = d.get("spec", {})
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}:
            out.append((d["metadata"]["name"], spec["template"]["spec"]))
        elif d["kind"] == "CronJob":
            out.append((d["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]))
    return out
