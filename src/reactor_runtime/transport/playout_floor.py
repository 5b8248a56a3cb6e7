"""A floor under a lossy viewer's playout delay, so repaired frames still play on time.

A libwebrtc receiver (Chromium, both official SDKs) sizes its jitter buffer from the
jitter of the frames that arrive whole and leaves out the ones repaired by
retransmission. On a lossy path each loss holds its frame, and every frame behind
it, for a round trip or more; when the repair lands they are all late, are decoded
back to back and shown in one display refresh, so all but the last are never seen.
At 5 % loss and an 80 ms round trip Chromium decoded 29.7 fps but showed 18.6, with
24 freezes a minute; with a 150 ms floor it showed 27.7 and froze 4 times
(bench/README.md "network").

`PlayoutFloor` watches one viewer's receiver reports: once they show loss, it asks for
a minimum playout delay that covers a repair (`FLOOR_RTT_FACTOR` round trip plus
`FLOOR_MARGIN_MS`; the path's own round trip, the lowest measured, since on a
congested link the queue inflates the current one and a floor sized on it would add
that queue's delay a second time), through the playout-delay header extension
(`header_extensions.SenderExtensionMap.set_floor`); `HOLD_SECONDS` after the last lossy
report it lets go. A clean path keeps the lowest latency, a lossy one a smooth
picture at the cost of that floor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

LOSSY_SHARE = 0.01
"""Share of a receiver report's packets lost from which the floor is raised: below
it, a loss is rare enough that an occasional late frame costs less than the floor."""
FLOOR_RTT_FACTOR = 1.0
"""Round trips a repair takes: the NACK and its retransmission. Covering a share of a
second round too (1.5) bought no steadier picture at 5 % loss and 80 ms (28.2 fps and
2 freezes against 27.3 and 0 in one pair of 30 s runs) for ~40 ms more latency."""
FLOOR_MARGIN_MS = 40
"""Milliseconds on top: the receiver's wait before it NACKs, and our pacing queue."""
FLOOR_MIN_MS = 60
"""Lowest floor, for a round trip not measured yet or very short."""
FLOOR_MAX_MS = 400
"""Highest floor: beyond it the picture is too late to steer interactively, and a
repair that slow is better left to a keyframe."""
HOLD_SECONDS = 10.0
"""Seconds after the last lossy report before the floor is let go: receiver reports
come about once a second and a lossy path has clean seconds too, so letting go at the
first clean report would move the receiver's delay up and down all the time."""


class PlayoutFloor:
    """The playout-delay floor of one viewer, from its receiver reports.

    Attributes:
        floor_ms: The floor asked of the viewer now (ms), None when none is.
        raised: Times the floor went from none to some.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """A floor that is off until a report shows loss."""
        self.clock = clock
        self.floor_ms: int | None = None
        self.raised = 0
        self._last: tuple[int, int] | None = None
        self._lossy_at: float | None = None
        self._base_rtt: float | None = None

    def report(self, lost: int, highest: int, rtt: float | None) -> int | None:
        """Take one receiver report; the floor to ask for now (ms), None for none.

        Args:
            lost: The report's cumulative packets lost.
            highest: Its extended highest sequence number received.
            rtt: The round trip (seconds) the sender measured, None if not yet; the
                floor follows the lowest one seen.
        """
        if rtt is not None and (self._base_rtt is None or rtt < self._base_rtt):
            self._base_rtt = rtt
        previous, self._last = self._last, (lost, highest)
        if previous is None:
            return self.floor_ms
        expected = highest - previous[1]
        now = self.clock()
        if expected > 0 and (lost - previous[0]) / expected >= LOSSY_SHARE:
            self._lossy_at = now
            if self.floor_ms is None:
                self.raised += 1
            self.floor_ms = floor_for(self._base_rtt)
        elif self._lossy_at is not None and now - self._lossy_at >= HOLD_SECONDS:
            self.floor_ms = None
            self._lossy_at = None
        return self.floor_ms


def floor_for(rtt: float | None) -> int:
    """The floor (ms, a multiple of 10 as the extension counts) for round trip `rtt` (s)."""
    wanted = FLOOR_MIN_MS if rtt is None else FLOOR_RTT_FACTOR * rtt * 1000 + FLOOR_MARGIN_MS
    wanted = min(FLOOR_MAX_MS, max(FLOOR_MIN_MS, wanted))
    return int(math.ceil(wanted / 10) * 10)
