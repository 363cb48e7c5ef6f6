"""`make quickstart` end to end: real servers up, every file routed, everything cleaned up."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_quickstart_runs_and_cleans_up(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mdp.quickstart", "--no-wait"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "0 object(s) left in incoming/" in out
    assert "loaded" in out and "validation_failed" in out
    assert "sales " in out and "channel_stats" in out
    assert not (tmp_path / ".quickstart.json").exists()


def test_quickstart_down_stops_a_running_quickstart(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdp.quickstart"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        if "servers stay up" in line:
            break
        assert time.monotonic() < deadline
    state = (tmp_path / ".quickstart.json").read_text()
    down = subprocess.run(
        [sys.executable, "-m", "mdp.quickstart", "--down"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert down.returncode == 0, down.stderr
    assert proc.wait(timeout=30) == 0
    assert not (tmp_path / ".quickstart.json").exists()
    roots = json.loads(state)
    assert not Path(roots["minio"]["root"]).exists()
    assert not Path(roots["postgres"]["root"]).exists()


def _start_and_read_until(tmp_path: Path, marker: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mdp.quickstart"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        if marker in line:
            break
        assert time.monotonic() < deadline
    else:
        raise AssertionError(f"the quickstart ended before printing {marker!r}")
    return proc, (tmp_path / ".quickstart.json").read_text()


def _interrupt_twice(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C, then a second one while the clean-up runs (as `make` and `uv run` each pass an
    interrupt on): the second must not cut the clean-up short."""
    assert proc.stdout is not None
    proc.send_signal(signal.SIGINT)
    rest = []
    for line in proc.stdout:
        rest.append(line)
        if "stopping MinIO and PostgreSQL" in line:
            proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    return "".join(rest)


def _nothing_left(tmp_path: Path, state: str) -> None:
    assert not (tmp_path / ".quickstart.json").exists()
    roots = json.loads(state)
    assert not Path(roots["minio"]["root"]).exists()
    assert not Path(roots["postgres"]["root"]).exists()


def test_two_interrupts_while_waiting_stop_everything_in_one_line(tmp_path: Path) -> None:
    proc, state = _start_and_read_until(tmp_path, "servers stay up")
    rest = _interrupt_twice(proc)
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest, rest
    assert rest.count("stopping MinIO and PostgreSQL") == 1, rest
    _nothing_left(tmp_path, state)


def test_two_interrupts_during_the_demo_stop_everything(tmp_path: Path) -> None:
    proc, state = _start_and_read_until(tmp_path, "[quickstart] run")
    rest = _interrupt_twice(proc)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest, rest
    _nothing_left(tmp_path, state)
