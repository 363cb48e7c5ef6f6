"""MinIO bucket notifications as an Airflow event trigger: the fast path from upload to run.

Why MinIO's ``ListenBucketNotification`` stream and not a webhook target: the stream needs no
notification target configured on the MinIO server (nothing to deploy, no credentials for Airflow's
REST API held by MinIO) and is read by Airflow's own triggerer behind an ``AssetWatcher``, so every
event becomes an asset event in Airflow's database and the ``mdp_ingest`` dispatcher run that
consumes it. The stream is not durable: events sent while the triggerer is restarting or MinIO is
down are gone. That is why the dispatcher also sweeps ``incoming/`` every minute; an event is only
a hint that makes a file start sooner, never the record that it exists.

The request is a plain S3 ``GET /<bucket>?events=...&prefix=...`` signed with SigV4; it is made
with ``botocore`` (signing) and ``httpx`` (streaming), both already in the official Airflow image,
and imported inside ``run`` so that parsing the DAG file imports neither.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

CLASSPATH = "mdp_dags.events.MinioObjectCreatedTrigger"
EVENTS = ("s3:ObjectCreated:*",)
MAX_RECONNECT_DELAY = 30.0

# A watcher's trigger has no task log to write to; a module logger ends up in the triggerer's.
log = logging.getLogger(__name__)


def records_of(line: bytes | str) -> list[dict[str, Any]]:
    """The object-created records of one line of the stream (MinIO sends blank keep-alives)."""
    text = line.decode() if isinstance(line, bytes) else line
    if not text.strip():
        return []
    doc = json.loads(text)
    found = []
    for record in doc.get("Records") or []:
        obj = (record.get("s3") or {}).get("object") or {}
        if "key" not in obj:
            continue
        found.append(
            {
                # Keys in notifications are URL-encoded, as in S3's.
                "key": unquote_plus(obj["key"]),
                "etag": str(obj.get("eTag") or ""),
                "size": int(obj.get("size") or 0),
                "event": str(record.get("eventName") or ""),
                "time": str(record.get("eventTime") or ""),
            }
        )
    return found


class MinioObjectCreatedTrigger(BaseEventTrigger):
    """Yields one event per object created under ``prefix`` in ``bucket``; never finishes.

    Reconnects with a back-off (1 s doubling to 30 s) when the stream breaks; whatever was
    uploaded meanwhile is found by the dispatcher's sweep. Credentials come from the Airflow
    connection ``conn_id`` (type aws: login, password, ``extra.endpoint_url``), read when the
    trigger starts, so the trigger's stored arguments hold no secret.
    """

    def __init__(self, conn_id: str, bucket: str, prefix: str = "incoming/") -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's own signature is untyped
        self.conn_id = conn_id
        self.bucket = bucket
        self.prefix = prefix

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"conn_id": self.conn_id, "bucket": self.bucket, "prefix": self.prefix}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        delay = 1.0
        while True:
            try:
                async for record in self._listen():
                    delay = 1.0
                    yield TriggerEvent(record)  # type: ignore[no-untyped-call]
                log.warning("MinIO closed the notification stream; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a broken stream must not end the watch
                log.warning(
                    "MinIO notification stream failed (%s: %s); reconnecting in %.0f s, the "
                    "sweep picks up anything uploaded meanwhile",
                    type(e).__name__,
                    e,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:
        import httpx
        from airflow.sdk import Connection

        conn = await Connection.async_get(self.conn_id)
        extra = conn.extra_dejson
        endpoint = str(extra.get("endpoint_url") or "").rstrip("/")
        if not endpoint:
            raise ValueError(f"connection {self.conn_id!r} has no extra.endpoint_url (MinIO)")
        region = str(extra.get("region_name") or "us-east-1")
        query = [("events", e) for e in EVENTS] + [("prefix", self.prefix), ("suffix", "")]
        url = str(httpx.URL(f"{endpoint}/{self.bucket}", params=query))
        headers = _signed_headers(url, conn.login or "", conn.password or "", region)
        timeout = httpx.Timeout(10.0, read=None)  # the stream is idle for as long as nothing comes
        async with (
            httpx.AsyncClient(timeout=timeout) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                body = (await response.aread())[:500]
                raise RuntimeError(f"HTTP {response.status_code}: {body!r}")
            log.info("listening to s3://%s/%s* for new objects", self.bucket, self.prefix)
            async for line in response.aiter_lines():
                for record in records_of(line):
                    yield record


def _signed_headers(url: str, access_key: str, secret_key: str, region: str) -> dict[str, str]:
    """SigV4 headers for a GET without a body (what every S3 client sends)."""
    from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", region).add_auth(request)
    return dict(request.headers.items())
