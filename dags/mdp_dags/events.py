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

Why the trigger also lists ``incoming/`` every few seconds (``poll_seconds``): the MinIO build we
pin does not flush this stream per event - a wrapper around its response writer drops the flush,
so events reach the client in 4 KiB blocks, i.e. only after a few more events (an idle
platform's first upload was heard of minutes late). A ListObjectsV2 call from the triggerer
every few seconds costs one request (no task process) and bounds the delay whatever the server
does. The trigger reports each (key, ETag, time) once; the same upload may still be reported by
both the stream and the listing, which costs the dispatcher one lookup: its run ids make the
repeat harmless.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from mdp_dags.platform import INCOMING

CLASSPATH = "mdp_dags.events.MinioObjectCreatedTrigger"
EVENTS = ("s3:ObjectCreated:*",)
MAX_RECONNECT_DELAY = 30.0
MAX_REMEMBERED = 100_000

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

    def __init__(
        self, conn_id: str, bucket: str, prefix: str = f"{INCOMING}/", poll_seconds: float = 5.0
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Airflow's own signature is untyped
        self.conn_id = conn_id
        self.bucket = bucket
        self.prefix = prefix
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {
            "conn_id": self.conn_id,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "poll_seconds": self.poll_seconds,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk import Connection

        conn = await Connection.async_get(self.conn_id)
        extra = conn.extra_dejson
        endpoint = str(extra.get("endpoint_url") or "").rstrip("/")
        if not endpoint:
            raise ValueError(f"connection {self.conn_id!r} has no extra.endpoint_url (MinIO)")
        minio = _Minio(endpoint, conn.login or "", conn.password or "", extra)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sources = [
            asyncio.create_task(self._keep(self._listen, minio, queue, "notification stream")),
            asyncio.create_task(self._keep(self._poll, minio, queue, "listing")),
        ]
        reported: set[tuple[str, str, str]] = set()  # (key, ETag, time) of what was reported
        try:
            while True:
                record = await queue.get()
                seen = (record["key"], record["etag"], record["time"])
                if seen in reported:
                    continue
                if len(reported) > MAX_REMEMBERED:
                    reported.clear()  # bounded memory; a repeat only costs the dispatcher a lookup
                reported.add(seen)
                yield TriggerEvent(record)  # type: ignore[no-untyped-call]
        finally:
            for source in sources:
                source.cancel()

    async def _keep(self, source: Any, minio: _Minio, queue: Any, what: str) -> None:
        """Run ``source`` for ever: a broken stream or a failed list must not end the watch."""
        delay = 1.0
        while True:
            try:
                async for record in source(minio):
                    delay = 1.0
                    await queue.put(record)
                log.warning("MinIO %s ended; starting it again", what)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning(
                    "MinIO %s failed (%s: %s); again in %.0f s, the sweep picks up anything "
                    "uploaded meanwhile",
                    what,
                    type(e).__name__,
                    e,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _listen(self, minio: _Minio) -> AsyncIterator[dict[str, Any]]:
        import httpx

        query = [("events", e) for e in EVENTS] + [("prefix", self.prefix), ("suffix", "")]
        url, headers = minio.signed(self.bucket, query)
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

    async def _poll(self, minio: _Minio) -> AsyncIterator[dict[str, Any]]:
        import httpx

        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0)) as client:
            while True:
                token = ""
                while True:
                    query = [("list-type", "2"), ("prefix", self.prefix)]
                    query += [("continuation-token", token)] if token else []
                    url, headers = minio.signed(self.bucket, query)
                    response = await client.get(url, headers=headers)
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]!r}")
                    records, token = listed_objects(response.content)
                    for record in records:
                        yield record
                    if not token:
                        break
                await asyncio.sleep(self.poll_seconds)


def listed_objects(xml: bytes) -> tuple[list[dict[str, Any]], str]:
    """The objects of one ListObjectsV2 page as event records, and the continuation token."""
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xml)  # noqa: S314 - our own MinIO's answer, not user input
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    records = []
    for item in root.iter(f"{ns}Contents"):
        key = item.findtext(f"{ns}Key") or ""
        if key and not key.endswith("/"):
            records.append(
                {
                    "key": key,
                    "etag": (item.findtext(f"{ns}ETag") or "").strip('"'),
                    "size": int(item.findtext(f"{ns}Size") or 0),
                    "event": "listed",
                    "time": item.findtext(f"{ns}LastModified") or "",
                }
            )
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    return records, (root.findtext(f"{ns}NextContinuationToken") or "") if truncated else ""


class _Minio:
    """Endpoint and credentials; signs each request (SigV4 dates expire, so per request)."""

    def __init__(self, endpoint: str, access_key: str, secret_key: str, extra: Any) -> None:
        self.endpoint = endpoint
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = str(extra.get("region_name") or "us-east-1")

    def signed(self, bucket: str, query: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
        import httpx

        url = str(httpx.URL(f"{self.endpoint}/{bucket}", params=query))
        return url, _signed_headers(url, self.access_key, self.secret_key, self.region)


def _signed_headers(url: str, access_key: str, secret_key: str, region: str) -> dict[str, str]:
    """SigV4 headers for a GET without a body (what every S3 client sends)."""
    from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(access_key, secret_key), "s3", region).add_auth(request)
    return dict(request.headers.items())
