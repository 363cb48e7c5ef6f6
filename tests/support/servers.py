"""The test PostgreSQL server's databases: each test gets its own, cloned from a migrated template
(the session fixtures of tests/conftest.py create both)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from mdp.devservers import PostgresServer

TEMPLATE_DB = "mdp_template"


@dataclass
class Database:
    server: PostgresServer
    name: str

    def conninfo(self) -> str:
        return self.server.conninfo(self.name)

    def connect(self, **kwargs: object) -> psycopg.Connection:
        """Autocommit by default, as the steps connect (see AuditLog)."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo(), **kwargs)  # type: ignore[arg-type]
