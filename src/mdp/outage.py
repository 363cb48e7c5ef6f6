"""Tell an outage (PostgreSQL or the object store unreachable, timing out, restarting) from a bug.

A server that is down is the world being unwell, not the step failing: the documented answer is
exit 1 with one line that says what was unreachable, where, and that retrying is safe (every step
is idempotent and a rerun finishes what a cut-short run began). A traceback would only bury that.

The driver modules are looked up in ``sys.modules`` rather than imported: an error can only come
from a driver that is loaded, and a step image without an extra must not fail importing it here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

RETRY_HINT = "retrying is safe"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and its causes and contexts (an outage is often the cause of a wrapper)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _postgres(error: BaseException) -> bool:
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(
        error, (psycopg.OperationalError, psycopg.InterfaceError)
    )


def _object_store(error: BaseException) -> bool:
    urllib3 = sys.modules.get("urllib3")
    if urllib3 is not None and isinstance(error, urllib3.exceptions.HTTPError):
        return True  # MaxRetryError, NewConnectionError, ProtocolError, timeouts
    minio_error = sys.modules.get("minio.error")
    return minio_error is not None and isinstance(error, minio_error.ServerError)


def describe(error: BaseException, *, postgres: str, object_store: str) -> str | None:
    """One log line for an outage, or None if ``error`` is not one.

    ``postgres`` and ``object_store`` say where each server was expected (host:port)."""
    for e in _chain(error):
        if _postgres(e):
            where = f"PostgreSQL at {postgres}"
        elif _object_store(e):
            where = f"the object store at {object_store}"
        elif isinstance(e, (ConnectionError, TimeoutError)):
            where = "a server"
        else:
            continue
        return f"{where} is unreachable or failed mid-step ({_one_line(e)}); {RETRY_HINT}"
    return None
