"""Scaling decisions, without Ray: spare replicas, the queue, the floor and the ceiling."""

from __future__ import annotations

from reactor_runtime.fleet.scaler import plan


def snapshot(*states: str, queued: int = 0) -> dict:
    return {
        "replicas": [{"name": f"r{i}", "state": s} for i, s in enumerate(states)],
        "queue": [f"s{i}" for i in range(queued)],
    }


def test_replicas_are_started_for_the_idle_margin_and_the_queue_up_to_the_ceiling() -> None:
    assert plan(snapshot("busy", "busy"), 2, min_idle=1, floor=2, ceiling=8) == 1
    assert plan(snapshot("busy", "busy", queued=3), 2, min_idle=1, floor=2, ceiling=8) == 4
    assert plan(snapshot("busy", "busy", queued=30), 2, min_idle=1, floor=2, ceiling=8) == 6
    assert plan(snapshot("busy", "idle"), 2, min_idle=1, floor=2, ceiling=8) == 0


def test_a_started_replica_not_yet_placed_counts_as_spare() -> None:
    # Three started, two reporting: the third waits for a GPU; starting more won't help.
    assert plan(snapshot("busy", "busy"), 3, min_idle=1, floor=2, ceiling=8) == 0


def test_idle_replicas_above_the_margin_are_retired_one_at_a_time_down_to_the_floor() -> None:
    assert plan(snapshot("idle", "idle", "idle"), 3, min_idle=1, floor=2, ceiling=8) == -1
    assert plan(snapshot("idle", "idle"), 2, min_idle=1, floor=2, ceiling=8) == 0
    assert plan(snapshot("idle", "idle", "idle", queued=1), 3, min_idle=1, floor=2, ceiling=8) == 0
    assert plan(snapshot("down", "idle", "busy"), 3, min_idle=1, floor=2, ceiling=8) == 0
