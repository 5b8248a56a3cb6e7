"""Whether a path's queue is growing, from the delay each group of packets added.

For each pair of packet groups, the inter-arrival time minus the inter-departure time
is the delay the path added between them (positive while a queue grows, negative
while it drains, noise otherwise). `TrendDetector` accumulates those deltas, smooths
them, and fits a line to the last `TREND_WINDOW` points (arrival time, smoothed
delay): the slope is the queue's growth per second of arrivals, a figure that one
late packet cannot fake. The slope, scaled by `TREND_GAIN` and by how many deltas
back it (up to `TREND_DELTAS`), is compared with a threshold that follows the
slope's own magnitude: slowly up (`THRESHOLD_UP`) so that a path's usual jitter
stops reading as overuse, quickly down (`THRESHOLD_DOWN`) so that the detector is
sensitive again once the path is quiet (draft-ietf-rmcat-gcc, section 5.4).

Overuse is declared only when the trend stayed above the threshold for
`OVERUSE_TIME` of send time, across more than one group, and is still rising;
underuse as soon as it is below minus the threshold; otherwise the path is normal.
All times here are milliseconds, the unit the gain and thresholds are tuned in.
"""

from __future__ import annotations

from collections import deque

NORMAL = "normal"
OVERUSING = "overusing"
UNDERUSING = "underusing"

TREND_WINDOW = 20
"""Groups the slope is fitted over: a few frames' worth, enough to see through one
frame's burst, short enough to react within a couple of hundred milliseconds."""
SMOOTHING = 0.9
"""Weight of the previous smoothed delay (exponential smoothing per group)."""
TREND_GAIN = 4.0
"""Scale of the slope before it meets the threshold (GCC's)."""
TREND_DELTAS = 60
"""The slope counts up to this many deltas: early on, fewer deltas back it and it
is scaled down accordingly."""
THRESHOLD_START = 12.5
"""Initial threshold (ms-scaled trend)."""
THRESHOLD_BOUNDS = (6.0, 600.0)
"""The threshold never leaves these: under the floor, timer jitter reads as
overuse; over the ceiling, no queue growth would ever show."""
THRESHOLD_UP = 0.0087
"""Rate (per ms) the threshold rises toward a larger trend."""
THRESHOLD_DOWN = 0.039
"""Rate (per ms) the threshold falls toward a smaller trend."""
THRESHOLD_MAX_STEP = 100.0
"""Milliseconds of adaptation one update may apply (after a pause, not more)."""
THRESHOLD_OUTLIER = 15.0
"""A trend this far over the threshold does not move it: a real queue growth must
not teach the detector to ignore the next one."""
OVERUSE_TIME = 10.0
"""Milliseconds of send time the trend must stay over the threshold."""


class TrendDetector:
    """Judges each group's delay delta: "normal", "overusing" or "underusing".

    Attributes:
        state: The latest verdict.
        trend: The latest scaled trend (ms-scaled slope).
        threshold: The current adaptive threshold.
        deltas: Deltas taken since the start.
    """

    def __init__(self) -> None:
        """A detector that has seen nothing (normal)."""
        self.state = NORMAL
        self.trend = 0.0
        self.threshold = THRESHOLD_START
        self.deltas = 0
        self._points: deque[tuple[float, float]] = deque(maxlen=TREND_WINDOW)
        self._origin: float | None = None
        self._accumulated = 0.0
        self._smoothed = 0.0
        self._over_time: float | None = None
        self._over_count = 0
        self._adapted_at: float | None = None

    def update(self, arrival_delta: float, send_delta: float, arrived: float) -> str:
        """Take one group's deltas (seconds) and its arrival time; return the verdict.

        Args:
            arrival_delta: Its arrival minus the previous group's (viewer's clock).
            send_delta: Its departure minus the previous group's (our clock).
            arrived: Its arrival time (viewer's clock, seconds).
        """
        arrived_ms = arrived * 1000
        if self._origin is None:
            self._origin = arrived_ms
        self.deltas += 1
        self._accumulated += (arrival_delta - send_delta) * 1000
        self._smoothed = SMOOTHING * self._smoothed + (1 - SMOOTHING) * self._accumulated
        self._points.append((arrived_ms - self._origin, self._smoothed))
        previous = self.trend
        if len(self._points) == TREND_WINDOW:
            slope = _slope(self._points)
            if slope is not None:
                self.trend = min(self.deltas, TREND_DELTAS) * slope * TREND_GAIN
        self._detect(previous, send_delta * 1000)
        self._adapt(arrived_ms)
        return self.state

    def _detect(self, previous: float, send_delta_ms: float) -> None:
        trend = self.trend
        if trend > self.threshold:
            if self._over_time is None:
                self._over_time = send_delta_ms / 2
            else:
                self._over_time += send_delta_ms
            self._over_count += 1
            if self._over_time > OVERUSE_TIME and self._over_count > 1 and trend >= previous:
                self._over_time, self._over_count = 0.0, 0
                self.state = OVERUSING
        elif trend < -self.threshold:
            self._over_time, self._over_count = None, 0
            self.state = UNDERUSING
        else:
            self._over_time, self._over_count = None, 0
            self.state = NORMAL

    def _adapt(self, now_ms: float) -> None:
        if self._adapted_at is None:
            self._adapted_at = now_ms
        magnitude = abs(self.trend)
        if magnitude > self.threshold + THRESHOLD_OUTLIER:
            self._adapted_at = now_ms
            return
        rate = THRESHOLD_DOWN if magnitude < self.threshold else THRESHOLD_UP
        step = min(max(now_ms - self._adapted_at, 0.0), THRESHOLD_MAX_STEP)
        self.threshold += rate * (magnitude - self.threshold) * step
        low, high = THRESHOLD_BOUNDS
        self.threshold = min(max(self.threshold, low), high)
        self._adapted_at = now_ms


def _slope(points: deque[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x, None when every x is the same."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    numerator = sum((x - mean_x) * (y - mean_y) for x, y in points)
    denominator = sum((x - mean_x) ** 2 for x, _ in points)
    return None if denominator == 0 else numerator / denominator
