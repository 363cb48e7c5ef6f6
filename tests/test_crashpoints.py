"""The crash-point switch: off by default, read once at start, refuses names it does not know."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from mdp import crashpoints
from mdp.errors import ConfigError


def _run(env_value: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"MDP__CRASH_AT": env_value, "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )


def test_unarmed_points_do_nothing() -> None:
    for name in crashpoints.POINTS:
        crashpoints.crash_point(name)


def test_an_unregistered_point_is_a_bug() -> None:
    with pytest.raises(KeyError):
        crashpoints.crash_point("nowhere")


def test_an_armed_point_kills_the_process() -> None:
    code = (
        "from mdp.crashpoints import crash_point\n"
        "crash_point('load.before_commit')\nprint('survived before', flush=True)\n"
        "crash_point('load.after_commit')\nprint('survived after', flush=True)\n"
    )
    done = _run("load.after_commit", code)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == "survived before\n"


def test_the_switch_is_read_once_at_import() -> None:
    code = (
        "import os\nfrom mdp.crashpoints import crash_point\n"
        "os.environ['MDP__CRASH_AT'] = ''\ncrash_point('load.after_commit')\n"
    )
    assert _run("load.after_commit", code).returncode == -signal.SIGKILL


def test_unknown_names_and_actions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crashpoints, "_ARMED", crashpoints._parse("load.after_comit"))
    with pytest.raises(ConfigError, match=r"load\.after_comit"):
        crashpoints.check()
    monkeypatch.setattr(crashpoints, "_ARMED", crashpoints._parse("load.after_commit:explode"))
    with pytest.raises(ConfigError, match="explode"):
        crashpoints.check()
    monkeypatch.setattr(crashpoints, "_ARMED", crashpoints._parse("load.after_commit:pause"))
    crashpoints.check()
