"""One fleet per module: a simulated two-node Ray cluster is the slow part (~15 s)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before Ray is imported anywhere: its nodes, workers and replicas then use 127.0.0.1
# instead of the machine's own address (tests send nothing to the machine's other
# addresses). Ray reads this switch as "no multi-host cluster" and takes loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

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
