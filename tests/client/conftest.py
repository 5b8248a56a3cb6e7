"""A `reactor run` of the conformance model on 127.0.0.1, shared by the client tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from client.served import CONFORMANCE_MODEL, Served, reactor_run


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with reactor_run(CONFORMANCE_MODEL) as server:
        yield server
