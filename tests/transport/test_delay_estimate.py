"""The delay-based estimate: its trend detector and its rate rules on synthetic feedback,
then its targets (issue 10) on the simulated bottleneck of `link_model`."""

from __future__ import annotations

import itertools
import random

import pytest
from transport.fake_clock import Clock
from transport.link_model import MBIT, Scenario, constant, simulate, steps

from reactor_runtime.transport.delay_estimate import (
    ACKED_HEADROOM,
    ACKED_SLACK,
    DECREASE_FACTOR,
    DECREASE_INTERVAL,
    DelayBasedEstimate,
)
from reactor_runtime.transport.transport_feedback import PacketResult

OFFSET = 5000.0
"""The viewer's clock is this far ahead of ours: only differences may matter."""


def feed(
    estimate, clock, queue, seconds, start=0.0, jitter=0.0, loss=0.0, shuffle=False, rate=2_000_000
):
    """Send at `rate` in 3-packet bursts every 20 ms; each arrives after `queue(t)` plus jitter.

    Feedback every 100 ms. Returns the (state, value) after each feedback.
    """
    rng = random.Random(7)
    states, pending = [], []
    size = int(rate * 0.02 / 8 / 3)
    t = start
    next_feedback = start + 0.1
    while t < start + seconds:
        burst = []
        for k in range(3):
            sent = t + k * 0.0005
            lost = rng.random() < loss
            arrived = None if lost else sent + 0.02 + queue(sent) + rng.uniform(0, jitter) + OFFSET
            burst.append(PacketResult(sent, size, arrived))
        if shuffle:
            rng.shuffle(burst)
        pending += burst
        t += 0.02
        if t >= next_feedback:
            clock.now = t
            estimate.on_feedback(pending)
            states.append((estimate.state, estimate.value))
            pending = []
            next_feedback += 0.1
    return states


def states_of(seen):
    return [state for state, _ in seen]


def test_a_steady_queue_growth_is_overuse():
    clock = Clock(0.0)
    estimate = DelayBasedEstimate(2 * MBIT, 300_000, 10 * MBIT, clock)
    assert "overusing" not in states_of(feed(estimate, clock, lambda t: 0.0, 2.0, jitter=0.002))
    states = states_of(feed(estimate, clock, lambda t: 0.05 * (t - 2.0), 1.0, start=2.0))
    assert "overusing" in states[:5], f"5 % growth must show within 0.5 s: {states}"
    assert estimate.overused_at is not None and estimate.decreases >= 1


def test_constant_delay_with_jitter_is_normal_whatever_the_clock_offset_loss_or_reordering():
    clock = Clock(0.0)
    estimate = DelayBasedEstimate(2 * MBIT, 300_000, 10 * MBIT, clock)
    states = states_of(
        feed(estimate, clock, lambda t: 0.03, 5.0, jitter=0.004, loss=0.1, shuffle=True)
    )
    assert set(states) == {"normal"}, states
    assert estimate.decreases == 0 and estimate.lost > 0


def test_a_draining_queue_is_underuse_and_holds_the_rate():
    clock = Clock(0.0)
    estimate = DelayBasedEstimate(2 * MBIT, 300_000, 10 * MBIT, clock)
    seen = feed(estimate, clock, lambda t: 0.2, 1.0)[-1:]
    seen += feed(estimate, clock, lambda t: max(0.0, 0.2 - 0.1 * (t - 1.0)), 1.0, start=1.0)
    states = [state for state, _ in seen]
    assert "underusing" in states, states
    assert "overusing" not in states
    held = [(a[1], b[1]) for a, b in itertools.pairwise(seen) if b[0] == "underusing"]
    assert held and all(a == b for a, b in held), f"no rise while the queue drains: {held}"


def test_overuse_cuts_to_085_of_what_arrived_at_most_every_200_ms():
    clock = Clock(0.0)
    estimate = DelayBasedEstimate(5 * MBIT, 300_000, 10 * MBIT, clock)
    feed(estimate, clock, lambda t: 0.0, 1.0)  # 2 Mbit/s arrive, the value says 5
    assert estimate.acked_bitrate == pytest.approx(2 * MBIT, rel=0.05)
    cuts = []
    for k in range(10):  # the queue grows while fewer and fewer bytes arrive
        before = estimate.decreases
        start = 1.0 + 0.1 * k
        feed(estimate, clock, lambda t: 0.08 * (t - 1.0), 0.099, start, rate=2 * MBIT - k * 80_000)
        if estimate.decreases > before:
            cuts.append((clock.now, estimate.value, estimate.acked_bitrate))
    assert len(cuts) >= 3, cuts
    assert all(value == int(DECREASE_FACTOR * acked) for _, value, acked in cuts)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(cuts)]
    assert min(gaps) >= DECREASE_INTERVAL - 1e-6, gaps


def test_a_rise_is_bounded_by_what_arrives_and_a_probe_lifts_the_value_at_once():
    clock = Clock(0.0)
    estimate = DelayBasedEstimate(1 * MBIT, 300_000, 10 * MBIT, clock)
    feed(estimate, clock, lambda t: 0.0, 20.0, rate=900_000)  # the encoder falls short
    acked = estimate.acked_bitrate
    assert acked == pytest.approx(900_000, rel=0.05)
    assert 1.2 * MBIT < estimate.value <= ACKED_HEADROOM * acked + ACKED_SLACK, "not 8 %/s x 20 s"
    estimate.on_probe_result(6 * MBIT)
    assert estimate.value == 6 * MBIT and estimate.probe_jumps == 1
    estimate.on_probe_result(3 * MBIT)
    assert estimate.value == 6 * MBIT, "a lower probe result never lowers it"
    estimate.on_probe_result(50 * MBIT)
    assert estimate.value == 10 * MBIT, "clamped to the maximum"


def test_loss_with_a_standing_queue_is_congestion_and_loss_alone_is_not():
    def lossy(queue):
        clock = Clock(0.0)
        estimate = DelayBasedEstimate(2 * MBIT, 300_000, 10 * MBIT, clock)
        feed(estimate, clock, lambda t: 0.0, 1.0)
        return states_of(feed(estimate, clock, queue, 1.0, start=1.0, loss=0.25))

    assert "overusing" in lossy(lambda t: 0.2), "a full tail-drop queue: constant delay, loss"
    assert "overusing" not in lossy(lambda t: 0.0), "a lossy radio link: no queue"


def test_bad_bounds_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"min_bitrate.*max_bitrate"):
        DelayBasedEstimate(1 * MBIT, 2 * MBIT, 1 * MBIT)


def test_a_2_mbit_cap_from_start_is_found_within_3_s_and_kept_under_with_no_growing_queue():
    run = simulate(Scenario(cap=constant(2 * MBIT), one_way=0.025))
    found = run.first_time(0.0, lambda v: v < 2 * MBIT)
    assert found is not None and found < 3.0, found
    steady = run.median_value(30.0, 60.0)
    assert 1.5 * MBIT <= steady <= 1.9 * MBIT, steady
    earlier, later = run.median_queue(20.0, 40.0), run.median_queue(40.0, 60.0)
    assert later < earlier + 0.005 and later < 0.05, (earlier, later)


def test_a_cap_dropping_to_2_and_back_to_10_mbit_is_followed_down_in_3_s_and_up_in_10():
    run = simulate(Scenario(cap=steps(10 * MBIT, (20.0, 2 * MBIT), (40.0, 10 * MBIT))))
    assert run.value_at(19.9) > 8 * MBIT, "at the 10 Mbit/s cap before the drop"
    down = run.first_time(20.0, lambda v: v < 2 * MBIT)
    assert run.tail_drops > 0, "the 10 Mbit/s stream overflowed the 2 Mbit/s queue"
    assert down is not None and down - 20.0 < 3.0, down
    up = run.first_time(40.0, lambda v: v > 4 * MBIT)
    assert up is not None and up - 40.0 < 10.0, up


def test_with_no_cap_probes_reach_6_mbit_within_5_s_and_never_pass_the_maximum():
    run = simulate(Scenario(start_bitrate=2_500_000))
    fast = run.first_time(0.0, lambda v: v > 6 * MBIT)
    assert fast is not None and fast < 5.0, fast
    assert run.max_value() <= 10 * MBIT
    assert run.probes.succeeded >= 1


def test_15_percent_random_loss_does_not_collapse_the_estimate():
    run = simulate(Scenario(loss=0.15, start_bitrate=2_500_000))
    assert min(v for _, v in run.values) >= 2_500_000
    assert run.estimate.decreases == 0
    assert run.random_losses > 1000 and run.estimate.lost > 1000, "the loss was there"
