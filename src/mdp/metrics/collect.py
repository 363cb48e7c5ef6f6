"""The facts behind the metrics, read at scrape time from the audit log and ``incoming/``.

Why at scrape time and from these two sources: the audit log already holds every fact about every
file (the steps push nothing), so the numbers survive step pods dying and this exporter
restarting; the listing of ``incoming/`` is the only place that knows about a file no step has
seen yet. Everything here is plain data, so the queries are tested without Prometheus.

Cost on a large audit table: the totals are kept by triggers as files finish (migration 009:
``audit.file_ingestion_totals``, ``audit.quarantine_totals``), so a scrape reads a few rows per
dataset; the files still in flight come from a partial index over the few rows they concern.
Aggregating the log itself took seconds at 1M rows (docs/benchmark.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from mdp.audit.log import TABLE
from mdp.layout import INCOMING
from mdp.storage import ObjectStore


@dataclass
class FinishedGroup:
    """The files of one (dataset, final status), counted each time one reached its place."""

    files: int = 0
    rows_loaded: int = 0
    """Rows inserted plus rows updated in the warehouse (loaded files only)."""
    rows_rejected: int = 0
    """Bad rows set aside by validation (loaded and rejected files)."""
    latency_sum: float = 0.0
    """Seconds from the audit row's creation to ``finished_at``, summed."""
    latency_buckets: list[int] = field(default_factory=list)
    """Cumulative counts, one per bound of ``AuditFacts.latency_bounds``."""
    last_finished: datetime | None = None


@dataclass
class AuditFacts:
    latency_bounds: tuple[float, ...] = ()
    """Upper bounds (seconds) of the latency histogram, as migration 009 counts them."""
    finished: dict[tuple[str, str], FinishedGroup] = field(default_factory=dict)
    """(dataset, status) -> the files that reached their final place with that status."""
    in_progress: dict[tuple[str, str], int] = field(default_factory=dict)
    """(dataset, status) -> files a step has seen that have not reached their place yet."""
    quarantined: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(dataset, stage, rule) -> quarantined files; the rule for a rejected file, the error type
    for a file that failed in transform or load."""

    def datasets(self) -> set[str]:
        return {d for d, _ in self.finished} | {d for d, _ in self.in_progress}

    def last_loaded(self) -> dict[str, datetime]:
        """Per dataset, when its newest loaded file finished."""
        out: dict[str, datetime] = {}
        for (dataset, status), group in self.finished.items():
            if status == "loaded" and group.last_finished is not None:
                out[dataset] = group.last_finished
        return out


def read_audit(conn: psycopg.Connection) -> AuditFacts:
    """Every audit fact the metrics need, in four small queries."""
    bounds = conn.execute("SELECT audit.latency_bounds()").fetchone()
    facts = AuditFacts(latency_bounds=tuple(bounds[0]) if bounds else ())
    for row in conn.execute(
        "SELECT dataset, status, files, rows_loaded, rows_rejected, latency_sum,"
        " latency_buckets, last_finished_at FROM audit.file_ingestion_totals"
    ).fetchall():
        dataset, status, files, loaded, rejected, latency, buckets, last = row
        facts.finished[(dataset, status)] = FinishedGroup(
            files=int(files),
            rows_loaded=int(loaded),
            rows_rejected=int(rejected),
            latency_sum=float(latency),
            latency_buckets=[int(c) for c in buckets],
            last_finished=last,
        )
    for dataset, status, files in conn.execute(
        f"SELECT dataset, status, count(*) FROM {TABLE} WHERE finished_at IS NULL"
        " GROUP BY dataset, status"
    ).fetchall():
        facts.in_progress[(dataset, status)] = int(files)
    for dataset, stage, rule, files in conn.execute(
        "SELECT dataset, stage, rule, files FROM audit.quarantine_totals"
    ).fetchall():
        facts.quarantined[(dataset, stage, rule)] = int(files)
    return facts


@dataclass(frozen=True)
class Backlog:
    """Objects waiting under ``incoming/<dataset>/``."""

    files: int = 0
    oldest: datetime | None = None
    """Upload time of the oldest of them (the object's Last-Modified)."""


def read_backlog(store: ObjectStore, datasets: Iterable[str] = ()) -> dict[str, Backlog]:
    """The backlog of every dataset found under ``incoming/``, plus ``datasets`` (an empty
    backlog is a series of its own, so a dashboard shows 0 rather than nothing)."""
    files: dict[str, int] = dict.fromkeys(datasets, 0)
    oldest: dict[str, datetime] = {}
    for key, modified in store.list_with_times(f"{INCOMING}/"):
        parts = key.split("/")
        if len(parts) < 3:  # an object right under incoming/ belongs to no dataset
            continue
        dataset = parts[1]
        files[dataset] = files.get(dataset, 0) + 1
        if dataset not in oldest or modified < oldest[dataset]:
            oldest[dataset] = modified
    return {d: Backlog(files=n, oldest=oldest.get(d)) for d, n in files.items()}
