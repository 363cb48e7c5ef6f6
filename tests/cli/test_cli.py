"""The `mdp` command as the orchestrator runs it: environment in, exit code and JSON line out."""

from __future__ import annotations

import json

import pytest

from mdp import exitcodes
from mdp.storage import ObjectStore
from tests.support.cli_process import run_cli
from tests.support.samples import sales_rows, to_csv, to_jsonl, youtube_row

pytestmark = pytest.mark.integration


def mdp(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    """(exit code, the JSON lines of stdout, stderr)."""
    code, out, err = run_cli(env, *args)
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_validate_exit_codes(step_env: dict[str, str], store: ObjectStore) -> None:
    store.put_bytes("incoming/sales/good.csv", to_csv(sales_rows(10)), "text/csv")
    store.put_bytes("incoming/sales/bad.csv", b"", "text/csv")
    code, out, err = mdp(step_env, "validate", "incoming/sales/good.csv", "--run-id", "r1")
    assert code == exitcodes.OK, err
    assert out[-1]["outcome"] == "accepted"
    code, out, err = mdp(step_env, "validate", "incoming/sales/bad.csv", "--run-id", "r1")
    assert code == exitcodes.REJECTED, err
    assert out[-1]["rule"] == "empty_file"
    assert "Traceback" not in err


def test_missing_object_is_terminal(step_env: dict[str, str]) -> None:
    code, out, err = mdp(step_env, "validate", "incoming/sales/none.csv", "--run-id", "r1")
    assert code == exitcodes.TERMINAL
    assert out[-1]["error"]["error"] == "ObjectMissingError"
    assert "Traceback" not in err


def test_unreachable_database_is_a_retryable_fault(
    step_env: dict[str, str], store: ObjectStore
) -> None:
    from mdp.devservers import free_port

    store.put_bytes("incoming/sales/good.csv", to_csv(sales_rows(10)), "text/csv")
    env = {**step_env, "PG__PORT": str(free_port()), "PG__CONNECT_TIMEOUT": "2"}
    code, out, err = mdp(env, "validate", "incoming/sales/good.csv", "--run-id", "r1")
    assert code == exitcodes.FAULT
    assert out[-1]["error"]["terminal"] is False
    assert _one_error_line(err).endswith("retrying is safe")


def _one_error_line(stderr: str) -> str:
    """The single ERROR line of a step's log; no traceback."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, stderr
    return errors[0]


def test_unreachable_object_store_is_one_line_and_retryable(step_env: dict[str, str]) -> None:
    """Issue 14: a MinIO outage printed urllib3's whole MaxRetryError traceback."""
    from mdp.devservers import free_port

    port = free_port()
    env = {**step_env, "S3__ENDPOINT": f"127.0.0.1:{port}", "S3__RETRIES": "1"}
    code, out, err = mdp(env, "validate", "incoming/sales/good.csv", "--run-id", "r1")
    assert code == exitcodes.FAULT
    line = _one_error_line(err)
    assert f"object store at 127.0.0.1:{port} is unreachable" in line
    assert line.endswith("retrying is safe")
    assert out[-1]["error"]["terminal"] is False

    code, _, err = mdp(env, "-v", "validate", "incoming/sales/good.csv", "--run-id", "r1")
    assert code == exitcodes.FAULT
    assert "Traceback" in err  # the details, with debug logging on


def test_missing_credentials_name_the_variable(step_env: dict[str, str]) -> None:
    env = {k: v for k, v in step_env.items() if not k.startswith("S3__SECRET")}
    code, out, _ = mdp(env, "validate", "incoming/sales/a.csv")
    assert code == exitcodes.TERMINAL
    assert "S3__SECRET_KEY" in str(out[-1]["error"]["message"])


def test_secret_from_mounted_file(step_env: dict[str, str], tmp_path: object) -> None:
    from pathlib import Path

    secret = Path(str(tmp_path)) / "pg-password"
    secret.write_text(step_env["PG__PASSWORD"] + "\n")
    env = {k: v for k, v in step_env.items() if k != "PG__PASSWORD"}
    env["PG__PASSWORD_FILE"] = str(secret)
    code, out, err = mdp(env, "db", "migrate")
    assert code == exitcodes.OK, err
    assert out[-1]["applied"] == []  # the test database is already migrated


def test_generate_then_validate(step_env: dict[str, str], store: ObjectStore) -> None:
    code, out, err = mdp(
        step_env,
        "generate",
        "--dataset",
        "sales",
        "--files",
        "2",
        "--rows",
        "50",
        "--format",
        "csv",
        "--seed",
        "1",
        "--now",
        "2026-03-02T00:00:00+00:00",
    )
    assert code == exitcodes.OK, err
    assert len(out) == 2
    for item in out:
        code, _, err = mdp(step_env, "validate", str(item["key"]))
        assert code == exitcodes.OK, err


def test_bad_arguments_are_usage_errors(step_env: dict[str, str]) -> None:
    code, _, err = mdp(step_env, "generate", "--dataset", "sales", "--bad-fraction", "2")
    assert code == exitcodes.USAGE
    assert "between 0 and 1" in err


def test_run_chains_the_steps(step_env: dict[str, str], store: ObjectStore) -> None:
    store.put_bytes("incoming/sales/good.csv", to_csv(sales_rows(10)), "text/csv")
    code, out, err = mdp(step_env, "run", "incoming/sales/good.csv")
    assert code == exitcodes.OK, err
    assert out[-1]["outcome"] == "loaded"
    assert out[-1]["inserted"] == 10
    store.put_bytes("incoming/sales/bad.csv", b"", "text/csv")
    code, out, _ = mdp(step_env, "run", "incoming/sales/bad.csv")
    assert code == exitcodes.REJECTED


def test_separate_steps_as_the_dag_runs_them(step_env: dict[str, str], store: ObjectStore) -> None:
    key = "incoming/youtube/v.jsonl"
    store.put_bytes(key, to_jsonl([youtube_row(i) for i in range(5)]), "application/json")
    for step in ("validate", "transform", "load"):
        code, out, err = mdp(step_env, step, key, "--run-id", "dag-1")
        assert code == exitcodes.OK, err
    assert out[-1]["outcome"] == "done"
    code, out, _ = mdp(step_env, "load", key, "--run-id", "dag-1")
    assert (code, out[-1]["outcome"]) == (exitcodes.OK, "skipped")


def test_last_attempt_fault_exits_quarantined(step_env: dict[str, str], store: ObjectStore) -> None:
    key = "incoming/sales/a.csv"
    store.put_bytes(key, to_csv(sales_rows(5)), "text/csv")
    assert mdp(step_env, "validate", key)[0] == exitcodes.OK
    store.delete_prefix("staging/")  # the transform's input is gone: a fault
    code, _, _ = mdp(step_env, "transform", key, "--attempt", "1", "--max-attempts", "2")
    assert code == exitcodes.FAULT
    code, out, _ = mdp(step_env, "transform", key, "--attempt", "2", "--max-attempts", "2")
    assert code == exitcodes.REJECTED
    assert "processing_failed" in str(out[-1]["error"]["message"])
    assert store.exists("failed/processing_failed/sales/a.csv")
