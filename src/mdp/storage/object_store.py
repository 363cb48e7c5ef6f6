"""The object store as the steps need it: list, stream, spool, put, move, quarantine.

Built on the ``minio`` SDK, which speaks plain S3, so any S3-compatible server works. Reads stream
in fixed-size chunks and writes go through the SDK's multipart upload, so no file is ever held in
memory. ``move`` is copy-then-delete and safe to repeat: if a previous attempt already moved the
object, repeating it is a no-op.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minio import Minio
from minio.commonconfig import CopySource
from minio.error import S3Error

from mdp.config import S3Settings
from mdp.crashpoints import crash_point
from mdp.errors import ConfigError
from mdp.layout import INCOMING, error_report_key

if TYPE_CHECKING:
    import urllib3

CHUNK = 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
"""Multipart part size. The SDK holds a few parts in memory at once (~80 MiB at 16 MiB parts);
8 MiB parts still allow objects of 80 GB (S3's limit is 10,000 parts)."""
_MISSING = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}


@dataclass(frozen=True)
class Spooled:
    """A remote object copied to local scratch, with what was learned on the way."""

    path: Path
    size: int
    sha256: str


def http_client(settings: S3Settings) -> urllib3.PoolManager:
    """The SDK's HTTP pool with our timeouts and retries (S3__CONNECT_TIMEOUT, S3__READ_TIMEOUT,
    S3__RETRIES) instead of its 5-minute timeouts and 5 retries, so an outage becomes a prompt
    fault. TLS verification as the SDK does it (SSL_CERT_FILE, else certifi's bundle).

    urllib3 and certifi are the SDK's own dependencies (imported here, not declared again in
    every extra that has minio)."""
    import certifi
    import urllib3

    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=settings.retries, backoff_factor=0.5, status_forcelist=[500, 502, 503, 504]
        ),
    )


class ObjectStore:
    """One bucket on one S3 endpoint."""

    def __init__(self, client: Minio, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: S3Settings) -> ObjectStore:
        if not settings.access_key or settings.secret_key is None:
            raise ConfigError(
                "S3 credentials missing: set S3__ACCESS_KEY and S3__SECRET_KEY "
                "(or S3__SECRET_KEY_FILE)"
            )
        client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=settings.secret_key.get_secret_value(),
            secure=settings.secure,
            region=settings.region,
            http_client=http_client(settings),
        )
        return cls(client, settings.bucket)

    def ensure_bucket(self) -> None:
        if not self.client.bucket_exists(self.bucket):
            try:
                self.client.make_bucket(self.bucket)
            except S3Error as e:
                if e.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

    def list_incoming(self, dataset: str) -> Iterator[str]:
        """Keys waiting under ``incoming/<dataset>/``, in key order."""
        return self.list(f"{INCOMING}/{dataset}/")

    def list(self, prefix: str) -> Iterator[str]:
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if obj.object_name is not None and not obj.is_dir:
                yield obj.object_name

    def list_with_times(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """(key, Last-Modified) of every object under ``prefix``, folder markers left out."""
        for obj in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            if obj.object_name is not None and not obj.is_dir and obj.last_modified is not None:
                yield obj.object_name, obj.last_modified

    def exists(self, key: str) -> bool:
        try:
            self.client.stat_object(self.bucket, key)
        except S3Error as e:
            if e.code in _MISSING:
                return False
            raise
        return True

    def stream(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks of at most ``CHUNK``."""
        response = self.client.get_object(self.bucket, key)
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()

    def spool(self, key: str, directory: Path) -> Spooled:
        """Copy an object to a local file, hashing it on the way (one pass, flat memory)."""
        digest = hashlib.sha256()
        path = directory / "raw"
        size = self.download(key, path, digest)
        return Spooled(path=path, size=size, sha256=digest.hexdigest())

    def download(self, key: str, path: Path, digest: Any = None) -> int:
        """Copy an object to a local file in chunks, feeding ``digest`` if given; returns bytes."""
        size = 0
        with path.open("wb") as out:
            for chunk in self.stream(key):
                if digest is not None:
                    digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        return size

    def put_file(
        self, key: str, path: Path, content_type: str = "application/octet-stream"
    ) -> None:
        """Upload a local file; large files go up as multipart in ``PART_SIZE`` parts."""
        self.client.fput_object(
            self.bucket, key, str(path), content_type=content_type, part_size=PART_SIZE
        )

    def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            self.bucket, key, io.BytesIO(data), length=len(data), content_type=content_type
        )

    def put_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
        self.put_bytes(key, body, "application/json")

    def get_json(self, key: str) -> Any | None:
        """A small JSON object (reports, generator state); None if it does not exist."""
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as e:
            if e.code in _MISSING:
                return None
            raise
        try:
            return json.loads(response.read())
        finally:
            response.close()
            response.release_conn()

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)

    def delete_prefix(self, prefix: str) -> None:
        for key in list(self.list(prefix)):
            self.delete(key)

    def move(self, source: str, target: str) -> None:
        """Copy then delete. Repeating after a crash is safe: a missing source whose target
        exists means the move already happened."""
        try:
            self.client.copy_object(self.bucket, target, CopySource(self.bucket, source))
        except S3Error as e:
            if e.code in _MISSING and self.exists(target):
                return
            raise
        crash_point("store.after_copy")
        self.delete(source)

    def quarantine(self, source: str, target: str, report: dict[str, Any]) -> None:
        """Write the ``.error.json`` report first, then move the file next to it, so a file in
        failed/ always has its reason beside it."""
        self.put_json(error_report_key(target), report)
        crash_point("store.after_report")
        self.move(source, target)
