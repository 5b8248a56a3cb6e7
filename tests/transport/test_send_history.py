"""SendHistory: feedback matched to what was sent, across both wraps, counted."""

from __future__ import annotations

import pytest

from reactor_runtime.transport.send_history import HISTORY_SECONDS, SendHistory
from reactor_runtime.transport.transport_feedback import (
    PacketResult,
    TransportSequence,
    build_feedback,
    parse_feedback,
)


def feedback_for(base_seq, arrivals, reference_us=0):
    return parse_feedback(build_feedback(1, 2, base_seq, 0, reference_us, arrivals))


def test_send_history_matches_feedback_across_the_sequence_wrap():
    history = SendHistory()
    sequence = TransportSequence(start=65533)
    for index in range(6):
        history.on_sent(sequence.next(), 1000 + index, 10.0 + index / 100, probe=index % 2 or None)
    results = history.on_feedback(feedback_for(65533, [0, 250, None, 1000, 1250, 1500]))
    arrivals = [0.0, 0.00025, None, 0.001, 0.00125, 0.0015]
    assert results == [
        PacketResult(10.0 + i / 100, 1000 + i, arrival, i % 2 or None)
        for i, arrival in enumerate(arrivals)
    ]
    assert history.stats() == {
        "reported": 6,
        "lost": 1,
        "recovered": 0,
        "repeated": 0,
        "unknown": 0,
        "unreported": 0,
        "history": 6,
    }


def test_arrivals_stay_monotonic_across_the_reference_time_wrap():
    history = SendHistory()
    for seq in range(4):
        history.on_sent(seq, 100, seq / 100)
    last_tick = ((1 << 23) - 1) * 64_000
    first = history.on_feedback(feedback_for(0, [last_tick + 1000, last_tick + 2000], last_tick))
    wrapped = -(1 << 23) * 64_000
    second = history.on_feedback(feedback_for(2, [wrapped + 1000, wrapped + 2000], wrapped))
    arrivals = [result.arrived_at for result in first + second]
    assert arrivals == sorted(arrivals)
    assert second[0].arrived_at - first[0].arrived_at == pytest.approx(0.064)


def test_repeats_are_given_once_and_a_late_reception_after_a_loss_is_given():
    history = SendHistory()
    for seq in range(3):
        history.on_sent(seq, 100, 0.0)
    assert [r.arrived_at for r in history.on_feedback(feedback_for(0, [0, None]))] == [0.0, None]
    again = history.on_feedback(feedback_for(0, [0, 1000, None]))
    assert [r.arrived_at for r in again] == [0.001, None]
    assert history.on_feedback(feedback_for(1, [1000, None])) == []
    assert (history.repeated, history.recovered, history.lost, history.reported) == (3, 1, 2, 4)


def test_sequence_numbers_never_sent_or_forgotten_are_counted_as_unknown():
    history = SendHistory(max_packets=3)
    for seq in range(5):
        history.on_sent(seq, 100, 0.0)
    history.on_sent(5, 100, HISTORY_SECONDS + 0.5)
    assert history.stats()["history"] == 1
    assert history.unreported == 5
    results = history.on_feedback(feedback_for(3, [0, 250, 500, 750]))
    assert len(results) == 1
    assert history.unknown == 3, "3 and 4 forgotten, 6 never sent"
    with pytest.raises(ValueError, match="sequence 2 sent after 5, expected a later one"):
        history.on_sent(2, 100, 3.0)
