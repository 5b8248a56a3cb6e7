"""The resend budget: scattered losses are all repaired, a burst past half the stream's
rate asks for a keyframe instead, and packets older than that keyframe stay unsent."""

from __future__ import annotations

import pytest
from transport.fake_clock import Clock

from reactor_runtime.transport.resend_budget import ResendBudget


def test_scattered_losses_are_all_resent_and_a_burst_past_the_rate_is_not():
    clock = Clock(50.0)
    budget = ResendBudget(lambda: 2_000_000, clock=clock)  # 125 kB per 0.5 s
    for _ in range(40):  # 15 % of a 2 Mbit/s stream: ~30 kB per 0.5 s
        assert budget.allow(clock.now - 0.1, 1200)
        clock.now += 0.025
    assert budget.tripped == 0 and not budget.awaiting_keyframe
    allowed = 0
    while budget.allow(clock.now - 0.1, 1200):
        allowed += 1
    assert 60 <= allowed <= 105  # what the window still holds, ~104 packets at most
    assert budget.tripped == 1 and budget.awaiting_keyframe


def test_after_the_keyframe_that_ends_a_burst_older_packets_are_superseded():
    clock = Clock(50.0)
    budget = ResendBudget(lambda: 1_000_000, clock=clock)
    while budget.allow(clock.now - 0.2, 1200):
        pass
    before = clock.now - 0.2
    clock.now += 0.1
    budget.keyframe_sent()
    assert not budget.awaiting_keyframe
    clock.now += 1.0  # the window is empty again
    assert not budget.allow(before, 1200) and budget.superseded == 1
    assert budget.allow(clock.now - 0.05, 1200), "a packet sent after the keyframe"
    assert budget.tripped == 1


def test_a_keyframe_sent_without_a_burst_supersedes_nothing():
    clock = Clock(50.0)
    budget = ResendBudget(lambda: 1_000_000, clock=clock)
    budget.keyframe_sent()
    clock.now += 0.1
    assert budget.allow(clock.now - 0.2, 1200) and budget.superseded == 0


def test_without_a_rate_nothing_is_refused_and_bad_settings_name_themselves():
    budget = ResendBudget(lambda: None)
    assert all(budget.allow(0.0, 1200) for _ in range(10_000))
    with pytest.raises(ValueError, match=r"resend budget share: expected > 0, got 0"):
        ResendBudget(lambda: None, share=0)


def test_while_the_keyframe_is_awaited_packets_sent_before_the_trip_stay_unsent():
    clock = Clock(50.0)
    budget = ResendBudget(lambda: 1_000_000, clock=clock)
    old = clock.now - 0.3
    while budget.allow(old, 1200):
        pass
    clock.now += 1.0  # the window is empty again, but no keyframe went out yet
    assert not budget.allow(old, 1200) and budget.awaiting_keyframe
    assert budget.allow(clock.now - 0.1, 1200), "a packet sent after the trip"


def test_a_restart_refuses_everything_sent_before_it_until_the_keyframe():
    clock = Clock(50.0)
    budget = ResendBudget(lambda: 10_000_000, clock=clock)
    sent = clock.now - 0.05
    budget.restart()
    assert budget.awaiting_keyframe and not budget.allow(sent, 1200)
    clock.now += 0.1
    budget.keyframe_sent()
    assert not budget.allow(sent, 1200) and budget.superseded == 1
    assert budget.restarts == 1
