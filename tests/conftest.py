"""Session fixtures: a real MinIO and a real PostgreSQL server on random loopback ports.

Each test gets its own bucket and its own database (cloned from a migrated template, ~50 ms),
so tests are isolated without restarting servers. Nothing here mocks S3 or SQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from minio import Minio

from mdp.audit import AuditLog
from mdp.db.migrate import migrate
from mdp.devservers import MinioServer, PostgresServer
from mdp.storage import ObjectStore
from tests.support.servers import TEMPLATE_DB, Database

# tests/cluster needs kind and its node image (`make test-cluster` builds the image and sets
# MDP_KIND_NODE_IMAGE); `make test` leaves it out.
collect_ignore = [] if os.environ.get("MDP_KIND_NODE_IMAGE") else ["cluster"]

SERVER_FIXTURES = {"minio_server", "pg_server"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`make test-unit` runs the tests marked neither integration nor e2e: a test that uses the
    servers must carry one of the two, or the unit run would start them after all.

    The e2e files go first (a stable sort, so every file keeps its own order): they take minutes
    each, and `make test`'s workers finish soonest when the longest files start at once rather
    than last."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("e2e") else 1)
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        and not any(item.iter_markers("integration"))
        and not any(item.iter_markers("e2e"))
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the MinIO/PostgreSQL servers; mark them integration (or e2e): "
            + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def minio_server() -> Iterator[MinioServer]:
    server = MinioServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    with psycopg.connect(server.conninfo(TEMPLATE_DB)) as conn:
        migrate(conn)
    yield server
    server.stop()


@pytest.fixture
def store(minio_server: MinioServer) -> ObjectStore:
    client = Minio(
        minio_server.endpoint,
        access_key=minio_server.access_key,
        secret_key=minio_server.secret_key,
        secure=False,
    )
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    s = ObjectStore(client, bucket)
    s.ensure_bucket()
    return s


@pytest.fixture
def database(pg_server: PostgresServer) -> Iterator[Database]:
    """A fresh, migrated database of its own for one test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    yield Database(pg_server, name)
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def conn(database: Database) -> Iterator[psycopg.Connection]:
    with database.connect() as c:
        yield c


@pytest.fixture
def audit(conn: psycopg.Connection) -> AuditLog:
    return AuditLog(conn)


@pytest.fixture
def step_env(minio_server: MinioServer, store: ObjectStore, database: Database) -> dict[str, str]:
    """Environment for running `mdp` as a subprocess against the test servers."""
    return {
        **os.environ,
        "S3__ENDPOINT": minio_server.endpoint,
        "S3__ACCESS_KEY": minio_server.access_key,
        "S3__SECRET_KEY": minio_server.secret_key,
        "S3__BUCKET": store.bucket,
        "PG__HOST": "127.0.0.1",
        "PG__PORT": str(database.server.port),
        "PG__DATABASE": database.name,
        "PG__USER": database.server.user,
        "PG__PASSWORD": database.server.password,
    }
