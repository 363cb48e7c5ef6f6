"""The known sequence of files the metrics tests measure, run through the real steps on the
session's MinIO and PostgreSQL, and the exporter serving them on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pydantic import SecretStr

from mdp.audit import AuditLog
from mdp.config import PostgresSettings
from mdp.metrics.collect import read_backlog
from mdp.metrics.exporter import PostgresAudit, Sources, make_exporter
from mdp.run import Pipeline
from mdp.storage import ObjectStore
from tests.support.samples import sales_row, sales_rows, to_csv, to_jsonl, youtube_row
from tests.support.servers import Database

GOOD_ROWS = 39
"""Valid rows of the good file; it also has one bad row (quantity 0), under the 5% limit."""
BAD_ROWS = 10
"""Rows of the rejected file: every one breaks the contract, so the file does."""


@dataclass(frozen=True)
class Sequence:
    """What the fixture did: one file loaded, its copy a duplicate, one rejected, and one file
    per dataset left waiting in incoming/."""

    good_finished: datetime
    """finished_at of the loaded file, as the audit log has it."""
    rejected_rule: str
    waiting: dict[str, str]
    """dataset -> the key left in incoming/."""


def pg_settings(
    database: Database, user: str | None = None, password: str | None = None
) -> PostgresSettings:
    return PostgresSettings(
        host="127.0.0.1",
        port=database.server.port,
        database=database.name,
        user=user or database.server.user,
        password=SecretStr(password or database.server.password),
    )


@pytest.fixture
def sequence(store: ObjectStore, audit: AuditLog) -> Sequence:
    return run_sequence(store, audit)


def run_sequence(store: ObjectStore, audit: AuditLog) -> Sequence:
    """The known sequence, through the real steps (``mdp.run.Pipeline``)."""
    good = to_csv([*sales_rows(GOOD_ROWS), sales_row(GOOD_ROWS + 1, quantity=0, total_amount=0)])
    bad = to_csv(sales_rows(BAD_ROWS, quantity=0, total_amount=0))
    outcomes = {}
    for key, data in [
        ("incoming/sales/good.csv", good),
        ("incoming/sales/copy-of-good.csv", good),
        ("incoming/sales/bad.csv", bad),
    ]:
        store.put_bytes(key, data, "text/csv")
        outcomes[key] = Pipeline(store, audit).run(key, "metrics-test")["outcome"]
    assert outcomes == {
        "incoming/sales/good.csv": "loaded",
        "incoming/sales/copy-of-good.csv": "duplicate",
        "incoming/sales/bad.csv": "rejected",
    }
    waiting = {"sales": "incoming/sales/waiting.csv", "youtube": "incoming/youtube/waiting.jsonl"}
    store.put_bytes(waiting["sales"], good.replace(b"S0000", b"W0000"), "text/csv")
    store.put_bytes(waiting["youtube"], to_jsonl([youtube_row()]), "application/x-ndjson")
    finished, rule = audit.conn.execute(
        "SELECT (SELECT finished_at FROM audit.file_ingestion_log WHERE status = 'loaded'),"
        " (SELECT error->>'rule' FROM audit.file_ingestion_log"
        "  WHERE status = 'validation_failed')"
    ).fetchone()  # type: ignore[misc]
    return Sequence(good_finished=finished, rejected_rule=rule, waiting=waiting)


def sources_for(store: ObjectStore, database: Database, **overrides: Any) -> Sources:
    """The exporter's sources on the test servers, as `mdp metrics serve` builds them."""
    found: dict[str, Any] = {
        "audit": PostgresAudit(pg_settings(database)),
        "backlog": lambda known: read_backlog(store, known),
        "datasets": ("sales", "youtube"),
    }
    return Sources(**(found | overrides))


@pytest.fixture
def exporter(store: ObjectStore, database: Database) -> Iterator[str]:
    """The exporter on the test servers, on a free loopback port: its base URL."""
    server = make_exporter(sources_for(store, database), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()
