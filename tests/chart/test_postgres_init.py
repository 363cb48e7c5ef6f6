"""The chart's PostgreSQL init script, run for real: on a fresh server, as the official image
runs it, then the setup Job's `mdp db migrate` as the warehouse owner, then each login's rights.

A server of its own (not the session one) because roles are cluster-wide."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest

from mdp.devservers import PostgresServer
from tests.chart.conftest import render_chart

pytestmark = pytest.mark.integration

PASSWORDS = {
    "OWNER_PASSWORD": "owner-pw",
    "PIPELINE_PASSWORD": "pipeline-pw",
    "READER_PASSWORD": "reader-pw",
    "AIRFLOW_PASSWORD": "airflow-pw",
    "METABASE_PASSWORD": "metabase-pw",
    "METRICS_PASSWORD": "metrics-pw",
}


@pytest.fixture(scope="module")
def initialised() -> Iterator[PostgresServer]:
    server = PostgresServer.start()
    (cm,) = render_chart(show_only=["templates/postgres/postgres-init-configmap.yaml"])
    env = {
        "PATH": f"{server.bindir}:/usr/bin:/bin",
        "POSTGRES_USER": server.user,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(server.port),
        "PGPASSWORD": server.password,
        **PASSWORDS,
    }
    done = subprocess.run(
        ["sh", "-c", cm["data"]["10-mdp.sh"]], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    migrate = subprocess.run(
        [sys.executable, "-m", "mdp.cli", "db", "migrate"],
        env={
            "PATH": os.environ["PATH"],
            "PG__HOST": "127.0.0.1",
            "PG__PORT": str(server.port),
            "PG__DATABASE": "warehouse",
            "PG__USER": "mdp_owner",
            "PG__PASSWORD": PASSWORDS["OWNER_PASSWORD"],
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    yield server
    server.stop()


def _connect(server: PostgresServer, user: str, password: str, db: str) -> psycopg.Connection:
    return psycopg.connect(
        host="127.0.0.1", port=server.port, user=user, password=password, dbname=db,
        autocommit=True,
    )  # fmt: skip


def test_pipeline_login_writes_warehouse_and_audit_but_no_ddl(initialised) -> None:
    with _connect(initialised, "mdp_pipeline", "pipeline-pw", "warehouse") as c:
        c.execute(
            "INSERT INTO audit.file_ingestion_log (dataset, object_key, size_bytes, sha256,"
            " run_id, status) VALUES ('sales', 'incoming/sales/a.csv', 1, %s, 'r', 'received')",
            ("a" * 64,),
        )
        assert c.execute("SELECT count(*) FROM warehouse.sales").fetchone() == (0,)
        c.execute("CREATE TEMP TABLE t (x int)")  # the load's staging tables
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("CREATE TABLE warehouse.evil (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("DELETE FROM audit.file_ingestion_log")


def test_reader_login_only_reads(initialised) -> None:
    with _connect(initialised, "mdp_readonly", "reader-pw", "warehouse") as c:
        assert c.execute("SELECT count(*) FROM audit.file_ingestion_log").fetchone() is not None
        # Metabase's connection: every KPI view, as the migrations' owner created them.
        views = c.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'analytics'"
        ).fetchall()
        assert len(views) == 12
        for (view,) in views:
            c.execute(f"SELECT * FROM analytics.{view} LIMIT 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO warehouse.channel_stats (channel_id) VALUES ('x')")


def test_metrics_login_reads_the_audit_totals_and_nothing_else(initialised) -> None:
    """The exporter's login (mdp_monitor, granted by migration 009 as the owner runs it)."""
    from mdp.metrics.collect import read_audit

    with _connect(initialised, "mdp_metrics", "metrics-pw", "warehouse") as c:
        assert read_audit(c).finished == {}
        for statement in (
            "SELECT count(*) FROM warehouse.sales",
            "SELECT count(*) FROM audit.file_reprocessing",
            "SELECT count(*) FROM analytics.ingestion_daily",
            "UPDATE audit.file_ingestion_totals SET files = 0",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)


def test_the_pipeline_login_keeps_the_totals_as_files_finish(initialised) -> None:
    """The steps run as mdp_pipeline: its updates fire the totals' triggers, which need its
    rights on the totals tables (the owner's default privileges give them)."""
    with _connect(initialised, "mdp_pipeline", "pipeline-pw", "warehouse") as c:
        (row_id,) = c.execute(
            "INSERT INTO audit.file_ingestion_log (dataset, object_key, size_bytes, sha256,"
            " run_id, status) VALUES ('sales', 'incoming/sales/t.csv', 1, %s, 'r', 'duplicate')"
            " RETURNING id",
            ("f" * 64,),
        ).fetchone()  # type: ignore[misc]
        c.execute(
            "UPDATE audit.file_ingestion_log SET finished_at = now() WHERE id = %s", (row_id,)
        )
    with _connect(initialised, "mdp_metrics", "metrics-pw", "warehouse") as c:
        from mdp.metrics.collect import read_audit

        assert read_audit(c).finished[("sales", "duplicate")].files == 1


@pytest.mark.parametrize(
    ("user", "password", "own", "foreign"),
    [
        ("airflow", "airflow-pw", "airflow", "warehouse"),
        ("metabase", "metabase-pw", "metabase", "airflow"),
    ],
)
def test_application_logins_own_their_database_only(
    initialised, user: str, password: str, own: str, foreign: str
) -> None:
    with _connect(initialised, user, password, own) as c:
        c.execute("CREATE TABLE mine (x int)")
    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        _connect(initialised, user, password, foreign)
