"""Which viewers of a layered VP8 stream get the base layer only, and the rate it allows.

A stream is encoded once for all its viewers, at the lowest of their estimates
(`rate_control.StreamRate`). One viewer far behind the others would drag everyone
down to its rate; with two temporal layers it can instead be sent the base layer
alone (every other frame, `BASE_SHARE` of the bits) while the stream follows the
others. `LayerPolicy.decide` picks those viewers from the estimates and returns the
rate the stream may then take: the lowest estimate of the full-rate viewers, bounded
so that the base layer still fits each base-layer-only viewer (its estimate divided by
`BASE_SHARE`). A viewer switches down below `WEAK_RATIO` of what the others allow and
back up above `RECOVER_RATIO`, and never twice within `HOLD_SECONDS`.
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
"""A viewer whose estimate is below this share of the lowest other viewer's goes to the
base layer: below ~`BASE_SHARE` of the stream's rate it could not take the full stream,
while the base layer at that rate still fits it."""
RECOVER_RATIO = 0.8
"""A base-layer-only viewer whose estimate is back above this share of the others' goes
back to the full stream (the gap to `WEAK_RATIO` keeps an estimate that wavers around
one threshold from switching it every time)."""
HOLD_SECONDS = 2.0
"""Least time between two switches of one viewer: a REMB estimate needs about this long
to settle after the rate it sees changes."""


class LayerPolicy:
    """Base-layer-only choice for the viewers of one layered stream.

    Attributes:
        base_only: The viewers (their estimate objects) sent the base layer only.
        switches_down: Viewers switched to the base layer only.
        switches_up: Viewers switched back to the full stream.
    """

    def __init__(
        self,
        base_share: float = BASE_SHARE,
        weak_ratio: float = WEAK_RATIO,
        recover_ratio: float = RECOVER_RATIO,
        hold_seconds: float = HOLD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A policy with no base-layer-only viewer.

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
        self.base_share = base_share
        self.weak_ratio = weak_ratio
        self.recover_ratio = recover_ratio
        self.hold_seconds = hold_seconds
        self.clock = clock
        self.base_only: set[Hashable] = set()
        self.switches_down = 0
        self.switches_up = 0
        self._switched: dict[Hashable, float] = {}

    def is_base_only(self, viewer: Hashable) -> bool:
        """Whether `viewer` is sent the base layer only."""
        return viewer in self.base_only

    def decide(self, estimates: Mapping[Hashable, int | None]) -> int | None:
        """Update the base-layer-only viewers from `estimates`; the stream rate they allow.

        Args:
            estimates: Each viewer's estimate (bit/s), None while it has said nothing.

        Returns:
            The highest rate (bit/s) every viewer can take, or None if none has an
            estimate.
        """
        for gone in self.base_only - estimates.keys():
            self.base_only.discard(gone)
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
            if viewer in self.base_only:
                if estimate >= self.recover_ratio * reference:
                    self._switch(viewer, False, now)
            elif estimate < self.weak_ratio * reference:
                self._switch(viewer, True, now)
        bounds = [e / self.base_share if v in self.base_only else e for v, e in known.items()]
        return int(min(bounds))

    def _switch(self, viewer: Hashable, base_only: bool, now: float) -> None:
        if base_only == (viewer in self.base_only):
            return
        last = self._switched.get(viewer)
        if last is not None and now - last < self.hold_seconds:
            return
        self._switched[viewer] = now
        if base_only:
            self.base_only.add(viewer)
            self.switches_down += 1
        else:
            self.base_only.discard(viewer)
            self.switches_up += 1

    def stats(self) -> dict[str, Any]:
        """Base-layer-only viewers now, and the switches made."""
        return {
            "base_layer_only": len(self.base_only),
            "switches_down": self.switches_down,
            "switches_up": self.switches_up,
        }
