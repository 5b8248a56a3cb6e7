"""The loss floor under a viewer's playout delay (`transport.playout_floor`)."""

from __future__ import annotations

from reactor_runtime.transport.playout_floor import (
    FLOOR_MAX_MS,
    FLOOR_MIN_MS,
    HOLD_SECONDS,
    PlayoutFloor,
    floor_for,
)


def test_the_floor_covers_a_round_trip_and_a_margin_in_10_ms_steps_within_its_bounds():
    assert floor_for(0.080) == 120
    assert floor_for(0.081) == 130
    assert floor_for(None) == FLOOR_MIN_MS
    assert floor_for(0.001) == FLOOR_MIN_MS
    assert floor_for(2.0) == FLOOR_MAX_MS


def test_loss_raises_the_floor_and_it_is_let_go_only_after_a_clean_hold():
    now = [0.0]
    floor = PlayoutFloor(clock=lambda: now[0])
    assert floor.report(0, 1000, 0.08) is None, "the first report only sets the base"
    assert floor.report(5, 2000, 0.08) is None, "0.5 % lost: rare enough"
    assert floor.report(45, 3000, 0.08) == 120, "4 % lost"
    assert floor.raised == 1
    now[0] = HOLD_SECONDS - 1
    assert floor.report(45, 4000, 0.08) == 120, "clean, but within the hold"
    now[0] = HOLD_SECONDS + 0.5
    assert floor.report(45, 5000, 0.08) is None, "clean for the whole hold: let go"
    assert floor.report(100, 6000, 0.05) == 90, "lossy again, on a shorter round trip"
    assert floor.raised == 2
    assert floor.report(200, 7000, 0.30) == 90, "a queue's round trip does not raise it"
