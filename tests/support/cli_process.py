"""Run the `mdp` command as a separate process, as the orchestrator and the pods do."""

from __future__ import annotations

import subprocess
import sys


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, str, str]:
    """``python -m mdp.cli ARGS`` with exactly ``env``; (exit code, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "mdp.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr
