"""The send-side delay-based estimate: how fast a viewer's path carries our video.

The viewer's transport feedback tells, for each packet we sent, when it arrived (on
the viewer's clock) or that it was lost. When we send faster than the path's
bottleneck, a queue builds there and each packet waits a little longer than the one
before it; that growth shows long before the queue overflows. `DelayBasedEstimate`
follows the public GCC design (draft-ietf-rmcat-gcc): packets sent within
`BURST_INTERVAL` form a group; for each pair of groups, the inter-arrival time minus
the inter-departure time is the delay the path added; the `TrendDetector` fits a
slope to the accumulated, smoothed delay over the last `TREND_WINDOW` groups and
compares it with a threshold that adapts to the path's jitter. Only differences of
arrival times are used, so the viewer's clock offset does not matter.

The rate is additive-increase, multiplicative-decrease on what the viewer received
(`acked_bitrate`): overuse cuts it to `DECREASE_FACTOR` x that, and what arrived then
is the link capacity; normal grows it by `MULTIPLICATIVE_GROWTH` per second while no
capacity is known, by about a packet per response time once one is (the rate is then
near it); underuse holds it (the queue is draining). A rise is never above
`ACKED_HEADROOM` x what arrives. The capacity is forgotten when more than it
arrives, or when a probe shows the path carries more than the value.

A tail-drop queue that is full adds a constant delay: no gradient, only loss. Loss
alone is no congestion signal (a radio link loses packets at any rate), so loss
counts as overuse only while every packet of the last `ACKED_WINDOW` waited in a
queue (`STANDING_QUEUE`): the path is overfull, not lossy.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .transport_feedback import PacketResult
from .trend_detector import NORMAL, OVERUSING, UNDERUSING, TrendDetector

BURST_INTERVAL = 0.005
"""Packets sent within this of a group's first form one group: a pacer sends in
bursts this long, and packets within a burst queue behind one another by design."""
ARRIVAL_JUMP = 3.0
"""An arrival gap between groups beyond this (seconds) restarts the detector: the
viewer's clock jumped or the stream paused, and the delay across it means nothing."""
ACKED_WINDOW = 0.5
"""Seconds of arrivals the acknowledged bitrate is measured over: a few round trips,
long enough to span several frames at 30 fps."""
ACKED_MIN_SPAN = 0.1
"""Fewest seconds of arrivals an acknowledged bitrate rests on (three frames)."""
DECREASE_FACTOR = 0.85
"""On overuse the rate becomes this x the acknowledged bitrate: under what the path
delivered, so the queue that built drains."""
DECREASE_INTERVAL = 0.2
"""Seconds between two decreases (about a round trip): the feedback that follows a
cut still shows the queue the previous rate built."""
FAR_OVER = 0.5
"""With less than this x the value arriving, an overuse cuts at once, whatever the
interval: the value is far above the path (a cap just fell), and each round trip
spent above it fills the queue further."""
MULTIPLICATIVE_GROWTH = 1.08
"""Growth per second far from the known link capacity (8 %/s, GCC's)."""
MAX_GROWTH_STEP = 1.0
"""Most seconds of growth one feedback applies: a pause in the feedback is no
evidence the path could take more."""
MIN_ADDITIVE_GROWTH = 4_000
"""Least additive growth (bit/s per second) near the link capacity."""
RESPONSE_EXTRA = 0.1
"""Seconds added to the round trip for the time a rise takes to show as delay
(feedback interval, grouping, the trend window)."""
DEFAULT_RTT = 0.1
"""Round trip assumed until `on_rtt` tells the path's own."""
ACKED_HEADROOM = 1.5
"""A rise stops at this x the acknowledged bitrate (+ `ACKED_SLACK`): a rate the
encoder does not fill, or the path does not carry, is no evidence the path could."""
ACKED_SLACK = 10_000
"""Bit/s above `ACKED_HEADROOM` x acknowledged, so a near-idle stream may still rise."""
CAPACITY_SMOOTHING = 0.05
"""Weight of a new overuse sample in the link capacity's moving average."""
CAPACITY_SPREAD = (0.02, 0.08)
"""Bounds of the capacity's relative deviation: a tighter band would trust one noisy
sample, a wider one would keep a capacity the path no longer has."""
CAPACITY_DEVIATIONS = 3
"""More than this many deviations away from the capacity arriving means the path
changed: the capacity is forgotten (above) or replaced (below, at an overuse)."""
COLLAPSE_WINDOW = 0.25
"""Seconds of the latest arrivals a collapse reads the path's new capacity from: while
its queue overflows, what arrives is exactly what it carries."""
PROBE_SHADOW = 0.8
"""Seconds (after a round trip) an overuse is blamed on the probe just sent rather
than on the stream: a probe's extra bytes make a short queue that shows in the next
feedback and stays in the trend's window (~20 groups, 0.7 s at 30 fps) until it has
drained. Cutting the rate for it turned every failed recovery probe behind a cap into
a 15 % cut (a sawtooth around 75 % of the cap instead of ~90 %)."""
PACKET_SIZE = 1200
"""Typical video packet size (bytes), for the near-capacity additive step."""
FRAME_RATE = 30
"""Frames per second assumed for the additive step (one packet per frame more)."""
STANDING_QUEUE = 0.015
"""Seconds every packet of the window waited beyond the least delay seen: a queue
that never drained (a pacer's burst drains within a frame interval)."""
CONGESTED_LOSS = 0.1
"""Loss fraction over the window that, with a standing queue, counts as overuse."""
BASE_DELAY_WINDOW = 30.0
"""Seconds the least one-way delay is remembered (a route change ages out)."""


class DelayBasedEstimate:
    """A viewer's rate from its transport feedback, GCC's delay-based controller.

    Attributes:
        value: The estimate (bit/s), within [min_bitrate, max_bitrate].
        state: The detector's latest verdict: "normal", "overusing" or "underusing".
        overused_at: Clock time of the latest overuse, None before one.
        increases: Feedbacks that raised the value.
        decreases: Cuts on overuse.
        probe_jumps: Probe results that raised the value.
        held_overuses: Overuses within a hold (a probe's shadow, a collapse's drain): not cut for.
        lost: Packets reported lost (skipped by the detector).
        resets: Times the detector restarted after an arrival jump.
    """

    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start at `start_bitrate`, always within [`min_bitrate`, `max_bitrate`] (bit/s)."""
        if not 0 < min_bitrate <= max_bitrate:
            raise ValueError(
                f"min_bitrate must be > 0 and <= max_bitrate ({max_bitrate}), got {min_bitrate}"
            )
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.clock = clock
        self.value = self._clamp(start_bitrate)
        self.state = NORMAL
        self.overused_at: float | None = None
        self.rtt = DEFAULT_RTT
        self.detector = TrendDetector()
        self.increases = self.decreases = self.probe_jumps = self.lost = self.resets = 0
        self._group: list[float] | None = None  # first sent, last sent, last arrival, delay
        self._previous: list[float] | None = None
        self._acked: deque[tuple[float, int]] = deque()  # arrival, size
        self._window: deque[tuple[float, bool, float]] = deque()  # arrival, lost, delay
        self._base: deque[tuple[float, float]] = deque()  # sent, least delay (rising)
        self._latest: float | None = None
        self._latest_delay: float | None = None
        self._capacity: float | None = None
        self._spread = CAPACITY_SPREAD[0]
        self._last_update: float | None = None
        self._last_decrease: float | None = None
        self._hold_until: float | None = None
        self._shadow_until: float | None = None
        self.held_overuses = 0

    def on_rtt(self, rtt: float) -> None:
        """Take the path's round trip (seconds): it paces decreases and additive rises."""
        self.rtt = rtt

    def on_feedback(self, results: Sequence[PacketResult]) -> None:
        """Take the results of one transport feedback (any order) and update the value."""
        overused = False
        for result in sorted(results, key=lambda r: r.sent_at):
            if result.arrived_at is None:
                self.lost += 1
                if self._latest is not None:  # counted at the latest arrival's time
                    self._window.append((self._latest, True, 0.0))
                continue
            self._note_arrival(result)
            if self._group_packet(result.sent_at, result.arrived_at):
                overused |= self.detector.state == OVERUSING
        self._trim_windows()
        state = OVERUSING if overused or self._congested_loss() else self.detector.state
        self.state = state
        self._update(state)

    def probe_sent(self) -> None:
        """A probe cluster leaves now: the overuse it may cause is not the stream's.

        Unless what arrives falls under `FAR_OVER` of the value meanwhile: a probe
        does not do that, a cap that falls at the same time does.
        """
        self._shadow_until = self.clock() + self.rtt + PROBE_SHADOW

    def collapse(self, factor: float, seconds: float) -> None:
        """The path collapsed under the stream: take `factor` x acked (if lower), hold it.

        Held `seconds` (`hold`). What arrived over the last `COLLAPSE_WINDOW` is what
        the path's full queue let through, its capacity now; the acknowledged rate
        (`ACKED_WINDOW`) still counts arrivals from before the collapse, and a cut of
        it stays above the path.
        """
        acked = self._acked_over(COLLAPSE_WINDOW)
        if acked is not None:
            self.value = min(self.value, self._clamp(int(factor * acked)))
        self.hold(seconds)

    def hold(self, seconds: float) -> None:
        """Cut nothing for an overuse in the next `seconds`: the sender caused it."""
        until = self.clock() + seconds
        self._hold_until = until if self._hold_until is None else max(self._hold_until, until)

    def on_probe_result(self, bitrate: int) -> None:
        """A probe showed the path carries `bitrate`: jump to it if above the value.

        The link capacity learnt at past overuses is forgotten: the path has changed.
        """
        if bitrate > self.value:
            self.value = self._clamp(bitrate)
            self._capacity = None
            self.probe_jumps += 1

    @property
    def queue_delay(self) -> float | None:
        """Seconds the latest reported packet waited in the path's queues, or None.

        Its delay over the least seen (`BASE_DELAY_WINDOW`).
        """
        if self._latest_delay is None or not self._base:
            return None
        return self._latest_delay - self._base[0][1]

    @property
    def acked_bitrate(self) -> int | None:
        """What the viewer received over the last `ACKED_WINDOW` (bit/s), None if too little."""
        return self._acked_over(ACKED_WINDOW)

    def _acked_over(self, seconds: float) -> int | None:
        if self._latest is None:
            return None
        recent = [(a, size) for a, size in self._acked if a >= self._latest - seconds]
        if len(recent) < 2:
            return None
        arrivals = [a for a, _ in recent]
        span = max(arrivals) - min(arrivals)
        if span < min(ACKED_MIN_SPAN, seconds / 2):
            return None
        size = sum(size for _, size in recent) - recent[0][1]
        return int(size * 8 / span)

    def stats(self) -> dict[str, Any]:
        """The value, its inputs and the counters."""
        return {
            "estimate": self.value,
            "state": self.state,
            "acked_bitrate": self.acked_bitrate,
            "link_capacity": None if self._capacity is None else int(self._capacity),
            "trend": round(self.detector.trend, 3),
            "threshold": round(self.detector.threshold, 3),
            "increases": self.increases,
            "decreases": self.decreases,
            "probe_jumps": self.probe_jumps,
            "held_overuses": self.held_overuses,
            "lost": self.lost,
            "resets": self.resets,
        }

    def _note_arrival(self, result: PacketResult) -> None:
        arrived = result.arrived_at
        assert arrived is not None
        delay = arrived - result.sent_at  # includes the clocks' offset; only compared
        self._latest = arrived if self._latest is None else max(self._latest, arrived)
        self._acked.append((arrived, result.size))
        self._window.append((arrived, False, delay))
        base = self._base
        while base and base[-1][1] >= delay:
            base.pop()
        base.append((result.sent_at, delay))
        self._latest_delay = delay
        while base[0][0] < result.sent_at - BASE_DELAY_WINDOW:
            base.popleft()

    def _trim_windows(self) -> None:
        if self._latest is None:
            return
        latest = self._latest
        while self._acked and self._acked[0][0] < latest - ACKED_WINDOW:
            self._acked.popleft()
        while self._window and self._window[0][0] < latest - ACKED_WINDOW:
            self._window.popleft()

    def _congested_loss(self) -> bool:
        window = self._window
        if not self._base or len(window) < 2 or window[-1][0] - window[0][0] < ACKED_MIN_SPAN:
            return False
        lost = sum(1 for _, gone, _ in window if gone)
        if lost < CONGESTED_LOSS * len(window):
            return False
        least = min(d for _, gone, d in window if not gone)
        return least - self._base[0][1] > STANDING_QUEUE

    def _group_packet(self, sent: float, arrived: float) -> bool:
        """Add one arrived packet; True when it closed a group the detector then judged."""
        group = self._group
        if group is None:
            self._group = [sent, sent, arrived, arrived - sent]
            return False
        first, _, last_arrival, delay = group
        if sent < first:
            return False  # reordered across groups: its group was judged already
        queued_behind = arrived - last_arrival < BURST_INTERVAL and arrived - sent < delay
        if sent - first <= BURST_INTERVAL or queued_behind:
            group[1] = max(group[1], sent)
            if arrived >= last_arrival:
                group[2], group[3] = arrived, arrived - sent
            return False
        previous, self._previous = self._previous, group
        self._group = [sent, sent, arrived, arrived - sent]
        if previous is None:
            return False
        send_delta = group[1] - previous[1]
        arrival_delta = group[2] - previous[2]
        if abs(arrival_delta - send_delta) > ARRIVAL_JUMP:
            self.detector = TrendDetector()
            self._previous = None
            self.resets += 1
            return False
        self.detector.update(arrival_delta, send_delta, group[2])
        return True

    def _update(self, state: str) -> None:
        now = self.clock()
        acked = self.acked_bitrate
        if state == OVERUSING:
            self.overused_at = now
            self._last_update = now
            shadowed = self._shadow_until is not None and now < self._shadow_until
            if shadowed and acked is not None and acked < FAR_OVER * self.value:
                shadowed = False  # more than a probe's queue: the path fell
            if shadowed or (self._hold_until is not None and now < self._hold_until):
                self.held_overuses += 1
                return
            if self._may_decrease(now, acked):
                self._decrease(now, acked)
            return
        if state == UNDERUSING or self._last_update is None:
            self._last_update = now
            return
        elapsed = min(now - self._last_update, MAX_GROWTH_STEP)
        self._last_update = now
        capacity, band = self._capacity, CAPACITY_DEVIATIONS * self._spread
        if acked is not None and capacity is not None and acked > capacity * (1 + band):
            self._capacity = None  # the path now carries more than it did
        limit = math.inf if acked is None else ACKED_HEADROOM * acked + ACKED_SLACK
        if self.value >= limit:
            return
        raised = min(limit, self.value + self._growth(elapsed))
        raised = self._clamp(int(raised))
        if raised > self.value:
            self.value = raised
            self.increases += 1

    def _may_decrease(self, now: float, acked: int | None) -> bool:
        if self._last_decrease is None or now - self._last_decrease >= DECREASE_INTERVAL:
            return True
        return acked is not None and acked < FAR_OVER * self.value

    def _decrease(self, now: float, acked: int | None) -> None:
        if acked is not None:
            capacity = self._capacity
            if capacity is None or acked < capacity * (1 - CAPACITY_DEVIATIONS * self._spread):
                self._capacity = float(acked)  # first, or the path now carries less
            else:
                error = (acked - self._capacity) / self._capacity
                self._capacity += CAPACITY_SMOOTHING * (acked - self._capacity)
                spread = math.sqrt(
                    (1 - CAPACITY_SMOOTHING) * self._spread**2 + CAPACITY_SMOOTHING * error**2
                )
                self._spread = min(max(spread, CAPACITY_SPREAD[0]), CAPACITY_SPREAD[1])
        base = self.value if acked is None else acked
        cut = self._clamp(int(DECREASE_FACTOR * base))
        if cut < self.value:
            self.value = cut
            self.decreases += 1
        self._last_decrease = now

    def _growth(self, elapsed: float) -> float:
        if self._capacity is None:
            return self.value * (MULTIPLICATIVE_GROWTH**elapsed - 1)
        frame_bits = self.value / FRAME_RATE
        packets = math.ceil(frame_bits / (PACKET_SIZE * 8))
        per_second = max(MIN_ADDITIVE_GROWTH, frame_bits / packets / (self.rtt + RESPONSE_EXTRA))
        return per_second * elapsed

    def _clamp(self, bitrate: int) -> int:
        return max(self.min_bitrate, min(self.max_bitrate, bitrate))
