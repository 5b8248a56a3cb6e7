"""The pacer's rate and bursts by what the viewer's REMB says of its path, on a moved clock."""

from __future__ import annotations

import pytest

from reactor_runtime.transport.pacing import (
    BURST_SECONDS,
    CLEAR_BURST_SECONDS,
    LINK_FACTOR,
    PACE_FACTOR,
    Pacer,
)


def waits(pacer: Pacer, packets: int, size: int = 1250) -> list[float]:
    """The waits of `packets` booked back to back."""
    return [pacer.delay(size) for _ in range(packets)]


def last_wait(pacer: Pacer, packets: int, size: int = 1250) -> float:
    """The wait of the last of `packets` booked back to back (the pace they leave at)."""
    return waits(pacer, packets, size)[-1]


def test_a_clear_path_takes_a_whole_frame_at_once_and_a_congested_one_5_ms_of_it():
    now, remb = [0.0], [None]
    pacer = Pacer(lambda: 1_000_000, clock=lambda: now[0], remb=lambda: remb[0])
    # 10 kbit packets paced at 2.5 Mbit/s: 4 ms each.
    assert waits(pacer, 8).count(0.0) == 2, "no REMB yet: 5 ms bursts"
    remb[0], now[0] = 2_000_000, 1.0
    clear = waits(pacer, 8)
    assert clear[:5] == [0.0] * 5 and clear[-1] > CLEAR_BURST_SECONDS, "20 ms bursts"
    remb[0], now[0] = 1_000_000, 2.0  # fell: congested, and paced at 1.2 Mbit/s
    congested = waits(pacer, 8)  # 8.3 ms a packet: only the first leaves at once
    assert congested.count(0.0) == 1 and congested[1] > BURST_SECONDS


def test_a_remb_that_never_fell_leaves_the_pace_at_two_and_a_half_times_the_rate():
    now, remb = [0.0], [2_000_000]
    pacer = Pacer(lambda: 1_000_000, clock=lambda: now[0], remb=lambda: remb[0])
    for value in (2_000_000, 2_400_000, 3_000_000):  # rising: no congestion seen
        remb[0], now[0] = value, now[0] + 1
        assert last_wait(pacer, 11) == pytest.approx(10 * 10_000 / (PACE_FACTOR * 1e6))
    assert not pacer.link_bound


def test_after_a_remb_fall_bursts_leave_no_faster_than_the_path_carries():
    now, remb = [0.0], [1_500_000]
    pacer = Pacer(lambda: 1_000_000, clock=lambda: now[0], remb=lambda: remb[0])
    last_wait(pacer, 1)
    remb[0], now[0] = 1_000_000, 1.0  # the viewer saw its queue grow
    assert last_wait(pacer, 11) == pytest.approx(10 * 10_000 / (LINK_FACTOR * 1e6))
    assert pacer.link_bound
    remb[0], now[0] = 1_600_000, 2.0  # it grows again: the bound follows it
    assert last_wait(pacer, 11) == pytest.approx(10 * 10_000 / (LINK_FACTOR * 1.6e6))


def test_the_bound_never_holds_a_stream_below_what_it_actually_sends():
    now, remb = [0.0], [1_000_000]
    pacer = Pacer(lambda: 1_000_000, clock=lambda: now[0], remb=lambda: remb[0])
    last_wait(pacer, 1)
    remb[0] = 500_000  # fell; yet 2 Mbit/s really comes out: 8.3 kB frames at 30 fps
    for n in range(60):
        now[0] = 1 + n / 30
        pacer.produced(8_333)
        waits = [pacer.delay(1250) for _ in range(7)]
    assert waits[-1] < 1 / 30, "paced at 1.5 x the output, not at the REMB: no backlog"


def test_a_restart_forgets_the_output_floor_so_the_pace_follows_the_cut_rate():
    now, remb = [0.0], [8_000_000]
    target = [8_000_000]
    pacer = Pacer(lambda: target[0], clock=lambda: now[0], remb=lambda: remb[0])
    last_wait(pacer, 1)
    for n in range(30):  # a second of 8 Mbit/s frames
        now[0] = n / 30
        pacer.produced(33_333)
    target[0], remb[0], now[0] = 1_000_000, 1_000_000, 1.01  # the path collapsed
    floored = last_wait(pacer, 11)
    pacer.restart()
    now[0] += 0.05  # the last second's output still inside OUTPUT_WINDOW: only restart forgets it
    assert last_wait(pacer, 11) == pytest.approx(10 * 10_000 / (LINK_FACTOR * 1e6))
    assert floored < 10 * 10_000 / (LINK_FACTOR * 1e6) / 3, "the floor held it at ~12 Mbit/s"
