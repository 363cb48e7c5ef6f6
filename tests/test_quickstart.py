"""`make quickstart` end to end: real servers up, every file routed, everything cleaned up."""

from __future__ import annotations

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
    import json

    roots = json.loads(state)
    assert not Path(roots["minio"]["root"]).exists()
    assert not Path(roots["postgres"]["root"]).exists()
