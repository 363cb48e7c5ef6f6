"""Airflow as a user runs it: scheduler, dag-processor, triggerer and api-server as processes.

The real-scheduler test needs what ``dag.test()`` skips: the scheduler's queueing (pools,
priority weights, ``max_active_runs``), the LocalExecutor's task processes, the triggerer running
the MinIO event trigger, and the API server that task processes create runs through. Each
component logs to its own file, so a failing test can show the tail of each.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def airflow_base_env(home: Path, db_url: str) -> dict[str, str]:
    """This process's environment without any AIRFLOW*/MDP_* of its own, plus an Airflow home,
    its metadata database and the production DAG folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MDP_"))}
    return env | {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        # psycopg 3 is sync and async in one driver; Airflow would otherwise ask for asyncpg.
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": db_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # Airflow puts the DAG bundle on sys.path when it parses; so does this.
        "PYTHONPATH": os.pathsep.join([str(DAGS), str(ROOT)]),
    }


def airflow_cli(env: dict[str, str], *args: str, timeout: float = 600) -> None:
    """``airflow <args>`` from the lock file's Airflow; fails the test with its output."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def create_pool(env: dict[str, str], name: str, slots: int) -> None:
    """The pool of the step tasks, created as a user's install creates it (the Airflow chart's
    values run the same idempotent CLI call, ``airflow pools set <name> <slots> <description>``)."""
    airflow_cli(env, "pools", "set", name, str(slots), "step pods", timeout=300)


def scheduler_env(env: dict[str, str], api_port: int, parallelism: int) -> dict[str, str]:
    """``env`` (database, connections, ``MDP_*``) plus what the components need to work together
    on loopback: the LocalExecutor, the execution API's address and a shared JWT secret."""
    return env | {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # New DAG files are found within seconds, not the default 5 minutes.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }


@dataclass
class AirflowProcesses:
    env: dict[str, str]
    logdir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, *components: str) -> None:
        for name in components or COMPONENTS:
            out = (self.logdir / f"{name}.log").open("ab")
            self._files.append(out)
            argv = [sys.executable, "-m", "airflow", name]
            if name == "api-server":
                argv += ["--port", self.env["AIRFLOW__API__PORT"], "--workers", "1"]
            self.procs[name] = subprocess.Popen(
                argv,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stop() ends the component and its children
            )

    def stop(self, *components: str) -> None:
        for name in components or list(self.procs):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
        if not self.procs:
            for f in self._files:
                f.close()

    def log(self, name: str) -> str:
        path = self.logdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tails(self, chars: int = 3000) -> str:
        return "\n".join(f"--- {n} ---\n{self.log(n)[-chars:]}" for n in COMPONENTS)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        assert not dead, f"Airflow components exited: {dead}\n{self.tails()}"

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        """Poll ``check`` until true; the seconds it took. Fails with every component's log."""
        start = time.monotonic()
        while not check():
            self.check_alive()
            if time.monotonic() - start > timeout:
                raise AssertionError(f"timed out after {timeout:.0f} s: {what}\n{self.tails()}")
            time.sleep(0.5)
        return time.monotonic() - start
