"""Fixtures: the sample model served by a real uvicorn server with a fake transport."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# Works under either pytest import mode: the helpers sit next to this file.
sys.path.insert(0, str(Path(__file__).parent))

from server_harness import FakePeer, ServedRuntime, sample_runtime


@pytest.fixture
def served() -> Iterator[ServedRuntime]:
    """The sample model, loaded and served on 127.0.0.1 with fake peers."""
    FakePeer.created = []
    server = ServedRuntime(sample_runtime()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(served: ServedRuntime) -> Iterator[httpx.Client]:
    """A client of `served`."""
    with served.client() as client:
        yield client


@pytest.fixture
def started(http: httpx.Client) -> httpx.Client:
    """`http` with a session already started."""
    assert http.post("/start_session", json={}).status_code == 200
    return http


@pytest.fixture
def serve_with() -> Iterator[object]:
    """Start the sample model with Runtime options of the test's choosing (fake peers)."""
    FakePeer.created = []
    servers: list[ServedRuntime] = []

    def start(**options: object) -> ServedRuntime:
        server = ServedRuntime(sample_runtime(**options)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
