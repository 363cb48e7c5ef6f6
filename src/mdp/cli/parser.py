"""The ``mdp`` argument parser: the root options, then each command group's subcommands."""

from __future__ import annotations

import argparse

from mdp.cli import audit, contracts, db, generate, metabase, metrics, reprocess, setup, steps

GROUPS = (steps, reprocess, audit, generate, db, setup, metabase, contracts, metrics)
"""The command groups, in the order ``mdp --help`` lists them; each has ``register(sub)``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdp",
        description="Mini Data Platform steps. Configuration comes from environment variables "
        "(S3__*, PG__*, MDP__*, CONTRACTS__*, SETUP__*, METABASE__*); see docs/operations.md.",
        epilog="Exit codes: 0 done, 1 fault (retry), 2 usage, 3 data rejected and quarantined, "
        "4 terminal fault (do not retry). Exit 3 also means retries ran out and the file was "
        "quarantined in failed/<stage>/.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser
