"""A fresh fake Metabase per test on a loopback port (pytest-httpserver), and a client for it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from mdp.metabase.client import MetabaseClient
from tests.metabase.fake import FakeMetabase


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeMetabase:
    metabase = FakeMetabase()
    httpserver.expect_request(re.compile(r"^/api/.*")).respond_with_handler(metabase)
    return metabase


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(httpserver: HTTPServer, sleeps: list[float]) -> Iterator[MetabaseClient]:
    """Retries record their back-off instead of sleeping."""
    with MetabaseClient(httpserver.url_for("/"), timeout=5, sleep=sleeps.append) as c:
        yield c
