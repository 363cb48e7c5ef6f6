"""A soak-test worker: runs every key read from stdin through validate -> transform -> load in
this process, as the orchestrator would (tests.support.crash.World.orchestrate), and prints
``done <key>`` after each. The soak test SIGKILLs workers at random and starts new ones with the
keys left.

Run as ``python -m tests.support.soak_worker`` with the step environment (S3__*, PG__*)."""

from __future__ import annotations

import sys

from psycopg.conninfo import make_conninfo

from mdp.config import PostgresSettings, S3Settings
from mdp.storage import ObjectStore
from tests.support.crash import World


def main() -> None:
    s3, pg = S3Settings(), PostgresSettings()
    store = ObjectStore.from_settings(s3)
    password = pg.password.get_secret_value() if pg.password else ""
    world = World(store, make_conninfo(pg.conninfo(), password=password), {})
    for line in sys.stdin:
        key = line.strip()
        if key:
            world.orchestrate(key)
            print(f"done {key}", flush=True)


if __name__ == "__main__":
    main()
