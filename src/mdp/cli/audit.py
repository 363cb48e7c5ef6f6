"""``mdp summary``: what one run did, from the audit log."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from mdp import exitcodes
from mdp.cli.arguments import key_list
from mdp.cli.context import connect
from mdp.cli.output import emit
from mdp.errors import require

log = logging.getLogger("mdp")


def summary(args: argparse.Namespace) -> int:
    require("psycopg", "loader")
    from mdp.audit.summary import summarise_run

    with connect() as conn:
        found = summarise_run(conn, args.run_id, args.expect)
    log.info("summary of %s\n%s", args.run_id, found.render())
    emit({"step": "summary", **found.as_dict()})
    return exitcodes.OK


def register(sub: Any) -> None:
    p = sub.add_parser("summary", help="what one run did: files by outcome, rows loaded")
    p.add_argument("--run-id", required=True, help="the orchestrator run id to summarise")
    p.add_argument(
        "--expect",
        type=key_list,
        default=[],
        help="JSON list of the incoming keys the run was responsible for: any without an audit "
        "row of this run is counted as failed, with the reason",
    )
    p.set_defaults(func=summary)
