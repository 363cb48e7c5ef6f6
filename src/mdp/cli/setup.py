"""``mdp setup storage``: bucket, prefixes, MinIO users and policies (the chart's setup Job)."""

from __future__ import annotations

import argparse
from typing import Any

from mdp import exitcodes
from mdp.cli.output import emit
from mdp.errors import require


def storage(args: argparse.Namespace) -> int:
    """Users come from ``SETUP__*`` (``mdp.config.SetupSettings``), as the setup Job mounts them
    from their Secrets; ``S3__*`` holds the root credentials."""
    require("minio", "setup")
    from minio import MinioAdmin
    from minio.credentials.providers import StaticProvider

    from mdp.config import S3Settings, SetupSettings
    from mdp.setup.storage import User, setup_storage
    from mdp.storage import ObjectStore

    settings = S3Settings()
    users = [
        User(access, secret, f"mdp-{role}") for role, access, secret in SetupSettings().users()
    ]
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    admin = MinioAdmin(
        endpoint=settings.endpoint,
        credentials=StaticProvider(settings.access_key or "", secret),
        secure=settings.secure,
    )
    store = ObjectStore.from_settings(settings)
    if args.datasets is None:
        # Every dataset of the contracts (CONTRACTS__DIR, as the chart mounts them), so a dataset
        # added to the contracts gets its incoming/<dataset>/ prefix on the next `helm upgrade`.
        from mdp.contracts import known_datasets

        datasets = known_datasets()
    else:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    emit(
        {
            "step": "setup-storage",
            **setup_storage(store.client, admin, settings.bucket, datasets, users),
        }
    )
    return exitcodes.OK


def register(sub: Any) -> None:
    setup = sub.add_parser("setup", help="platform set-up (the chart's setup Job)")
    p = setup.add_subparsers(dest="setup_command", required=True).add_parser(
        "storage", help="bucket, prefixes, MinIO users and policies (safe to repeat)"
    )
    p.add_argument(
        "--datasets",
        default=None,
        help="comma-separated datasets (default: every dataset of the contracts)",
    )
    p.set_defaults(func=storage)
