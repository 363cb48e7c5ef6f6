"""``mdp requeue``: one quarantined file from ``failed/<stage>/`` back to ``incoming/``."""

from __future__ import annotations

import argparse
from typing import Any

from mdp import exitcodes
from mdp.cli.context import connect, step_context
from mdp.cli.output import emit_result


def requeue(args: argparse.Namespace) -> int:
    _, store = step_context("validator")
    from mdp.audit import AuditLog
    from mdp.reprocess import requeue_object

    with connect() as conn:
        result = requeue_object(args.key, args.run_id, store, AuditLog(conn))
    emit_result("requeue", result)
    return exitcodes.OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "requeue", help="move one quarantined file from failed/<stage>/ back to incoming/"
    )
    p.add_argument("key", help="object key, failed/<stage>/<dataset>/<file>")
    p.add_argument("--run-id", default=None, help="orchestrator run id (default: random)")
    p.set_defaults(func=requeue)
