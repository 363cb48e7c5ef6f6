"""The MinIO event trigger's parsing: notification lines and ListObjectsV2 pages to records.

The trigger itself runs in the triggerer of tests/e2e/test_scheduler.py against a real MinIO.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.events import MinioObjectCreatedTrigger, listed_objects, records_of  # noqa: E402


def test_notification_lines_become_records_and_keep_alives_are_skipped() -> None:
    line = json.dumps(
        {
            "Records": [
                {
                    "eventName": "s3:ObjectCreated:Put",
                    "eventTime": "2026-11-22T07:00:00.000Z",
                    "s3": {
                        "object": {"key": "incoming/sales/a+b%2Cc.csv", "eTag": "e1", "size": 3}
                    },
                }
            ]
        }
    )
    assert records_of(line) == [
        {
            "key": "incoming/sales/a b,c.csv",
            "etag": "e1",
            "size": 3,
            "event": "s3:ObjectCreated:Put",
            "time": "2026-11-22T07:00:00.000Z",
        }
    ]
    assert records_of(b"   ") == []
    assert records_of('{"Records": null}') == []


def test_a_listing_page_becomes_records_without_folder_markers() -> None:
    page = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Contents><Key>incoming/sales/</Key><ETag>"d41d"</ETag><Size>0</Size></Contents>
<Contents><Key>incoming/sales/a.csv</Key><LastModified>2026-11-22T07:00:00.123Z</LastModified>
<ETag>"abc"</ETag><Size>12</Size></Contents>
<IsTruncated>true</IsTruncated><NextContinuationToken>next</NextContinuationToken>
</ListBucketResult>"""
    records, token = listed_objects(page)
    assert records == [
        {
            "key": "incoming/sales/a.csv",
            "etag": "abc",
            "size": 12,
            "event": "listed",
            "time": "2026-11-22T07:00:00.123Z",
        }
    ]
    assert token == "next"
    last = page.replace(b"<IsTruncated>true", b"<IsTruncated>false")
    assert listed_objects(last)[1] == ""


def test_the_trigger_stores_no_secret() -> None:
    classpath, kwargs = MinioObjectCreatedTrigger("mdp_s3", "mdp").serialize()
    assert classpath == "mdp_dags.events.MinioObjectCreatedTrigger"
    assert kwargs == {
        "conn_id": "mdp_s3",
        "bucket": "mdp",
        "prefix": "incoming/",
        "poll_seconds": 5.0,
    }
