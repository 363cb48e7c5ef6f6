"""Every metric's value after the known sequence of files (tests/metrics/conftest.py), scraped
over HTTP from the exporter running against the real MinIO and PostgreSQL."""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mdp.config import PostgresSettings
from mdp.metrics.collect import read_audit, read_backlog
from mdp.metrics.exporter import PlatformCollector, PostgresAudit, Sources
from mdp.storage import ObjectStore
from tests.metrics.conftest import BAD_ROWS, GOOD_ROWS, Sequence, pg_settings, sources_for
from tests.support.servers import Database

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """(sample name, sorted labels) -> value of every sample of a scrape."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:  # noqa: S310
        return samples(response.read().decode())


def collect(sources: Sources) -> Samples:
    out: Samples = {}
    for family in PlatformCollector(sources).collect():
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def only(found: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in found.items() if n == name}


def L(**labels: str) -> tuple[tuple[str, str], ...]:  # noqa: N802 - reads like a label set
    return tuple(sorted(labels.items()))


FINAL = ("loaded", "duplicate", "validation_failed", "processing_failed", "loading_failed")


def nonzero(values: dict[tuple[tuple[str, str], ...], float]) -> dict[Any, float]:
    return {k: v for k, v in values.items() if v}


def test_each_metric_after_the_known_sequence(sequence: Sequence, exporter: str) -> None:
    found = scrape(exporter)
    files = only(found, "mdp_files_total")
    # Every dataset of the contracts and final status is a series from 0 on.
    assert set(files) == {L(dataset=d, status=s) for d in ("sales", "youtube") for s in FINAL}
    assert nonzero(files) == {
        L(dataset="sales", status="loaded"): 1,
        L(dataset="sales", status="duplicate"): 1,
        L(dataset="sales", status="validation_failed"): 1,
    }
    assert only(found, "mdp_rows_loaded_total") == {
        L(dataset="sales"): GOOD_ROWS,
        L(dataset="youtube"): 0,
    }
    # The good file's one bad row and every row of the rejected file.
    assert nonzero(only(found, "mdp_rows_rejected_total")) == {L(dataset="sales"): 1 + BAD_ROWS}
    assert only(found, "mdp_quarantined_files_total") == {
        L(dataset="sales", stage="validation_failed", rule=sequence.rejected_rule): 1
    }
    in_progress = only(found, "mdp_files_in_progress")
    assert len(in_progress) == 2 * 3 and nonzero(in_progress) == {}
    assert only(found, "mdp_backlog_files") == {L(dataset="sales"): 1, L(dataset="youtube"): 1}
    ages = only(found, "mdp_backlog_oldest_age_seconds")
    assert set(ages) == {L(dataset="sales"), L(dataset="youtube")}
    assert all(0 <= age < 120 for age in ages.values()), ages
    assert only(found, "mdp_last_successful_load_timestamp_seconds") == {
        L(dataset="sales"): pytest.approx(sequence.good_finished.timestamp())
    }
    for status in ("loaded", "duplicate", "validation_failed"):
        labels = L(dataset="sales", status=status)
        assert only(found, "mdp_file_latency_seconds_count")[labels] == 1
        assert 0 < only(found, "mdp_file_latency_seconds_sum")[labels] < 60
        buckets = {
            dict(k)["le"]: v
            for k, v in only(found, "mdp_file_latency_seconds_bucket").items()
            if dict(k)["dataset"] == "sales" and dict(k)["status"] == status
        }
        assert len(buckets) == 12 + 1  # audit.latency_bounds() and +Inf
        assert buckets["+Inf"] == 1 and buckets["60.0"] == 1  # took seconds, not minutes
    assert only(found, "mdp_exporter_source_up") == {L(source="postgres"): 1, L(source="minio"): 1}
    assert only(found, "mdp_exporter_source_errors_total") == {
        L(source="postgres"): 0,
        L(source="minio"): 0,
    }
    assert 0 < found[("mdp_exporter_scrape_duration_seconds", ())] < 30


def test_the_backlog_age_is_measured_from_the_upload(
    sequence: Sequence, store: ObjectStore, database: Database
) -> None:
    """Ten minutes later by the clock, the waiting files are ten minutes older."""
    (_, uploaded) = next(iter(store.list_with_times(sequence.waiting["sales"])))
    later = sources_for(store, database, now=lambda: uploaded + timedelta(minutes=10))
    ages = only(collect(later), "mdp_backlog_oldest_age_seconds")
    assert ages[L(dataset="sales")] == pytest.approx(600, abs=5)


def test_an_empty_platform_has_a_zero_backlog_per_known_dataset(
    store: ObjectStore, database: Database
) -> None:
    found = collect(sources_for(store, database))
    assert only(found, "mdp_backlog_files") == {L(dataset="sales"): 0, L(dataset="youtube"): 0}
    assert only(found, "mdp_backlog_oldest_age_seconds") == {
        L(dataset="sales"): 0,
        L(dataset="youtube"): 0,
    }
    assert nonzero(only(found, "mdp_files_total")) == {}
    assert len(only(found, "mdp_files_total")) == 2 * len(FINAL)


def test_a_file_in_flight_is_in_progress_not_finished(store: ObjectStore, audit) -> None:  # type: ignore[no-untyped-def]
    row = audit.record_received(
        dataset="sales", key="incoming/sales/x.csv", size=1, sha256="a" * 64, run_id="r"
    )
    audit.mark_validated(row.id, fmt="csv", rows_in=3, rows_valid=3, rows_rejected=0)
    facts = read_audit(audit.conn)
    assert facts.in_progress == {("sales", "validated"): 1}
    assert facts.finished == {}


def test_a_source_that_is_down_costs_only_its_own_metrics(
    sequence: Sequence, store: ObjectStore, database: Database
) -> None:
    gone = PostgresSettings(host="127.0.0.1", port=1, database="x", user="x", connect_timeout=1)
    sources = Sources(
        audit=PostgresAudit(gone),
        backlog=lambda known: read_backlog(store, known),
        datasets=("sales", "youtube"),
    )
    collector = PlatformCollector(sources)
    for _ in range(2):
        found: Samples = {}
        for family in collector.collect():
            for s in family.samples:
                found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    assert only(found, "mdp_exporter_source_up") == {L(source="postgres"): 0, L(source="minio"): 1}
    assert only(found, "mdp_exporter_source_errors_total")[L(source="postgres")] == 2
    assert only(found, "mdp_files_total") == {}  # unknown, not zero
    assert only(found, "mdp_backlog_files")[L(dataset="sales")] == 1

    def broken(known: set[str]) -> dict[str, object]:
        raise ConnectionError("minio is down")

    found = collect(sources_for(store, database, backlog=broken))
    assert only(found, "mdp_exporter_source_up") == {L(source="postgres"): 1, L(source="minio"): 0}
    assert only(found, "mdp_backlog_files") == {}
    assert only(found, "mdp_files_total")[L(dataset="sales", status="loaded")] == 1


def test_healthz_answers_without_reading_a_source(exporter: str) -> None:
    with urllib.request.urlopen(f"{exporter}/healthz", timeout=5) as response:  # noqa: S310
        assert response.read() == b"ok\n"


def test_the_read_only_login_reads_the_audit_log_and_nothing_else(
    sequence: Sequence, database: Database
) -> None:
    """mdp_monitor (migration 009), as the chart's mdp_metrics login is: the audit facts, no
    warehouse rows, no writes."""
    login = f"metrics_{database.name}"
    with database.connect() as admin:
        admin.execute(f"CREATE ROLE {login} LOGIN PASSWORD 'pw' IN ROLE mdp_monitor")
    try:
        settings = pg_settings(database, login, "pw")
        with psycopg.connect(settings.conninfo(), password="pw", autocommit=True) as conn:
            assert read_audit(conn).finished[("sales", "loaded")].files == 1
            for statement in (
                "SELECT count(*) FROM warehouse.sales",
                "SELECT count(*) FROM audit.file_reprocessing",
                "DELETE FROM audit.file_ingestion_log",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
        # The exporter's own session refuses writes even where a grant would allow one.
        audit = PostgresAudit(settings)
        assert audit().finished[("sales", "loaded")].files == 1
        assert audit.conn is not None
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            audit.conn.execute("CREATE TEMP TABLE t (x int)")
        audit.close()
    finally:
        with database.connect() as admin:
            admin.execute(f"DROP OWNED BY {login}")
            admin.execute(f"DROP ROLE {login}")
