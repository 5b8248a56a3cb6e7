"""A deterministic bottleneck in simulated time, to drive the send-side estimate.

The sender emits 30 fps frames of `rate / 30` bytes as 1200-byte packets, paced at
2.5 x the rate, plus the probe clusters `ProbeController` asks for (paced at their
own rate, ahead of media). The link has a rate cap that may change over time, a
FIFO of `QUEUE_SECONDS` at the cap with tail drop, a fixed one-way delay each way
and optional seeded random loss after the queue. The viewer sends transport
feedback every `FEEDBACK_INTERVAL` with every packet up to the latest arrived one
(those before it that never came are lost); it reaches the sender one one-way delay
later, where `DelayBasedEstimate` and `ProbeController` take it and the estimate
becomes the sender's rate. The viewer's clock is offset by `VIEWER_CLOCK_OFFSET`.
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from reactor_runtime.transport.delay_estimate import DelayBasedEstimate
from reactor_runtime.transport.probing import ProbeController
from reactor_runtime.transport.transport_feedback import PacketResult

FPS = 30
PACKET = 1200
PACE_FACTOR = 2.5
QUEUE_SECONDS = 0.2
FEEDBACK_INTERVAL = 0.1
VIEWER_CLOCK_OFFSET = 1234.5678
MBIT = 1_000_000


def constant(cap: float | None) -> Callable[[float], float | None]:
    """A cap (bit/s, None: unlimited) that never changes."""
    return lambda _t: cap


def steps(
    first: float | None, *changes: tuple[float, float | None]
) -> Callable[[float], float | None]:
    """A cap starting at `first` and changing to each `(at, cap)` in turn."""

    def cap(t: float) -> float | None:
        current = first
        for at, value in changes:
            if t >= at:
                current = value
        return current

    return cap


@dataclass
class Scenario:
    cap: Callable[[float], float | None] = field(default_factory=lambda: constant(None))
    duration: float = 60.0
    one_way: float = 0.025
    loss: float = 0.0
    seed: int = 1
    start_bitrate: int = 2_500_000
    min_bitrate: int = 300_000
    max_bitrate: int = 10_000_000


@dataclass
class Run:
    """What happened: the estimate after each feedback, each packet's queueing delay
    (sent at, seconds in the queue), the packets the queue dropped and the link lost."""

    estimate: DelayBasedEstimate
    probes: ProbeController
    values: list[tuple[float, int]] = field(default_factory=list)
    queue_delays: list[tuple[float, float]] = field(default_factory=list)
    tail_drops: int = 0
    random_losses: int = 0

    def value_at(self, t: float) -> int:
        """The estimate in force at `t`."""
        current = self.values[0][1]
        for at, value in self.values:
            if at > t:
                break
            current = value
        return current

    def first_time(self, after: float, condition: Callable[[int], bool]) -> float | None:
        """The first feedback time at or after `after` whose estimate meets `condition`."""
        return next((t for t, v in self.values if t >= after and condition(v)), None)

    def median_value(self, start: float, end: float) -> float:
        return statistics.median(v for t, v in self.values if start <= t < end)

    def median_queue(self, start: float, end: float) -> float:
        return statistics.median(d for t, d in self.queue_delays if start <= t < end)

    def max_value(self) -> int:
        return max(v for _, v in self.values)


class _Link:
    def __init__(self, scenario: Scenario, run: Run) -> None:
        self.scenario = scenario
        self.run = run
        self.rng = random.Random(scenario.seed)
        self.queue: deque[tuple[float, int]] = deque()  # leaves at, bytes
        self.queued = 0
        self.free_at = 0.0

    def carry(self, t: float, size: int) -> float | None:
        """When a packet entering at `t` leaves the queue, None if dropped."""
        cap = self.scenario.cap(t)
        leaves = t
        if cap is not None:
            while self.queue and self.queue[0][0] <= t:
                self.queued -= self.queue.popleft()[1]
            if (self.queued + size) * 8 > cap * QUEUE_SECONDS:
                self.run.tail_drops += 1
                return None
            start = max(t, self.free_at)
            leaves = start + size * 8 / (self.scenario.cap(start) or cap)
            self.free_at = leaves
            self.queue.append((leaves, size))
            self.queued += size
        self.run.queue_delays.append((t, leaves - t))
        if self.scenario.loss and self.rng.random() < self.scenario.loss:
            self.run.random_losses += 1
            return None
        return leaves


def simulate(scenario: Scenario) -> Run:
    """Run `scenario` to its end and return what the estimate did."""
    now = 0.0
    estimate = DelayBasedEstimate(
        scenario.start_bitrate, scenario.min_bitrate, scenario.max_bitrate, lambda: now
    )
    estimate.on_rtt(2 * scenario.one_way)
    probes = ProbeController(scenario.max_bitrate, lambda: now)
    run = Run(estimate, probes)
    link = _Link(scenario, run)
    events: list[tuple[float, int, str, object]] = []
    order = 0

    def schedule(t: float, kind: str, data: object = None) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, data))

    sent: list[tuple[float, int, int | None, float | None]] = []  # sent, size, probe, arrival
    media: deque[int] = deque()
    probing: deque[tuple[int, int]] = deque()  # size, cluster
    probe_rate: dict[int, int] = {}
    idle = True
    reported = 0

    def maybe_probe() -> None:
        nonlocal idle
        probe = probes.next_probe(estimate.value, estimate.overused_at)
        if probe is None:
            return
        estimate.probe_sent()
        probe_rate[probe.cluster] = probe.bitrate
        for _ in range(-(-probe.size // PACKET)):
            probing.append((PACKET, probe.cluster))
        if idle:
            idle = False
            schedule(now, "send")

    def send() -> None:
        nonlocal idle
        if probing:
            size, cluster = probing.popleft()
            pace: float = probe_rate[cluster]
        elif media:
            size, cluster, pace = media.popleft(), None, PACE_FACTOR * estimate.value
        else:
            idle = True
            return
        leaves = link.carry(now, size)
        arrival = None if leaves is None else leaves + scenario.one_way
        sent.append((now, size, cluster, arrival))
        schedule(now + size * 8 / pace, "send")

    def feedback() -> None:
        nonlocal reported
        last = None
        index = reported
        while index < len(sent) and sent[index][0] <= now:
            arrival = sent[index][3]
            if arrival is not None and arrival <= now:
                last = index
            index += 1
        if last is not None:
            results = [
                PacketResult(s, size, None if a is None else a + VIEWER_CLOCK_OFFSET, c)
                for s, size, c, a in sent[reported : last + 1]
            ]
            reported = last + 1
            schedule(now + scenario.one_way, "deliver", results)
        schedule(now + FEEDBACK_INTERVAL, "feedback")

    def deliver(results: list[PacketResult]) -> None:
        estimate.on_feedback(results)
        bitrate = probes.on_results(results)
        if bitrate is not None:
            estimate.on_probe_result(bitrate)
        run.values.append((now, estimate.value))
        maybe_probe()

    def frame() -> None:
        nonlocal idle
        remaining = estimate.value // FPS // 8
        while remaining > 0:
            media.append(min(PACKET, remaining))
            remaining -= PACKET
        maybe_probe()
        if idle:
            idle = False
            schedule(now, "send")
        schedule(now + 1 / FPS, "frame")

    schedule(0.0, "frame")
    schedule(FEEDBACK_INTERVAL, "feedback")
    while events:
        now, _, kind, data = heapq.heappop(events)
        if now > scenario.duration:
            break
        if kind == "send":
            send()
        elif kind == "frame":
            frame()
        elif kind == "feedback":
            feedback()
        else:
            deliver(data)  # type: ignore[arg-type]
    return run
