"""`mdp metabase provision` as the chart's Job runs it: configuration from the environment (the
admin password from a mounted file), a JSON result line, and the documented exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer

from mdp import exitcodes
from tests.metabase.fake import FakeMetabase


def provision(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mdp.cli", "metabase", "provision", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def job_env(url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    password = tmp_path / "password"
    password.write_text("s3cret-Admin-pw\n")
    return {
        "PATH": os.environ["PATH"],
        "METABASE__URL": url,
        "METABASE__ADMIN_EMAIL": "admin@mdp.local",
        "METABASE__ADMIN_PASSWORD_FILE": str(password),
        "METABASE__RETRY_BACKOFF": "0.05",
        "PG__HOST": "mdp-postgresql",
        "PG__DATABASE": "warehouse",
        "PG__USER": "mdp_readonly",
        "PG__PASSWORD": "reader-pw",
        **extra,
    }


def result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return line


def test_provision_twice_from_the_environment(
    fake: FakeMetabase, httpserver: HTTPServer, tmp_path: Path
) -> None:
    env = job_env(httpserver.url_for("/"), tmp_path)

    first = provision(env)
    second = provision(env)

    assert first.returncode == exitcodes.OK, first.stderr
    assert result(first)["setup_completed"] is True
    assert result(first)["created"]["dashboard"] == ["sales", "youtube", "pipeline"]
    assert fake.users == {"admin@mdp.local": "s3cret-Admin-pw"}  # the file, without its newline
    assert "created question sales.revenue_daily" in first.stderr  # progress in the log
    assert second.returncode == exitcodes.OK, second.stderr
    assert result(second)["created"] == {}
    assert result(second)["updated"] == {}
    assert result(second)["unchanged"]["question"] == 20


def test_missing_admin_credentials_fail_before_any_request(
    fake: FakeMetabase, httpserver: HTTPServer, tmp_path: Path
) -> None:
    env = job_env(httpserver.url_for("/"), tmp_path)
    del env["METABASE__ADMIN_PASSWORD_FILE"]

    done = provision(env)

    assert done.returncode == exitcodes.TERMINAL
    assert "set METABASE__ADMIN_EMAIL and METABASE__ADMIN_PASSWORD" in done.stderr
    assert result(done)["error"]["error"] == "ConfigError"
    assert fake.calls == []


def test_a_broken_dashboards_file_fails_before_any_request(
    fake: FakeMetabase, httpserver: HTTPServer, tmp_path: Path
) -> None:
    broken = tmp_path / "dashboards.yaml"
    broken.write_text("collections: []\nquestions: []\ndashboards: [{key: x}]\n")

    done = provision(job_env(httpserver.url_for("/"), tmp_path), "--content", str(broken))

    assert done.returncode == exitcodes.TERMINAL
    assert str(broken) in done.stderr
    assert fake.calls == []


def test_metabase_not_coming_up_is_a_retryable_failure(tmp_path: Path) -> None:
    env = job_env("http://127.0.0.1:9", tmp_path, METABASE__WAIT_TIMEOUT="0.2")

    done = provision(env)

    assert done.returncode == exitcodes.FAULT  # the Job's backoffLimit tries again
    assert "was not healthy after" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_warehouse_metabase_cannot_connect_to_is_a_retryable_failure(
    fake: FakeMetabase, httpserver: HTTPServer, tmp_path: Path
) -> None:
    fake.warehouse.logins = {}  # the read-only login does not exist (yet)

    done = provision(job_env(httpserver.url_for("/"), tmp_path))

    assert done.returncode == exitcodes.FAULT  # the Job's backoffLimit tries again
    assert "Metabase could not connect to the warehouse as mdp_readonly" in done.stderr
    assert result(done)["error"]["terminal"] is False
    assert "Traceback" not in done.stderr


def test_a_weak_admin_password_fails_for_good_with_the_policy_named(
    fake: FakeMetabase, httpserver: HTTPServer, tmp_path: Path
) -> None:
    env = job_env(httpserver.url_for("/"), tmp_path)
    Path(env["METABASE__ADMIN_PASSWORD_FILE"]).write_text("qwerty123\n")

    done = provision(env)

    assert done.returncode == exitcodes.TERMINAL
    (line,) = [ln for ln in done.stderr.splitlines() if "refused the admin password" in ln]
    assert "password policy" in line
    assert "metabaseAdmin Secret" in line
    assert result(done)["error"]["error"] == "ConfigError"
