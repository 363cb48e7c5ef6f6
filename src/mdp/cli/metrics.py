"""``mdp metrics serve``: the Prometheus exporter of the platform (``mdp.metrics``)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from mdp import exitcodes
from mdp.errors import require

log = logging.getLogger("mdp")


def serve(args: argparse.Namespace) -> int:
    """Serve until stopped. Reads as the read-only logins the chart gives it (``PG__*``,
    ``S3__*``); a source that is down shows as ``mdp_exporter_source_up`` 0, it does not stop the
    exporter."""
    require("prometheus_client", "metrics")
    require("psycopg", "metrics")
    require("minio", "metrics")
    from mdp.config import PostgresSettings, S3Settings
    from mdp.contracts import known_datasets
    from mdp.metrics.collect import read_backlog
    from mdp.metrics.exporter import PostgresAudit, Sources, make_exporter
    from mdp.storage import ObjectStore

    store = ObjectStore.from_settings(S3Settings())
    audit = PostgresAudit(PostgresSettings(), statement_timeout_ms=args.query_timeout * 1000)
    sources = Sources(
        audit=audit,
        backlog=lambda known: read_backlog(store, known),
        datasets=tuple(known_datasets()),
    )
    server = make_exporter(sources, args.host, args.port)
    log.info("serving metrics on http://%s:%d/metrics", *server.server_address[:2])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        audit.close()
    return exitcodes.OK


def register(sub: Any) -> None:
    metrics = sub.add_parser("metrics", help="Prometheus metrics of the platform").add_subparsers(
        dest="metrics_command", required=True
    )
    p = metrics.add_parser(
        "serve",
        help="serve /metrics (computed at each scrape from the audit log and incoming/) and "
        "/healthz until stopped",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=9108, help="port to listen on (default 9108)")
    p.add_argument(
        "--query-timeout",
        type=int,
        default=10,
        help="seconds one audit-log query may take before the scrape reports postgres down",
    )
    p.set_defaults(func=serve)
