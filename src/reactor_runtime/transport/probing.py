"""Probing: a short burst sent faster than the estimate, to learn what the path carries.

A delay-based estimate only grows by a few percent a second: after a cap is lifted it
would take minutes to find the new link. A probe cluster is a few packets paced at a
higher rate (`PROBE_DURATION` at least, `PROBE_MIN_PACKETS` at least); at the viewer
they arrive as fast as the path lets them, so the arrival rate of the cluster is what
the path can carry, up to the probed rate. It costs a few kilobytes into a queue that
drains within tens of milliseconds.

`ProbeController` decides when: at the start, at `INITIAL_FACTORS` x the start
estimate; after a probe that got through (`SUCCESS_RATIO` of its rate), again at
`FURTHER_FACTOR` x its result, until the maximum; and every `PROBE_INTERVAL`, while
the estimate is below the maximum and no overuse was seen in the last `QUIET_TIME`,
at `FURTHER_FACTOR` x the estimate (recovery: how a lifted cap is found). One
cluster is in flight at a time; one without results after `ABANDON_AFTER` is given
up (counted).

`probe_result` turns a cluster's reported packets into a rate: the send rate and
the receive rate of its bytes, the lower of the two (a path faster than the probe
shows the send rate, a slower one its own); a probe that filled the bottleneck
reads `UTILIZATION` x its receive rate, a rate that lets the queue it built drain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .transport_feedback import PacketResult

PACKET_SIZE = 1200
"""Bytes of one probe packet (a full video packet), for the cluster's least size."""
PROBE_MIN_PACKETS = 5
"""Fewest packets in a cluster: fewer arrival gaps are timer noise, not a rate."""
PROBE_DURATION = 0.015
"""Least seconds a cluster lasts at its rate: shorter bursts measure the sender's and
the network's batching rather than the bottleneck."""
MIN_RESULT_PACKETS = 4
"""Fewest arrived packets a result rests on (three gaps on each side)."""
MIN_RESULT_FRACTION = 0.8
"""Least fraction of a cluster's packets that must arrive: with more lost, the
arrival span of the rest is no rate."""
SATURATED = 0.9
"""A receive rate under this x the send rate shows the bottleneck itself: the probe
filled its queue."""
UTILIZATION = 0.95
"""A saturated probe's result is this x its receive rate: the bottleneck's full rate
would keep its queue from draining (and the probe just added to it)."""
SUCCESS_RATIO = 0.9
"""A probe whose result is at least this x its rate got through: the path may carry
more still."""
INITIAL_FACTORS = (3, 6)
"""Probes at the start, x the start estimate (the second only after the first got
through): the start estimate is a guess, and most paths carry far more."""
FURTHER_FACTOR = 2
"""The next probe after a success, and a recovery probe, are at this x the rate found."""
PROBE_INTERVAL = 5.0
"""Seconds between recovery probes while the estimate is below the maximum."""
QUIET_TIME = 2.0
"""No recovery probe within this many seconds of an overuse: the estimate is at the
path's capacity, and a probe would only add to its queue."""
ABANDON_AFTER = 1.0
"""Seconds a cluster may wait for its results before it is given up (its packets or
their feedback were lost)."""


@dataclass(frozen=True, slots=True)
class Probe:
    """A cluster to send now: at least `size` bytes, tagged `cluster`, paced at `bitrate`.

    Attributes:
        cluster: The cluster id each of its packets' `PacketResult.probe` carries.
        bitrate: The pace (bit/s).
        size: Bytes to send (the cluster is judged once this many are reported).
    """

    cluster: int
    bitrate: int
    size: int


def probe_size(bitrate: int) -> int:
    """Bytes of a cluster at `bitrate`: `PROBE_DURATION` of it, `PROBE_MIN_PACKETS` at least."""
    return max(PROBE_MIN_PACKETS * PACKET_SIZE, math.ceil(bitrate * PROBE_DURATION / 8))


def probe_result(results: Sequence[PacketResult], cluster: int) -> int | None:
    """The rate (bit/s) `cluster`'s packets among `results` show the path carries.

    The send rate counts the bytes over the send span without the last packet's (its
    bytes left after the span ended), the receive rate the bytes over the arrival span
    without the first packet's (they arrived before it began). The result is the
    lower of the two; when the receive rate is under `SATURATED` x the send rate the
    probe filled the bottleneck, and the result is `UTILIZATION` x the receive rate.

    Returns:
        The rate, or None if fewer than `MIN_RESULT_PACKETS` or than
        `MIN_RESULT_FRACTION` of the cluster's reported packets arrived, or if the
        packets span no time on either side.
    """
    reported = [r for r in results if r.probe == cluster]
    arrived = [r for r in reported if r.arrived_at is not None]
    if len(arrived) < max(MIN_RESULT_PACKETS, MIN_RESULT_FRACTION * len(reported)):
        return None
    total = sum(r.size for r in arrived)
    by_send = sorted(arrived, key=lambda r: r.sent_at)
    send_span = by_send[-1].sent_at - by_send[0].sent_at
    by_arrival = sorted(arrived, key=lambda r: r.arrived_at or 0.0)
    first, last = by_arrival[0].arrived_at, by_arrival[-1].arrived_at
    assert first is not None and last is not None
    arrival_span = last - first
    send = (total - by_send[-1].size) * 8 / send_span if send_span > 0 else math.inf
    receive = (total - by_arrival[0].size) * 8 / arrival_span if arrival_span > 0 else math.inf
    if math.isinf(send) and math.isinf(receive):
        return None
    if receive < SATURATED * send:
        return int(UTILIZATION * receive)
    return int(min(send, receive))


class _Cluster:
    """A cluster in flight and what its feedback said so far."""

    def __init__(self, probe: Probe, started: float) -> None:
        self.probe = probe
        self.started = started
        self.results: list[PacketResult] = []
        self.reported = 0


class ProbeController:
    """When to probe, how fast, and what the results say.

    Attributes:
        sent: Clusters asked for.
        succeeded: Clusters whose result reached `SUCCESS_RATIO` of their rate.
        failed: Clusters with a lower result, or too few arrivals for one.
        abandoned: Clusters given up after `ABANDON_AFTER` without their results.
    """

    def __init__(self, max_bitrate: int, clock: Callable[[], float] = time.monotonic) -> None:
        """Probe up to `max_bitrate` (bit/s), on `clock` (monotonic seconds)."""
        if max_bitrate <= 0:
            raise ValueError(f"max_bitrate must be > 0 bit/s, got {max_bitrate}")
        self.max_bitrate = max_bitrate
        self.clock = clock
        self.sent = self.succeeded = self.failed = self.abandoned = 0
        self._started = False
        self._initial: list[int] = []
        self._further: int | None = None
        self._in_flight: _Cluster | None = None
        self._last_probe: float | None = None
        self._next_cluster = 1

    def next_probe(self, estimate: int, overused_at: float | None = None) -> Probe | None:
        """The cluster to send now, or None.

        Call it often (each frame, each feedback): it says when.

        Args:
            estimate: The current estimate (bit/s).
            overused_at: Clock time of the estimate's latest overuse, None if never.
        """
        now = self.clock()
        flying = self._in_flight
        if flying is not None:
            if now - flying.started < ABANDON_AFTER:
                return None
            self.abandoned += 1
            self._in_flight = None
            self._further = None
            self._initial.clear()
        if not self._started:
            self._started = True
            first, *rest = (f * estimate for f in INITIAL_FACTORS)
            self._initial = [min(r, self.max_bitrate) for r in rest]
            return self._launch(min(first, self.max_bitrate), estimate, now)
        if self._further is not None:
            bitrate, self._further = self._further, None
            return self._launch(bitrate, estimate, now)
        if estimate >= self.max_bitrate:
            return None
        if self._last_probe is not None and now - self._last_probe < PROBE_INTERVAL:
            return None
        if overused_at is not None and now - overused_at < QUIET_TIME:
            return None
        return self._launch(min(FURTHER_FACTOR * estimate, self.max_bitrate), estimate, now)

    def on_results(self, results: Sequence[PacketResult]) -> int | None:
        """Take all results of one feedback; the bitrate a completed cluster showed.

        A cluster is complete once results for `size` bytes of it are in.

        Returns:
            The rate to give `DelayBasedEstimate.on_probe_result`, None if no cluster
            completed or the one that did had too few arrivals to tell.
        """
        flying = self._in_flight
        if flying is None:
            return None
        cluster = flying.probe.cluster
        for result in results:
            if result.probe == cluster:
                flying.results.append(result)
                flying.reported += result.size
        if flying.reported < flying.probe.size:
            return None
        self._in_flight = None
        bitrate = probe_result(flying.results, cluster)
        if bitrate is None or bitrate < SUCCESS_RATIO * flying.probe.bitrate:
            self.failed += 1
            self._initial.clear()
            return bitrate
        self.succeeded += 1
        if self._initial:
            self._further = self._initial.pop(0)
        elif flying.probe.bitrate < self.max_bitrate:
            self._further = min(FURTHER_FACTOR * bitrate, self.max_bitrate)
        return bitrate

    def stats(self) -> dict[str, Any]:
        """The clusters sent and what became of them."""
        return {
            "probes_sent": self.sent,
            "probes_succeeded": self.succeeded,
            "probes_failed": self.failed,
            "probes_abandoned": self.abandoned,
        }

    def _launch(self, bitrate: int, estimate: int, now: float) -> Probe | None:
        if bitrate <= estimate:
            return None  # nothing above the estimate to learn
        probe = Probe(self._next_cluster, int(bitrate), probe_size(int(bitrate)))
        self._next_cluster += 1
        self._in_flight = _Cluster(probe, now)
        self._last_probe = now
        self.sent += 1
        return probe
