"""The Prometheus exporter: the facts of ``mdp.metrics.collect`` as metric families, over HTTP.

Why a custom collector and not counters incremented by the steps: the steps are short-lived pods
and the audit log is the source of truth, so every scrape reads the sources afresh; nothing is
kept in this process except its own error counts. A source that fails (PostgreSQL or MinIO down)
costs only its own metrics: the scrape still answers, with ``mdp_exporter_source_up{source}`` at
0, so the alert can say which one is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from mdp.audit.log import FAILED, Status
from mdp.metrics.collect import AuditFacts, Backlog, FinishedGroup

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    import psycopg

    from mdp.config import PostgresSettings

log = logging.getLogger(__name__)

SOURCES = ("postgres", "minio")
FINAL: tuple[str, ...] = (Status.LOADED, Status.DUPLICATE, *sorted(FAILED))
"""Where a file's journey ends. Each (dataset, final status) is exposed from 0 on, so the first
file of a kind is an increase that rate() and the alerts see, not a series appearing."""
IN_FLIGHT: tuple[str, ...] = (Status.RECEIVED, Status.VALIDATED, Status.TRANSFORMED)


@dataclass
class Sources:
    """Where the facts come from: callables, so tests can hand in failing ones."""

    audit: Callable[[], AuditFacts]
    backlog: Callable[[set[str]], dict[str, Backlog]]
    """Given the datasets known from the audit log, the backlog of each (and any other found)."""
    datasets: tuple[str, ...] = ()
    """Datasets that always get a series (the contracts'), even before their first file."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


class PostgresAudit:
    """The audit facts over one long-lived connection, opened again after any failure.

    The session is read-only and every statement has a time limit, so a slow or locked table
    delays a scrape by at most ``statement_timeout`` instead of hanging it."""

    def __init__(self, settings: PostgresSettings, statement_timeout_ms: int = 10_000) -> None:
        self.settings = settings
        self.statement_timeout_ms = statement_timeout_ms
        self.conn: psycopg.Connection | None = None

    def __call__(self) -> AuditFacts:
        from mdp.db.connect import connect
        from mdp.metrics.collect import read_audit

        if self.conn is None or self.conn.closed:
            self.conn = connect(self.settings)
            self.conn.execute("SET default_transaction_read_only = on")
            self.conn.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
        try:
            return read_audit(self.conn)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


class PlatformCollector(Collector):
    """Reads the sources on every scrape and yields the platform's metric families."""

    def __init__(self, sources: Sources) -> None:
        self.sources = sources
        self.errors = dict.fromkeys(SOURCES, 0)
        self._lock = threading.Lock()  # one scrape at a time reads the sources

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            started = time.perf_counter()
            up = GaugeMetricFamily(
                "mdp_exporter_source_up",
                "1 if the last scrape read the source (postgres: the audit log, minio: the"
                " listing of incoming/), else 0",
                labels=["source"],
            )
            took = GaugeMetricFamily(
                "mdp_exporter_source_duration_seconds",
                "Seconds the last scrape spent reading the source",
                labels=["source"],
            )
            facts = self._read("postgres", self.sources.audit, up, took)
            known = set(self.sources.datasets) | (facts.datasets() if facts else set())
            if facts is not None:
                yield from audit_metrics(facts, known)
            backlog = self._read("minio", lambda: self.sources.backlog(known), up, took)
            if backlog is not None:
                yield from backlog_metrics(backlog, self.sources.now())
            errors = CounterMetricFamily(
                "mdp_exporter_source_errors",
                "Scrapes that failed to read the source since the exporter started",
                labels=["source"],
            )
            for source in SOURCES:
                errors.add_metric([source], self.errors[source])
            yield from (up, took, errors)
            yield GaugeMetricFamily(
                "mdp_exporter_scrape_duration_seconds",
                "Seconds the exporter took to read every source for this scrape",
                value=time.perf_counter() - started,
            )

    def _read(
        self, source: str, read: Callable[[], Any], up: GaugeMetricFamily, took: GaugeMetricFamily
    ) -> Any:
        started = time.perf_counter()
        try:
            value = read()
        except Exception as e:
            self.errors[source] += 1
            log.warning("reading %s failed: %s", source, " ".join(str(e).split()))
            value = None
        took.add_metric([source], time.perf_counter() - started)
        up.add_metric([source], 0 if value is None else 1)
        return value


def audit_metrics(facts: AuditFacts, datasets: Iterable[str] = ()) -> Iterable[Metric]:
    """The audit log's metric families; every dataset of ``datasets`` gets its totals and
    in-flight counts from 0."""
    finished = dict(facts.finished)
    in_flight = dict(facts.in_progress)
    for dataset in datasets:
        for status in FINAL:
            finished.setdefault(
                (dataset, status), FinishedGroup(latency_buckets=[0] * len(facts.latency_bounds))
            )
        for status in IN_FLIGHT:
            in_flight.setdefault((dataset, status), 0)
    files = CounterMetricFamily(
        "mdp_files",
        "Arrivals of files at their final place (archive/ or failed/), by final status",
        labels=["dataset", "status"],
    )
    latency = HistogramMetricFamily(
        "mdp_file_latency_seconds",
        "Seconds from a file's first audit record (validation began) to its final place",
        labels=["dataset", "status"],
    )
    loaded = CounterMetricFamily(
        "mdp_rows_loaded", "Rows inserted or updated in the warehouse", labels=["dataset"]
    )
    rejected = CounterMetricFamily(
        "mdp_rows_rejected",
        "Bad rows set aside by validation (in loaded and in rejected files)",
        labels=["dataset"],
    )
    rows: dict[str, list[int]] = {}
    for (dataset, status), group in sorted(finished.items()):
        files.add_metric([dataset, status], group.files)
        buckets = [
            (repr(float(b)), n)
            for b, n in zip(facts.latency_bounds, group.latency_buckets, strict=True)
        ]
        latency.add_metric(
            [dataset, status], [*buckets, ("+Inf", group.files)], sum_value=group.latency_sum
        )
        totals = rows.setdefault(dataset, [0, 0])
        totals[0] += group.rows_loaded
        totals[1] += group.rows_rejected
    for dataset, (n_loaded, n_rejected) in sorted(rows.items()):
        loaded.add_metric([dataset], n_loaded)
        rejected.add_metric([dataset], n_rejected)
    in_progress = GaugeMetricFamily(
        "mdp_files_in_progress",
        "Files a step has recorded that have not reached their final place yet",
        labels=["dataset", "status"],
    )
    for (dataset, status), n in sorted(in_flight.items()):
        in_progress.add_metric([dataset, status], n)
    quarantined = CounterMetricFamily(
        "mdp_quarantined_files",
        "Files quarantined in failed/<stage>/, by the rule they broke (or the error type)",
        labels=["dataset", "stage", "rule"],
    )
    for (dataset, stage, rule), n in sorted(facts.quarantined.items()):
        quarantined.add_metric([dataset, stage, rule], n)
    last = GaugeMetricFamily(
        "mdp_last_successful_load_timestamp_seconds",
        "Unix time at which the dataset's newest loaded file finished",
        labels=["dataset"],
    )
    for dataset, when in sorted(facts.last_loaded().items()):
        last.add_metric([dataset], _seconds(when))
    return [files, latency, loaded, rejected, in_progress, quarantined, last]


def backlog_metrics(backlog: dict[str, Backlog], now: datetime) -> Iterable[Metric]:
    """The listing of ``incoming/`` as metric families."""
    files = GaugeMetricFamily(
        "mdp_backlog_files", "Objects waiting under incoming/<dataset>/", labels=["dataset"]
    )
    age = GaugeMetricFamily(
        "mdp_backlog_oldest_age_seconds",
        "Seconds since the oldest object waiting under incoming/<dataset>/ was uploaded (0: none)",
        labels=["dataset"],
    )
    for dataset, waiting in sorted(backlog.items()):
        files.add_metric([dataset], waiting.files)
        oldest = 0.0 if waiting.oldest is None else max(0.0, (now - waiting.oldest).total_seconds())
        age.add_metric([dataset], oldest)
    return [files, age]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def wsgi_app(registry: CollectorRegistry) -> Callable[[WSGIEnvironment, StartResponse], Any]:
    """``/metrics`` (the registry) and ``/healthz`` (the process answers; reads no source, so a
    database outage never makes Kubernetes restart the exporter)."""
    metrics = make_wsgi_app(registry)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/metrics":
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics\n"]

    return app


def make_exporter(sources: Sources, host: str, port: int) -> WSGIServer:
    """A server (not yet serving) for the platform's metrics on ``host:port``; port 0 picks one."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector(sources))
    return make_server(
        host, port, wsgi_app(registry), _ThreadingWSGIServer, handler_class=_QuietHandler
    )
