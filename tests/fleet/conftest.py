"""One fleet per module: a simulated two-node Ray cluster is the slow part (~15 s)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def fleet() -> Iterator[object]:
    pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'reactor-runtime[fleet]'")
    from fleet_harness import Fleet

    started = Fleet(expected_session=1.0)
    try:
        yield started
    finally:
        started.stop()
