"""Open PostgreSQL connections from settings, mapping connection trouble to TransientError."""

from __future__ import annotations

import psycopg

from mdp.config import PostgresSettings
from mdp.errors import TransientError


def connect(settings: PostgresSettings, *, autocommit: bool = True) -> psycopg.Connection:
    """A new connection; a refused or timed-out connection is a transient fault (retry)."""
    password = settings.password.get_secret_value() if settings.password else None
    try:
        return psycopg.connect(settings.conninfo(), password=password, autocommit=autocommit)
    except psycopg.OperationalError as e:
        detail = " ".join(str(e).split())  # libpq's message spans lines; a log line must not
        raise TransientError(
            f"cannot connect to PostgreSQL at {settings.host}:{settings.port} ({detail});"
            " retrying is safe"
        ) from e
