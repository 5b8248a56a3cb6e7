"""How fast to encode: each viewer's estimate, and one target per encoded stream.

A viewer that negotiated transport-cc reports when each packet arrived, and the
estimate of its path is made here (`send_side`; its share per video track arrives
through `ViewerEstimate.on_delay_based`). Any other libwebrtc viewer runs its own
receive-side estimate (abs-send-time) and reports it as REMB. Receiver reports carry
the loss every viewer sees. `ViewerEstimate` keeps, per viewer, the latest of those
delay-based estimates and a loss-based bound: more than `LOSS_HIGH` lost cuts the
bound below the rate being sent, less than `LOSS_LOW` lets it grow again, in between
it holds (libwebrtc's send-side rule). Its value is the lowest of them, or None
before the viewer has said anything.

Each stream is encoded once for all its viewers, so `StreamRate` gives the encoder
the lowest of their estimates, clamped to the operator's range and the picture
size's ceiling, moved down at most every `DOWN_INTERVAL` and up at most every
`UP_INTERVAL` (a change the encoder applies in place: never a keyframe).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEFAULT_MIN_BITRATE = 300_000
"""Lowest rate the viewers' estimates may push a stream to (`--min-bitrate`): below
it 720p pictures break into blocks; a slower link loses packets instead."""
DEFAULT_MAX_BITRATE = 10_000_000
"""Highest rate of any stream (`--max-bitrate`), whatever its size and its viewers."""
LOSS_LOW = 0.02
"""Receiver-reported loss below which the loss bound may grow."""
LOSS_HIGH = 0.10
"""Loss above which the loss bound is cut to `rate * (1 - loss / 2)`."""
LOSS_GROWTH = 1.08
"""Growth of the loss bound per second of low loss (libwebrtc's 8 %)."""
LOSS_WINDOW = 1.0
"""Seconds of receiver reports loss is judged over (libwebrtc's RTCP interval)."""
LOSS_MIN_PACKETS = 20
"""Fewest packets a loss judgement rests on."""
DOWN_INTERVAL = 0.2
"""Seconds between two decreases of a stream's rate: REMB comes at most every 200 ms."""
UP_INTERVAL = 1.0
"""Seconds between two increases: a rise is only trusted once the last one has been
seen by the receivers' estimators (about a second of packets)."""
DEADBAND = 0.05
"""Relative changes smaller than this are not worth an encoder reconfiguration."""


class ViewerEstimate:
    """What one viewer can take, from its REMB and its receiver reports.

    Attributes:
        remb: The latest REMB value (bit/s), None before the first.
        delay_based: This track's share of the send-side estimate of the viewer's path
            (bit/s, `send_side`), None without transport-cc.
        loss_bound: The loss-based bound (bit/s), None while loss has not mattered.
        fraction_lost: The loss over the latest judged window (0..1).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """A viewer with no feedback yet."""
        self.clock = clock
        self.remb: int | None = None
        self.delay_based: int | None = None
        self.loss_bound: float | None = None
        self.fraction_lost: float | None = None
        self._mark: tuple[float, int, int] | None = None

    @property
    def value(self) -> int | None:
        """The estimate (bit/s): the lowest of REMB, send-side share, loss bound; or None."""
        known = [v for v in (self.remb, self.delay_based, self.loss_bound) if v is not None]
        return int(min(known)) if known else None

    def on_remb(self, bitrate: int) -> None:
        """Take a REMB value (bit/s)."""
        self.remb = bitrate

    def on_delay_based(self, bitrate: int) -> None:
        """Take this track's share of the send-side estimate (bit/s)."""
        self.delay_based = bitrate

    @property
    def delay_estimate(self) -> int | None:
        """The delay-based estimate: the send-side share if any, else REMB (bit/s)."""
        return self.delay_based if self.delay_based is not None else self.remb

    def on_report(self, lost: int, highest: int, sending: int | None) -> None:
        """Take one receiver report block: cumulative `lost` packets up to `highest` seq.

        Loss is judged over at least `LOSS_WINDOW` and `LOSS_MIN_PACKETS`, from the
        cumulative counters: libwebrtc adds a report block to every NACK it sends, so
        the per-report fraction covers a few packets and swings from 0 to 90 %.

        Args:
            lost: Cumulative packets lost (RFC 3550, may go down with duplicates).
            highest: Extended highest sequence number received.
            sending: The rate (bit/s) the stream was sent at.
        """
        now = self.clock()
        if self._mark is None:
            self._mark = (now, lost, highest)
            return
        since, lost_before, highest_before = self._mark
        expected = highest - highest_before
        if now - since < LOSS_WINDOW or expected < LOSS_MIN_PACKETS:
            return
        self._mark = (now, lost, highest)
        fraction = min(1.0, max(0.0, (lost - lost_before) / expected))
        self.fraction_lost = fraction
        elapsed = min(now - since, 2.0)
        if fraction > LOSS_HIGH and sending:
            cut = sending * (1 - fraction / 2)
            self.loss_bound = cut if self.loss_bound is None else min(self.loss_bound, cut)
        elif fraction < LOSS_LOW and self.loss_bound is not None:
            self.loss_bound *= LOSS_GROWTH**elapsed
            delay = self.delay_estimate
            if delay is not None and self.loss_bound >= delay:
                self.loss_bound = None  # the delay-based estimate bounds again

    def forget_loss(self) -> None:
        """Judge loss afresh from the next report on.

        The loss so far was acted upon already: the path collapsed and its senders
        restarted.
        """
        self._mark = None
        self.fraction_lost = None

    def stats(self) -> dict[str, Any]:
        """The estimate and what it is made of."""
        return {
            "estimate": self.value,
            "remb": self.remb,
            "delay_based": self.delay_based,
            "loss_bound": None if self.loss_bound is None else int(self.loss_bound),
            "fraction_lost": self.fraction_lost,
        }


class StreamRate:
    """The target rate of one encoded stream (a track in one codec) for all its viewers.

    Attributes:
        increases: Rate rises decided.
        decreases: Rate cuts decided.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, layers: Any = None) -> None:
        """A stream with no viewer estimates yet; `layers`: its `stream_policy.StreamPolicy`."""
        self.clock = clock
        self.layers = layers
        self.viewers: set[ViewerEstimate] = set()
        self.increases = 0
        self.decreases = 0
        self.target: int | None = None
        self._changed: float | None = None

    def add(self, viewer: ViewerEstimate) -> None:
        """Count `viewer` in the stream's target."""
        self.viewers.add(viewer)

    def discard(self, viewer: ViewerEstimate) -> None:
        """Stop counting `viewer`."""
        self.viewers.discard(viewer)

    def lowest(self) -> int | None:
        """The lowest viewer estimate (bit/s), None when no viewer has one."""
        known = [e for e in (v.value for v in tuple(self.viewers)) if e is not None]
        return min(known) if known else None

    def decide(self, current: int, low: int, high: int) -> int | None:
        """The rate to change to now from `current`, or None to keep it.

        Args:
            current: The encoder's rate (bit/s).
            low: The lowest rate allowed (the operator's minimum).
            high: The highest (the operator's maximum, or the size's ceiling).
        """
        lowest = self.lowest()
        if self.layers is not None:  # far slower viewers get the base layer only
            lowest = self.layers.decide({v: v.value for v in tuple(self.viewers)})
        if lowest is None:
            return None
        wanted = max(low, min(high, lowest))
        if abs(wanted - current) <= DEADBAND * current:
            return None
        now = self.clock()
        since = None if self._changed is None else now - self._changed
        interval = DOWN_INTERVAL if wanted < current else UP_INTERVAL
        if since is not None and since < interval:
            return None
        self._changed = now
        self.target = wanted
        if wanted < current:
            self.decreases += 1
        else:
            self.increases += 1
        return wanted

    def stats(self) -> dict[str, Any]:
        """The target, the viewers' lowest estimate and the changes decided."""
        return {
            "target": self.target,
            "lowest_estimate": self.lowest(),
            "increases": self.increases,
            "decreases": self.decreases,
        }
