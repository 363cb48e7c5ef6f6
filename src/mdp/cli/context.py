"""What the commands build from configuration (``mdp.config``): settings, the object store and
a PostgreSQL connection, each after checking that the image installed the extra it needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mdp.errors import require

if TYPE_CHECKING:
    import psycopg

    from mdp.config import StepSettings
    from mdp.storage import ObjectStore


def step_context(extra: str) -> tuple[StepSettings, ObjectStore]:
    """(step settings, object store) from the environment, after checking the extra."""
    require("pyarrow", extra)
    require("psycopg", extra)
    from mdp.config import S3Settings, StepSettings
    from mdp.storage import ObjectStore

    return StepSettings(), ObjectStore.from_settings(S3Settings())


def connect() -> psycopg.Connection:
    from mdp.config import PostgresSettings
    from mdp.db.connect import connect as pg_connect

    return pg_connect(PostgresSettings())
