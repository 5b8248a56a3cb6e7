"""Replica count: keep `min_idle` replicas spare, never more than `max_replicas`.

`reactor fleet --min-idle K --max-replicas M` runs `Scaler.run()` next to the
gateway. Every `SCALE_INTERVAL` it reads the controller's snapshot and starts
replicas while the spare ones (idle, loading, or started but not yet placed by
Ray, e.g. waiting for a GPU) are fewer than `min_idle` plus the queued sessions;
it retires one idle replica at a time (drained, then its actor killed) while more
than `min_idle` are idle, nothing waits and the fleet is above `--replicas`.
Ray places what it can: a replica asking for a GPU no node has simply waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

SCALE_INTERVAL = 2.0
"""Seconds between scaling decisions: replicas take seconds to load anyway."""


def plan(snapshot: dict[str, Any], started: int, *, min_idle: int, floor: int, ceiling: int) -> int:
    """How many replicas to start (> 0), or -1 to retire an idle one, or 0.

    Args:
        snapshot: the controller's `snapshot()`.
        started: replicas started and not retired (reporting or not yet).
        min_idle: spare replicas to keep.
        floor: never retire below this many (`--replicas`).
        ceiling: never start above this many (`--max-replicas`).
    """
    reporting = [r for r in snapshot["replicas"] if r["state"] != "down"]
    unplaced = max(started - len(snapshot["replicas"]), 0)
    spare = unplaced + sum(1 for r in reporting if r["state"] in ("idle", "loading"))
    waiting = len(snapshot["queue"])
    missing = min_idle + waiting - spare
    if missing > 0:
        return max(min(missing, ceiling - started), 0)
    idle = sum(1 for r in reporting if r["state"] == "idle")
    if idle > min_idle and waiting == 0 and started > floor:
        return -1
    return 0


class Scaler:
    """Starts and retires replicas by `plan()`; see the module docstring."""

    def __init__(
        self,
        controller: Any,
        start: Callable[[int], Any],
        handles: list[Any],
        *,
        min_idle: int,
        floor: int,
        ceiling: int,
    ) -> None:
        """Scale the fleet of `controller`; `start(index)` starts replica `index`.

        `handles` are the replicas started so far (the list is kept up to date).
        """
        self.controller = controller
        self.start = start
        self.handles = handles
        self.min_idle = min_idle
        self.floor = floor
        self.ceiling = ceiling
        self._next = len(handles)

    async def step(self) -> int:
        """One decision, carried out; returns it (see `plan`)."""
        snapshot = await self.controller.snapshot.remote()
        decision = plan(
            snapshot,
            len(self.handles),
            min_idle=self.min_idle,
            floor=self.floor,
            ceiling=self.ceiling,
        )
        for _ in range(max(decision, 0)):
            self.handles.append(self.start(self._next))
            self._next += 1
        if decision < 0:
            await self._retire(snapshot)
        return decision

    async def _retire(self, snapshot: dict[str, Any]) -> None:
        idle = {r["name"] for r in snapshot["replicas"] if r["state"] == "idle"}
        for handle in reversed(self.handles):
            info = await handle.info.remote()
            if info["name"] in idle:
                await self.controller.drain.remote(info["name"], 0.0)
                await handle.stop.remote()
                self.handles.remove(handle)
                import ray

                ray.kill(handle, no_restart=True)
                log.info("retired idle replica %s", info["name"])
                return

    async def run(self, interval: float = SCALE_INTERVAL) -> None:
        """Decide every `interval` seconds until cancelled."""
        while True:
            try:
                await self.step()
            except Exception as exc:
                # The controller may be restarting; the next round decides again.
                log.warning("scaling step failed: %r", exc)
            await asyncio.sleep(interval)
