"""Which viewers of a video stream go down to its low stream, and the rate left to the rest.

A stream is encoded once for all its viewers, at the lowest of their estimates
(`rate_control.StreamRate`). One viewer far behind the others would drag everyone
down to its rate; instead it goes down: to the track's low stream (a second, smaller
encode at its own rate, `low_stream`), or, with the low stream turned off, to the base
layer of a layered VP8 stream (every other frame, `BASE_SHARE` of the bits).
`StreamPolicy.decide` picks those viewers from the estimates and returns the rate the
main stream may then take: the lowest estimate of the viewers left on it (with the
base-layer fallback, bounded so that the base layer still fits each viewer sent it
alone: its estimate divided by `BASE_SHARE`). A viewer goes down below `WEAK_RATIO`
of the lowest other viewer's estimate and back up above `RECOVER_RATIO`, and never
switches twice within `HOLD_SECONDS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from .vp8_encoder import BASE_LAYER_SHARE

BASE_SHARE = BASE_LAYER_SHARE
"""Share of the stream's bits in its base layer (libvpx's target; measured 0.59 at
720p on a textured pattern, FACTS.md 0.62)."""
WEAK_RATIO = 0.6
"""A viewer whose estimate is below this share of the lowest other viewer's goes down:
below ~`BASE_SHARE` of the stream's rate it could not take the full stream, while the
base layer at that rate, or a low stream at its own rate, still fits it."""
RECOVER_RATIO = 0.8
"""A viewer down whose estimate is back above this share of the others' goes back up
(the gap to `WEAK_RATIO` keeps an estimate that wavers around one threshold from
switching it every time)."""
HOLD_SECONDS = 2.0
"""Least time between two switches of one viewer: a REMB estimate needs about this long
to settle after the rate it sees changes."""


class StreamPolicy:
    """Which viewers of one stream are down (low stream, or base layer only).

    Attributes:
        low_stream: True when "down" means the track's low stream, False when it means
            the base layer of this (layered VP8) stream.
        down: The viewers (their estimate objects) that are down.
        switches_down: Viewers switched down.
        switches_up: Viewers switched back up to the main stream.
    """

    def __init__(
        self,
        low_stream: bool = True,
        base_share: float = BASE_SHARE,
        weak_ratio: float = WEAK_RATIO,
        recover_ratio: float = RECOVER_RATIO,
        hold_seconds: float = HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A policy with no viewer down.

        Raises:
            ValueError: the ratios are not 0 < weak_ratio <= recover_ratio <= 1, or
                base_share is not in (0, 1] (the message names them and their values).
        """
        if not 0 < weak_ratio <= recover_ratio <= 1:
            raise ValueError(
                "weak_ratio/recover_ratio: expected 0 < weak_ratio <= recover_ratio <= 1, "
                f"got {weak_ratio} and {recover_ratio}"
            )
        if not 0 < base_share <= 1:
            raise ValueError(f"base_share: expected a share in (0, 1], got {base_share}")
        self.low_stream = low_stream
        self.base_share = base_share
        self.weak_ratio = weak_ratio
        self.recover_ratio = recover_ratio
        self.hold_seconds = hold_seconds
        self.clock = clock
        self.down: set[Hashable] = set()
        self.switches_down = 0
        self.switches_up = 0
        self._switched: dict[Hashable, float] = {}

    def on_low_stream(self, viewer: Hashable) -> bool:
        """Whether `viewer` is to be sent the low stream."""
        return self.low_stream and viewer in self.down

    def is_base_only(self, viewer: Hashable) -> bool:
        """Whether `viewer` is to be sent the base layer only (low stream turned off)."""
        return not self.low_stream and viewer in self.down

    def decide(self, estimates: Mapping[Hashable, int | None]) -> int | None:
        """Update the viewers down from `estimates`; the main stream's rate they allow.

        Args:
            estimates: Each viewer's estimate (bit/s), None while it has said nothing.

        Returns:
            The highest rate (bit/s) every viewer of the main stream can take, or None
            if none has an estimate.
        """
        for gone in self.down - estimates.keys():
            self.down.discard(gone)
        for gone in self._switched.keys() - estimates.keys():
            del self._switched[gone]
        known = {v: e for v, e in estimates.items() if e is not None}
        if not known:
            return None
        now = self.clock()
        for viewer, estimate in known.items():
            others = [e for v, e in known.items() if v is not viewer]
            if not others:
                self._switch(viewer, False, now)
                continue
            reference = min(others)
            if viewer in self.down:
                if estimate >= self.recover_ratio * reference:
                    self._switch(viewer, False, now)
            elif estimate < self.weak_ratio * reference:
                self._switch(viewer, True, now)
        if self.low_stream:
            main = [e for v, e in known.items() if v not in self.down]
            return min(main or known.values())
        bounds = [e / self.base_share if v in self.down else e for v, e in known.items()]
        return int(min(bounds))

    def _switch(self, viewer: Hashable, down: bool, now: float) -> None:
        if down == (viewer in self.down):
            return
        last = self._switched.get(viewer)
        if last is not None and now - last < self.hold_seconds:
            return
        self._switched[viewer] = now
        if down:
            self.down.add(viewer)
            self.switches_down += 1
        else:
            self.down.discard(viewer)
            self.switches_up += 1

    def stats(self) -> dict[str, Any]:
        """Viewers down now (on the low stream, or on the base layer only), and switches."""
        return {
            "low_stream": len(self.down) if self.low_stream else 0,
            "base_layer_only": 0 if self.low_stream else len(self.down),
            "switches_down": self.switches_down,
            "switches_up": self.switches_up,
        }
