"""The harness of the crash tests: servers of their own, a world per case, the orchestrator's
rerun rules, and the invariant "nothing lost, nothing twice".

The crash sweep (tests/test_crash_sweep.py) and the soak test (tests/test_soak.py) restart
PostgreSQL and stop MinIO, so they get servers of their own (``CrashServers``) instead of the
session's: other tests never see those outages. PostgreSQL runs with durable commits here: with
``synchronous_commit=off`` an immediate restart may lose a commit the step was told succeeded,
which no step could repair.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from minio import Minio

from mdp import layout
from mdp.audit import AuditLog
from mdp.config import S3Settings
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer
from mdp.errors import BusyError, MdpError, Quarantined
from mdp.load.step import load_object
from mdp.steps import Outcome
from mdp.storage import ObjectStore
from mdp.storage.object_store import http_client
from mdp.transform.step import transform_object
from mdp.validate.step import validate_object
from tests.support.warehouse import dump

T = TypeVar("T")
STEPS = ("validate", "transform", "load")
TERMINAL_STATUSES = {
    "loaded": layout.ARCHIVE,
    "duplicate": layout.ARCHIVE,
    "validation_failed": f"{layout.FAILED}/validation_failed",
    "processing_failed": f"{layout.FAILED}/processing_failed",
    "loading_failed": f"{layout.FAILED}/loading_failed",
}
TEMPLATE = "crash_template"


def retry_busy(call: Callable[[], T], timeout: float = 30.0) -> T:
    """Call until the claim of a killed process is gone: PostgreSQL releases a dead session's
    advisory lock once it notices the closed socket, a few milliseconds later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except BusyError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class CrashServers:
    minio: MinioServer
    pg: PostgresServer

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[CrashServers]:
        pg = PostgresServer.start(durable_commits=True)
        minio: MinioServer | None = None
        try:
            with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {TEMPLATE}")
            with psycopg.connect(pg.conninfo(TEMPLATE)) as conn:
                migrate(conn)
            minio = MinioServer.start()
            yield cls(minio, pg)
        finally:
            if minio is not None:
                minio.stop()
            pg.stop()

    def world(self) -> World:
        """A fresh bucket and a fresh migrated database."""
        name = f"w_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.pg.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        settings = S3Settings(
            endpoint=self.minio.endpoint,
            access_key=self.minio.access_key,
            secret_key=self.minio.secret_key,  # type: ignore[arg-type]
            bucket=f"w-{uuid.uuid4().hex[:20]}",
            connect_timeout=2,
            retries=1,
        )
        client = Minio(
            settings.endpoint,
            access_key=self.minio.access_key,
            secret_key=self.minio.secret_key,
            secure=False,
            http_client=http_client(settings),
        )
        store = ObjectStore(client, settings.bucket)
        store.ensure_bucket()
        env = {
            **os.environ,
            "S3__ENDPOINT": self.minio.endpoint,
            "S3__ACCESS_KEY": self.minio.access_key,
            "S3__SECRET_KEY": self.minio.secret_key,
            "S3__BUCKET": settings.bucket,
            "S3__RETRIES": "0",
            "S3__CONNECT_TIMEOUT": "2",
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(self.pg.port),
            "PG__DATABASE": name,
            "PG__USER": self.pg.user,
            "PG__PASSWORD": self.pg.password,
            "PG__CONNECT_TIMEOUT": "2",
        }
        env.pop("MDP__CRASH_AT", None)
        return World(store, self.pg.conninfo(name), env)


Hook = Callable[["World", str, str], None]
"""Called before every in-process run of a step: (world, step, key); fault scenarios break the
file's derived objects here so the fault is the same on every attempt."""


@dataclass
class World:
    store: ObjectStore
    conninfo: str
    env: dict[str, str]
    hook: Hook | None = None
    arrivals: dict[str, int] = field(default_factory=dict)
    """Validate runs per key that found the object in incoming/ (each counts one attempt)."""

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, autocommit=True)

    def step(self, step: str, key: str, attempt: int = 1, max_attempts: int = 2) -> str:
        """Run one step in this process; 'next', 'stop' (the file's journey ended) or 'fault'."""
        if self.hook is not None:
            self.hook(self, step, key)
        try:
            with self.connect() as conn:
                audit = AuditLog(conn)
                if step == "validate":
                    if self.store.exists(key):
                        self.arrivals[key] = self.arrivals.get(key, 0) + 1
                    result = retry_busy(lambda: validate_object(key, "rerun", self.store, audit))
                    if result.outcome in (Outcome.REJECTED, Outcome.DUPLICATE):
                        return "stop"
                    return "next"
                func = transform_object if step == "transform" else load_object
                retry_busy(
                    lambda: func(
                        key, "rerun", self.store, audit, attempt=attempt, max_attempts=max_attempts
                    )
                )
                return "next"
        except Quarantined:
            return "stop"
        except MdpError as e:
            if e.terminal:
                raise
            return "fault"
        except Exception:  # exit 1 of the CLI: the orchestrator retries
            return "fault"

    def orchestrate(
        self, key: str, start: str = "validate", attempt: int = 1, max_attempts: int = 2
    ) -> None:
        """Run the file from ``start`` as the DAG would: a step that faults is retried, after a
        growing delay, with the next attempt number; when its attempts ran out, the next DAG
        run starts again at validate (the file is still, or again, in incoming/ or a step has
        work to finish)."""
        index = STEPS.index(start)
        for tries in range(12):
            if index == len(STEPS):
                return
            outcome = self.step(STEPS[index], key, attempt, max_attempts)
            if outcome == "stop":
                return
            if outcome == "next":
                index, attempt = index + 1, 1
                continue
            time.sleep(0.2 * tries)  # the retry delay: a restarting server needs a moment
            if attempt < max_attempts:
                attempt += 1
            else:
                index, attempt = 0, 1
        raise AssertionError(f"{key} did not settle")

    def mdp(
        self, step: str, key: str, *, crash_at: str, attempt: int = 1, max_attempts: int = 2
    ) -> subprocess.Popen[str]:
        """Start ``mdp <step> <key>`` as the orchestrator would, with a crash point armed."""
        if step == "validate" and self.store.exists(key):
            self.arrivals[key] = self.arrivals.get(key, 0) + 1
        args = [sys.executable, "-m", "mdp.cli", step, key, "--run-id", "killed"]
        if step != "validate":
            args += ["--attempt", str(attempt), "--max-attempts", str(max_attempts)]
        return subprocess.Popen(
            args,
            env={**self.env, "MDP__CRASH_AT": crash_at},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def audit_rows(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT object_key, sha256, status, final_key, finished_at IS NOT NULL AS finished,"
        " rows_in, rows_valid, rows_rejected, rows_inserted, rows_updated,"
        " duplicate_of IS NOT NULL AS is_duplicate, attempts"
        " FROM audit.file_ingestion_log ORDER BY object_key, id"
    )
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


@dataclass
class State:
    """Everything a run leaves behind that the invariant speaks about."""

    objects: list[str]
    rows: list[dict[str, Any]]
    warehouse: dict[str, tuple[int, str]]
    contents: dict[str, str]
    """SHA-256 of every raw file kept in archive/ and failed/."""

    @classmethod
    def of(cls, world: World) -> State:
        objects = sorted(world.store.list(""))
        contents = {
            key: hashlib.sha256(b"".join(world.store.stream(key))).hexdigest()
            for key in objects
            if key.startswith((layout.ARCHIVE + "/", layout.FAILED + "/"))
            and not key.endswith(".error.json")
        }
        with world.connect() as conn:
            return cls(objects, audit_rows(conn), dump(conn), contents)

    def without_attempts(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "attempts"} for r in self.rows]


def assert_invariant(state: State, uploads: dict[tuple[str, str], int]) -> None:
    """Every uploaded object version has exactly one audit row, finished, with a terminal status
    that matches where its file is; nothing is left in incoming/; every file in archive/ or
    failed/ is some row's final key; a loaded file's derived objects are gone.

    ``uploads`` counts uploads per (key, sha256)."""
    assert [k for k in state.objects if k.startswith(layout.INCOMING + "/")] == []
    per_version: dict[tuple[str, str], int] = {}
    for row in state.rows:
        version = (row["object_key"], row["sha256"])
        per_version[version] = per_version.get(version, 0) + 1
        assert row["status"] in TERMINAL_STATUSES, row
        assert row["finished"], row
        assert row["final_key"].startswith(TERMINAL_STATUSES[row["status"]] + "/"), row
        assert state.contents.get(row["final_key"]) == row["sha256"], row  # never overwritten
        if row["status"].endswith("_failed"):
            assert layout.error_report_key(row["final_key"]) in state.objects, row
        if row["status"] == "loaded":
            fid = layout.file_id(row["sha256"])
            derived = [
                k
                for k in state.objects
                if k.startswith((layout.STAGING + "/", layout.TRANSFORMED + "/"))
                and f"/{fid}/" in k
            ]
            assert derived == [], row
    assert per_version == uploads
    finals = {r["final_key"] for r in state.rows}
    assert set(state.contents) <= finals, set(state.contents) - finals
