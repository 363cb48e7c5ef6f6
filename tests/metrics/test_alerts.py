"""The alert rules (charts/mini-data-platform/files/alerts.yaml) under `promtool test rules`: each
alert fires past its threshold and stays silent below it (cases/alerts-test.yaml). promtool is
Debian's (`apt-get install prometheus`; .ci/run installs it): without it this test fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "charts" / "mini-data-platform" / "files" / "alerts.yaml"
CASES = Path(__file__).parent / "cases" / "alerts-test.yaml"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool not found: apt-get install prometheus (Debian's, as .ci/run does)"
    return found


def test_the_rules_file_is_valid() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_passes_its_promtool_cases() -> None:
    done = subprocess.run(
        [promtool(), "test", "rules", CASES.name],
        cwd=CASES.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    cases = yaml.safe_load(CASES.read_text())["tests"]
    checks = [c for t in cases for c in t.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in checks if c["exp_alerts"]}
    silent = {c["alertname"] for c in checks if not c["exp_alerts"]}
    assert alerts == fired == silent
