"""A small Metabase REST client: JSON in and out, a session header, retries where they help.

Two kinds of trouble are told apart, because the Job must know whether to try again:

* Metabase not reachable or not ready yet (connection refused, timeouts, 502/503/504): retried
  here with exponential back-off; if it lasts, ``TransientError`` (exit 1, the Job retries).
* Metabase answering "no" (400 bad payload, 401 wrong password, 403, 404): ``MetabaseError``,
  terminal (exit 4), with the method, path, status and Metabase's own message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from mdp.errors import TerminalError, TransientError

log = logging.getLogger(__name__)

SESSION_HEADER = "X-Metabase-Session"
_RETRY_STATUS = frozenset({502, 503, 504})


class MetabaseError(TerminalError):
    """Metabase refused a request; retrying the same request cannot help (unless the caller
    knows better: a failed connection test, see ``provision``)."""

    def __init__(self, method: str, path: str, status: int, detail: str, body: Any = None) -> None:
        super().__init__(f"Metabase refused {method} {path}: HTTP {status}: {detail}")
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.body = body
        """Metabase's decoded answer (None when it was not JSON), for callers that tell
        refusals apart by their shape."""


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    """Metabase's explanation: its JSON ``message``/``errors`` when present, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict):
        for field in ("message", "errors", "specific-errors"):
            if body.get(field):
                return str(body[field])[:500]
    return str(body)[:500]


class MetabaseClient:
    """JSON calls against one Metabase, retried with back-off while it is unavailable."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MetabaseClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def login(self, session_id: str) -> None:
        """Send this session with every later request."""
        self._http.headers[SESSION_HEADER] = session_id

    def _delay(self, attempt: int) -> float:
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff))

    def back_off(self, attempt: int) -> float:
        """Sleep the doubling back-off after failed attempt ``attempt`` (1, 2, ...) and return
        it: for callers that retry a refusal they know to be passing."""
        delay = self._delay(attempt)
        self._sleep(delay)
        return delay

    def wait_until_healthy(self, deadline_seconds: float) -> None:
        """Poll ``GET /api/health`` until it says ok: a first start migrates Metabase's database
        and takes minutes, during which it answers 503 or refuses connections."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.get("/api/health")
                if response.status_code == 200 and response.json().get("status") == "ok":
                    log.info("Metabase at %s is healthy", self.base_url)
                    return
                last = f"HTTP {response.status_code}: {_detail(response)}"
            except (httpx.TransportError, ValueError) as e:
                last = f"{type(e).__name__}: {e}"
            waited = time.monotonic() - started
            if waited >= deadline_seconds:
                raise TransientError(
                    f"Metabase at {self.base_url} was not healthy after {waited:.0f} s "
                    f"({attempt} checks); last answer: {last}"
                )
            delay = min(self._delay(attempt), max(deadline_seconds - waited, 0.0))
            log.info(
                "waiting for Metabase at %s (%s); check %d, next in %.0f s",
                self.base_url,
                last,
                attempt,
                delay,
            )
            self._sleep(delay)

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        """One call; returns the decoded JSON body (None when empty)."""
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._http.request(method, path, json=body, params=params or None)
            except httpx.TransportError as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if response.status_code not in _RETRY_STATUS:
                    break
                problem = f"HTTP {response.status_code}: {_detail(response)}"
            if attempt == self.attempts:
                raise TransientError(
                    f"{method} {path} failed {attempt} times against {self.base_url}: {problem}"
                )
            delay = self._delay(attempt)
            log.warning("%s %s: %s; retry %d in %.0f s", method, path, problem, attempt, delay)
            self._sleep(delay)
        if response.is_error:
            raise MetabaseError(
                method, path, response.status_code, _detail(response), _body(response)
            )
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)
