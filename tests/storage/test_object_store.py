"""Object store operations on a real MinIO server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from mdp.storage import ObjectStore

pytestmark = pytest.mark.integration


def test_spool_hashes_while_copying(store: ObjectStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put_bytes("incoming/sales/x.bin", data, "application/octet-stream")
    spooled = store.spool("incoming/sales/x.bin", tmp_path)
    assert spooled.size == len(data)
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert spooled.path.read_bytes() == data


def test_large_upload_goes_multipart(store: ObjectStore, tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = os.urandom(40 * 1024 * 1024)
    path.write_bytes(data)
    store.put_file("staging/big", path)
    stat = store.client.stat_object(store.bucket, "staging/big")
    assert stat.size == len(data)
    assert "-" in (stat.etag or ""), "a multipart upload's ETag ends in -<parts>"


def test_move_is_safe_to_repeat(store: ObjectStore) -> None:
    store.put_bytes("incoming/sales/a.csv", b"abc", "text/csv")
    store.move("incoming/sales/a.csv", "archive/sales/a.csv")
    store.move("incoming/sales/a.csv", "archive/sales/a.csv")  # a retry after a crash
    assert not store.exists("incoming/sales/a.csv")
    assert b"".join(store.stream("archive/sales/a.csv")) == b"abc"


def test_move_of_a_missing_object_without_target_fails(store: ObjectStore) -> None:
    from minio.error import S3Error

    with pytest.raises(S3Error):
        store.move("incoming/sales/nothing.csv", "archive/sales/nothing.csv")


def test_quarantine_writes_report_beside_the_file(store: ObjectStore) -> None:
    store.put_bytes("incoming/sales/a.csv", b"abc", "text/csv")
    target = "failed/validation_failed/sales/a.csv"
    store.quarantine("incoming/sales/a.csv", target, {"rule": "empty_file"})
    assert store.get_json(target + ".error.json") == {"rule": "empty_file"}
    assert store.exists(target)


def test_list_incoming_only_lists_that_dataset(store: ObjectStore) -> None:
    for key in ["incoming/sales/1.csv", "incoming/sales/sub/2.csv", "incoming/youtube/3.csv"]:
        store.put_bytes(key, b"x", "text/csv")
    assert list(store.list_incoming("sales")) == [
        "incoming/sales/1.csv",
        "incoming/sales/sub/2.csv",
    ]
