"""Throwaway MinIO and PostgreSQL servers as local processes, on random loopback ports.

Used by the test fixtures (and the local quickstart) so that everything runs against the real
servers, never mocks. Each server gets a fresh data directory and random credentials, listens on
127.0.0.1 only, and is stopped and deleted by ``stop()``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"


class ServerError(RuntimeError):
    """A local server could not be found or started; the message says what to install."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(
    check: Callable[[], bool], what: str, timeout: float, proc: subprocess.Popen[bytes] | None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServerError(f"{what} exited early with code {proc.returncode}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.1)
    raise ServerError(f"{what} did not become ready within {timeout:.0f}s")


def find_minio() -> Path:
    """$MINIO_BINARY, then the repository's .tools/bin (where `make dev` builds it), then PATH."""
    candidates = [os.environ.get("MINIO_BINARY"), str(REPO_TOOLS / "minio"), shutil.which("minio")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    raise ServerError(
        "no MinIO server binary: run `make tools` (builds it with `go install` into .tools/bin) "
        "or set MINIO_BINARY"
    )


def find_pg_bindir() -> Path:
    """$PG_BINDIR, then the newest /usr/lib/postgresql/<v>/bin, then initdb on PATH."""
    env = os.environ.get("PG_BINDIR")
    if env:
        return Path(env)
    versions = (
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name),
            reverse=True,
        )
        if Path("/usr/lib/postgresql").is_dir()
        else []
    )
    for v in versions:
        if (v / "initdb").exists():
            return v
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ServerError(
        "no PostgreSQL server binaries: install them (Debian: apt-get install postgresql) "
        "or set PG_BINDIR to the directory holding initdb and pg_ctl"
    )


@dataclass
class MinioServer:
    """A MinIO server on 127.0.0.1 with root credentials of its own."""

    port: int
    console_port: int
    access_key: str
    secret_key: str
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, binary: Path | None = None, timeout: float = 60.0) -> MinioServer:
        root = Path(tempfile.mkdtemp(prefix="mdp-minio-"))
        server = cls(
            port=free_port(),
            console_port=free_port(),
            access_key="mdp-" + secrets.token_hex(4),
            secret_key=secrets.token_urlsafe(24),
            root=root,
        )
        server.binary = binary or find_minio()
        try:
            server.resume(timeout)
        except ServerError:
            server.stop()
            raise
        return server

    binary: Path | None = None

    def resume(self, timeout: float = 60.0) -> None:
        """Start the server process on this server's port and data (again, after ``halt``)."""
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.access_key,
            "MINIO_ROOT_PASSWORD": self.secret_key,
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            "MINIO_CI_CD": "on",
        }
        log = (self.root / "minio.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                str(self.binary or find_minio()),
                "server",
                str(self.root / "data"),
                "--address",
                self.endpoint,
                "--console-address",
                f"127.0.0.1:{self.console_port}",
                "--quiet",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in the terminal goes to us; we stop it in order
        )
        self.pid = self.process.pid
        url = f"http://{self.endpoint}/minio/health/live"
        _wait(
            lambda: urllib.request.urlopen(url, timeout=1).status == 200,
            "MinIO",
            timeout,
            self.process,
        )

    def halt(self) -> None:
        """Stop the server process but keep its data (an outage; ``resume`` ends it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    pid: int | None = None
    """Process id, kept so another process (``make quickstart-down``) can stop the server."""

    def stop(self) -> None:
        if self.process is not None:
            self.halt()
        elif self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1 with a password-protected superuser."""

    port: int
    user: str
    password: str
    root: Path
    bindir: Path
    prefix: list[str] = field(default_factory=list, repr=False)
    """Command prefix that runs the server tools as the postgres user when we are root."""

    @classmethod
    def start(
        cls, bindir: Path | None = None, timeout: float = 60.0, *, durable_commits: bool = False
    ) -> PostgresServer:
        """A new cluster. Without ``durable_commits`` a commit returns before its WAL is written
        (fast, for tests); with it, a committed transaction survives an immediate restart (a
        crash of the server), which the crash tests need."""
        bindir = bindir or find_pg_bindir()
        root = Path(tempfile.mkdtemp(prefix="mdp-pg-"))
        server = cls(
            port=free_port(),
            user="mdp_admin",
            password=secrets.token_urlsafe(24),
            root=root,
            bindir=bindir,
        )
        data = root / "data"
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root: run it as the `postgres` system user.
            if shutil.which("runuser") is None or not _user_exists("postgres"):
                raise ServerError("running as root needs the 'postgres' user and runuser")
            server.prefix = ["runuser", "-u", "postgres", "--"]
            root.chmod(0o755)
            shutil.chown(root, "postgres")
        pwfile = root / "pw"
        pwfile.write_text(server.password)
        if server.prefix:
            shutil.chown(pwfile, "postgres")
        server._run(
            "initdb",
            "-D",
            str(data),
            "-U",
            server.user,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "-E",
            "UTF8",
            "--locale",
            "C.UTF-8",
            "--no-sync",
        )
        pwfile.unlink()
        options = (
            f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        if not durable_commits:
            options += " -c synchronous_commit=off"
        server._run(
            "pg_ctl",
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "pg.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )
        return server

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            raise ServerError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def conninfo(self, dbname: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={dbname} user={self.user} "
            f"password={self.password}"
        )

    def restart_immediately(self, timeout: float = 60.0) -> None:
        """``pg_ctl restart -m immediate``: the server dies like a crash (every session cut,
        open transactions lost) and recovers from its WAL, with the options it had."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-m",
            "immediate",
            "-l",
            str(self.root / "pg.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "restart",
        )

    def stop(self) -> None:
        with contextlib.suppress(ServerError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
