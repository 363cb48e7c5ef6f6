"""The helm that `make tools` builds: its own version and a current default Kubernetes version.

A bare `go install` of helm leaves the defaults that helm's Makefile normally overrides with
ldflags: version "v3.22" and Kubernetes v1.20, which makes `helm template` (and `skaffold render`)
refuse our chart's `kubeVersion: >=1.30.0-0` unless --kube-version is passed (issue 11)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.chart.conftest import CHART, helm, run_helm
from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]


def test_helm_reports_the_pinned_version() -> None:
    done = run_helm("version", "--template", "{{.Version}}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == VERSIONS["HELM_VERSION"]


def test_helm_template_accepts_our_chart_without_kube_version(tmp_path: Path) -> None:
    done = run_helm("template", "mdp", str(CHART), "--namespace", "mdp")
    assert done.returncode == 0, done.stderr
    # What helm assumes when no cluster is asked: at least what our chart requires.
    probe = tmp_path / "probe"
    (probe / "templates").mkdir(parents=True)
    (probe / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (probe / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\n"
        "data: {kube: '{{ .Capabilities.KubeVersion.Version }}'}\n"
    )
    done = run_helm("template", "probe", str(probe))
    assert done.returncode == 0, done.stderr
    major, minor = re.findall(r"\d+", yaml.safe_load(done.stdout)["data"]["kube"])[:2]
    required = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    assert (int(major), int(minor)) >= tuple(int(x) for x in re.findall(r"\d+", required)[:2])


def test_make_tools_builds_helm_with_its_version_ldflags_under_a_new_cache_key() -> None:
    """The build recipe sets the flags, and its cache folder differs from the bare build's."""
    bin_dir = Path(helm()).resolve().parent
    assert bin_dir.name.startswith(f"helm-{VERSIONS['HELM_VERSION']}-")
    out = subprocess.run(
        ["make", "-n", "-B", str(ROOT / ".tools" / "bin" / "helm")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    assert f"internal/version.version={VERSIONS['HELM_VERSION']} " in out
    for package in ("pkg/chartutil", "pkg/lint/rules"):
        assert package in out
    assert ".k8sVersionMajor=1 " in out and ".k8sVersionMinor=$k8s_minor" in out
    assert f"helm-{VERSIONS['HELM_VERSION']}-" in out
