"""``mdp db migrate``: the numbered SQL files, then every contract's table (``mdp.db.migrate``)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from mdp import exitcodes
from mdp.cli.output import emit
from mdp.errors import require

log = logging.getLogger("mdp")


def migrate_database(args: argparse.Namespace) -> int:
    """A dry run does all of it inside one transaction that is rolled back, so the DDL it prints
    is exactly what a real run would execute against this database now."""
    require("psycopg", "setup")
    from contextlib import AbstractContextManager, nullcontext

    from mdp.config import PostgresSettings
    from mdp.contracts.registry import registry
    from mdp.db.connect import connect
    from mdp.db.migrate import migrate, migrate_contracts

    contracts = list(registry().active.values())  # invalid contracts fail before any change
    say = (lambda m: log.info("dry run, not applied: %s", m)) if args.dry_run else log.info
    with connect(PostgresSettings()) as conn:
        # A real run keeps migrate's own transactions (each file commits on its own); a dry run
        # nests them all in one that is rolled back.
        outer: AbstractContextManager[Any] = (
            conn.transaction(force_rollback=True) if args.dry_run else nullcontext()
        )
        with outer:
            applied = migrate(conn, args.sql_dir, log=say)
            ddl = migrate_contracts(conn, contracts, log=say)
    if args.dry_run:
        for name in applied:
            print(f"-- {name} (pending numbered migration)", flush=True)
        for statement in ddl:
            print(f"{statement};", flush=True)
        if not applied and not ddl:
            print("-- nothing to do", flush=True)
    log.info(
        "%d migration(s) and %d contract statement(s) %s",
        len(applied),
        len(ddl),
        "would be applied (dry run: nothing changed)" if args.dry_run else "applied",
    )
    emit({"step": "db-migrate", "applied": applied, "contract_ddl": ddl, "dry_run": args.dry_run})
    return exitcodes.OK


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="db_command", required=True
    )
    p = db.add_parser(
        "migrate",
        help="apply pending SQL migrations, then create or safely evolve the table of every "
        "contract (CONTRACTS__DIR); safe to repeat",
    )
    p.add_argument("--sql-dir", type=Path, default=None, help="migrations directory")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the pending migrations and the contract DDL, change nothing",
    )
    p.set_defaults(func=migrate_database)
