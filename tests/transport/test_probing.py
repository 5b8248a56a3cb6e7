"""Probe results from a cluster's reported packets, and the controller's schedule on a
clock the test moves."""

from __future__ import annotations

import pytest
from transport.fake_clock import Clock

from reactor_runtime.transport.probing import (
    ABANDON_AFTER,
    PROBE_INTERVAL,
    QUIET_TIME,
    UTILIZATION,
    Probe,
    ProbeController,
    probe_result,
    probe_size,
)
from reactor_runtime.transport.transport_feedback import PacketResult

MBIT = 1_000_000
SIZE = 1200


def cluster(
    probe: Probe, bottleneck: float | None = None, lost: frozenset[int] = frozenset()
) -> list[PacketResult]:
    """The probe's packets paced at its rate, through a bottleneck of `bottleneck` bit/s."""
    results, free = [], 0.0
    for n in range(-(-probe.size // SIZE)):
        sent = 10.0 + n * SIZE * 8 / probe.bitrate
        free = sent if bottleneck is None else max(sent, free) + SIZE * 8 / bottleneck
        arrived = None if n in lost else 700.0 + free
        results.append(PacketResult(sent, SIZE, arrived, probe.cluster))
    return results


def test_a_probe_faster_than_the_path_reads_the_path_and_a_slower_one_its_own_rate():
    probe = Probe(1, 6 * MBIT, probe_size(6 * MBIT))
    assert probe_result(cluster(probe), 1) == pytest.approx(6 * MBIT, rel=0.01)
    assert probe_result(cluster(probe, bottleneck=20 * MBIT), 1) == pytest.approx(
        6 * MBIT, rel=0.01
    )
    saturated = probe_result(cluster(probe, bottleneck=2 * MBIT), 1)
    assert saturated == pytest.approx(UTILIZATION * 2 * MBIT, rel=0.01)
    others = [PacketResult(10.0, SIZE, 700.1, None), PacketResult(10.0, SIZE, 700.2, 2)]
    assert probe_result(cluster(probe) + others, 1) == pytest.approx(6 * MBIT, rel=0.01)


def test_a_probe_with_too_few_arrivals_has_no_result():
    probe = Probe(3, 6 * MBIT, probe_size(6 * MBIT))
    packets = len(cluster(probe))
    assert packets == 10
    assert probe_result(cluster(probe, lost=frozenset({0, 5})), 3) is not None, "80 % arrived"
    assert probe_result(cluster(probe, lost=frozenset({0, 4, 8})), 3) is None, "70 %"
    assert probe_result(cluster(probe)[:3], 3) is None, "3 packets are no rate"
    assert probe_result(cluster(probe), 4) is None, "another cluster's"


def test_a_probe_lasts_15_ms_and_5_packets_at_least():
    assert probe_size(1 * MBIT) == 5 * SIZE
    assert probe_size(8 * MBIT) == 15_000


def test_start_probes_at_3x_then_6x_then_twice_each_result_until_the_maximum():
    clock = Clock()
    probes = ProbeController(20 * MBIT, clock)
    first = probes.next_probe(1 * MBIT)
    assert first is not None and first.bitrate == 3 * MBIT
    assert probes.next_probe(1 * MBIT) is None, "one cluster in flight at a time"
    assert probes.on_results(cluster(first)[:-3]) is None, "not all its bytes reported yet"
    rest = probes.on_results(cluster(first)[-3:])
    assert rest == pytest.approx(3 * MBIT, rel=0.01), "its packets across two feedbacks"
    second = probes.next_probe(3 * MBIT)
    assert second is not None and second.bitrate == 6 * MBIT and second.cluster != first.cluster
    assert probes.on_results(cluster(second)) == pytest.approx(6 * MBIT, rel=0.01)
    third = probes.next_probe(6 * MBIT)
    assert third is not None and third.bitrate == pytest.approx(12 * MBIT, rel=0.01)
    probes.on_results(cluster(third))
    fourth = probes.next_probe(12 * MBIT)
    assert fourth is not None and fourth.bitrate == 20 * MBIT, "capped at the maximum"
    probes.on_results(cluster(fourth))
    assert probes.next_probe(20 * MBIT) is None, "at the maximum: nothing to find"
    assert (probes.sent, probes.succeeded, probes.failed) == (4, 4, 0)


def test_a_failed_start_probe_stops_the_start_sequence_and_recovery_probes_wait_5_s_and_quiet():
    clock = Clock()
    probes = ProbeController(10 * MBIT, clock)
    first = probes.next_probe(2 * MBIT)
    assert first is not None
    assert probes.on_results(cluster(first, bottleneck=2.5 * MBIT)) < 2.5 * MBIT
    assert probes.failed == 1
    assert probes.next_probe(2 * MBIT) is None, "no 6x after a failed 3x"
    clock.now += PROBE_INTERVAL - 0.01
    assert probes.next_probe(2 * MBIT) is None
    clock.now += 0.01
    assert probes.next_probe(2 * MBIT, overused_at=clock.now - QUIET_TIME / 2) is None
    recovery = probes.next_probe(2 * MBIT, overused_at=clock.now - QUIET_TIME)
    assert recovery is not None and recovery.bitrate == 4 * MBIT


def test_a_cluster_without_results_for_1_s_is_abandoned_and_counted():
    clock = Clock()
    probes = ProbeController(10 * MBIT, clock)
    lost = probes.next_probe(1 * MBIT)
    assert lost is not None
    clock.now += ABANDON_AFTER - 0.01
    assert probes.next_probe(1 * MBIT) is None
    clock.now += 0.01
    assert probes.next_probe(1 * MBIT) is None, "abandoned; the next waits its interval"
    assert probes.abandoned == 1
    assert probes.on_results(cluster(lost)) is None, "late results of an abandoned cluster"
    assert probes.stats() == {
        "probes_sent": 1,
        "probes_succeeded": 0,
        "probes_failed": 0,
        "probes_abandoned": 1,
    }


def test_a_bad_maximum_is_refused_naming_it():
    with pytest.raises(ValueError, match="max_bitrate must be > 0 bit/s, got 0"):
        ProbeController(0)
