"""A Kubernetes linter over every rendered value set: zero findings beyond the exceptions listed,
with their reasons, in .checkov.yaml.

checkov (PyPI, pinned in tools/checkov/uv.lock) stands in for kube-linter, which cannot be built
on this machine (the Go module proxy refuses golang.stackrox.io)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS, render_chart

ROOT = Path(__file__).resolve().parents[2]
# The minimal values set turns NetworkPolicies off on purpose (clusters without a NetworkPolicy
# controller), so "pods without a NetworkPolicy" is expected there and nowhere else.
EXTRA_SKIPS = {"minimal": ["CKV2_K8S_6"]}
SKIPS = yaml.safe_load((ROOT / ".checkov.yaml").read_text())["skip-check"]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_checkov_finds_nothing_but_the_documented_exceptions(name: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{name}.yaml"
    manifest.write_text(yaml.safe_dump_all(render_chart(values_file=VALUE_SETS[name])))
    done = subprocess.run(
        [
            "uv", "run", "--project", str(ROOT / "tools" / "checkov"), "--locked", "--quiet",
            "checkov", "--framework", "kubernetes", "--output", "json", "--file", str(manifest),
            "--skip-check", ",".join(SKIPS + EXTRA_SKIPS.get(name, [])),
        ],
        capture_output=True, text=True, check=False, timeout=600, cwd=ROOT,
    )  # fmt: skip
    report = json.loads(done.stdout)
    results = report["results"] if isinstance(report, dict) else report[0]["results"]
    failed = [(c["check_id"], c["resource"]) for c in results["failed_checks"]]
    assert failed == [], failed
    assert len(results["passed_checks"]) > 100
