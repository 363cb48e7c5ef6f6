#!/usr/bin/env python3
"""Record what the official Airflow chart renders with charts/airflow/values.yaml.

CI cannot download the official chart, so tests/k8s/test_airflow_chart.py checks our side
against these recorded facts instead: the objects the chart creates (kind, name, Helm hook), and
per workload the labels, ServiceAccount, security contexts, volumes, images, resources and, for
Jobs, the command and the names of the environment variables. No template of the chart is kept.

Run it after changing charts/airflow/values.yaml, with a copy of the chart's source outside the
repository (the `chart/` folder of github.com/apache/airflow at a chart release; its bundled
PostgreSQL dependency may be removed from Chart.yaml, as our values disable it):

    uv run python scripts/record-airflow-chart-facts.py /tmp/airflow-chart \\
        --source "apache/airflow chart/ at <commit>" [--chart-dir-2 ... --source-2 ...]

Each chart given is rendered with the pinned helm (`make tools`) and without --kube-version, as
`make deploy` does; the facts of every render are written to
charts/airflow/official-chart-facts.json together with the SHA-256 of the values file, so a test
notices when the values changed since.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
VALUES = ROOT / "charts" / "airflow" / "values.yaml"
OUT = ROOT / "charts" / "airflow" / "official-chart-facts.json"
HELM = ROOT / ".tools" / "bin" / "helm"
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet"}


def _container(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": c["name"],
        "image": c.get("image"),
        "securityContext": c.get("securityContext"),
        "resources": c.get("resources"),
        "command": c.get("command"),
        "args": c.get("args"),
        "env": sorted({e["name"] for e in c.get("env", [])}),
        "envFrom": bool(c.get("envFrom")),
    }


def _workload(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec["template"]
    pod = template["spec"]
    return {
        "kind": doc["kind"],
        "name": doc["metadata"]["name"],
        "labels": doc["metadata"].get("labels", {}),
        "podLabels": template["metadata"].get("labels", {}),
        "serviceAccountName": pod.get("serviceAccountName"),
        "automountServiceAccountToken": pod.get("automountServiceAccountToken"),
        "securityContext": pod.get("securityContext"),
        "host": {k: pod[k] for k in ("hostNetwork", "hostPID", "hostIPC") if k in pod},
        "volumes": [
            {"name": v["name"], "type": next(k for k in v if k != "name")}
            for v in pod.get("volumes", [])
        ],
        "volumeClaimTemplates": [
            {"name": v["metadata"]["name"], "size": v["spec"]["resources"]["requests"]["storage"]}
            for v in doc["spec"].get("volumeClaimTemplates", [])
        ],
        "initContainers": [_container(c) for c in pod.get("initContainers", [])],
        "containers": [_container(c) for c in pod["containers"]],
        "ttlSecondsAfterFinished": spec.get("ttlSecondsAfterFinished"),
    }


def render(chart: Path, source: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 (our pinned helm, paths given by the developer)
        [str(HELM), "template", "airflow", str(chart), "--namespace", "mdp", "-f", str(VALUES)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    docs = [d for d in yaml.safe_load_all(done.stdout) if d]
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    return {
        "chart": {"name": meta["name"], "version": meta["version"], "source": source},
        "objects": [
            {
                "kind": d["kind"],
                "name": d["metadata"]["name"],
                "hook": (d["metadata"].get("annotations") or {}).get("helm.sh/hook"),
            }
            for d in docs
        ],
        "workloads": [_workload(d) for d in docs if d["kind"] in WORKLOADS],
        "rbac": [
            {"kind": d["kind"], "name": d["metadata"]["name"], "rules": d.get("rules")}
            for d in docs
            if d["kind"] in {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("charts", nargs="+", type=Path, help="official chart source folders")
    parser.add_argument(
        "--source", action="append", required=True, help="where each chart came from, in order"
    )
    args = parser.parse_args()
    if len(args.source) != len(args.charts):
        parser.error("give one --source per chart")
    facts = {
        "about": "Recorded by scripts/record-airflow-chart-facts.py; do not edit by hand.",
        "valuesSha256": hashlib.sha256(VALUES.read_bytes()).hexdigest(),
        "renders": [render(c, s) for c, s in zip(args.charts, args.source, strict=True)],
    }
    OUT.write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(facts['renders'])} render(s)")


if __name__ == "__main__":
    main()
