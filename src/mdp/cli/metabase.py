"""``mdp metabase provision``: Metabase's dashboards as code (``mdp.metabase``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mdp import exitcodes
from mdp.cli.output import emit
from mdp.errors import require


def provision_metabase(args: argparse.Namespace) -> int:
    """Dashboards as code: Metabase's setup, warehouse connection and content (safe to repeat)."""
    require("httpx", "provisioner")
    require("yaml", "provisioner")
    from mdp.config import MetabaseSettings, PostgresSettings
    from mdp.errors import ConfigError
    from mdp.metabase.client import MetabaseClient
    from mdp.metabase.content import load_content
    from mdp.metabase.provision import Admin, WarehouseLogin, provision

    content = load_content(args.content)  # a broken file fails before any request
    mb, pg = MetabaseSettings(), PostgresSettings()
    if not mb.admin_email or mb.admin_password is None:
        raise ConfigError(
            "set METABASE__ADMIN_EMAIL and METABASE__ADMIN_PASSWORD (or ..._PASSWORD_FILE)"
        )
    if pg.password is None:
        raise ConfigError("set PG__PASSWORD (or PG__PASSWORD_FILE): the read-only login's password")
    admin = Admin(mb.admin_email, mb.admin_password.get_secret_value(), mb.site_name)
    warehouse = WarehouseLogin(
        host=pg.host,
        port=pg.port,
        dbname=pg.database,
        user=pg.user,
        password=pg.password.get_secret_value(),
        ssl=pg.sslmode in {"require", "verify-ca", "verify-full"},
    )
    with MetabaseClient(mb.url, timeout=mb.request_timeout, backoff=mb.retry_backoff) as client:
        report = provision(
            client,
            content,
            admin,
            warehouse,
            wait_seconds=mb.wait_timeout,
            update_connection=args.update_connection,
        )
    emit({"step": "metabase-provision", **report.as_dict()})
    return exitcodes.OK


def register(sub: Any) -> None:
    metabase = sub.add_parser("metabase", help="Metabase dashboards as code").add_subparsers(
        dest="metabase_command", required=True
    )
    p = metabase.add_parser(
        "provision",
        help="first-time setup, warehouse connection, collections, questions and dashboards "
        "from the dashboards file (safe to repeat: changes only what differs)",
    )
    p.add_argument(
        "--content",
        type=Path,
        default=None,
        help="dashboards file (default: the one shipped, metabase/dashboards.yaml)",
    )
    p.add_argument(
        "--update-connection",
        action="store_true",
        help="send the warehouse connection's details even if they look unchanged (Metabase "
        "never shows the password, so use this after rotating it)",
    )
    p.set_defaults(func=provision_metabase)
