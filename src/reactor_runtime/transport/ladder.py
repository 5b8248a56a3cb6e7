"""The resolution ladder: a smaller picture when the rate is too low for the model's size.

Below about 1.2 Mbit/s a 720p picture breaks into blocks, while 540p or 360p at the
same rate stays clean (libwebrtc's VP8 ladder is alike: FACTS.md). `Ladder` picks,
for one encoded stream, the step its current rate can carry; the hub scales each
picture to that step before encoding it, so the model keeps emitting its own size.
Each step reopens the encoder at the new size (one keyframe, counted in `steps`).

Hysteresis: down once the rate has stayed below the current step's need for
`DOWN_HOLD` seconds, or at once when the picture is a keyframe anyway or the stream
starts below it (straight to the largest step the rate carries: one keyframe); up
one step only once the rate has stayed `UP_MARGIN` above the larger step's need for
`UP_HOLD` seconds; never two steps within `STEP_INTERVAL`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .encoders import REFERENCE_PIXELS

log = logging.getLogger(__name__)

LADDER = ((1.0, 1_200_000), (0.75, 600_000), (0.5, 300_000))
"""(scale of the model's size, rate it needs at 720p): 720p, 540p, 360p; needs scale
with the model's pixel count."""
DOWN_HOLD = 1.0
"""Seconds the rate must stay below a step's need before stepping down (unless the
picture is a keyframe anyway): a falling cap dips the estimate for a moment under
what the link settles at, and a step then costs one more keyframe into the link that
is already dropping packets (seen: three keyframes in the second after 10 -> 2 Mbit/s)."""
UP_MARGIN = 1.3
"""A step up waits until the rate is this far above the larger step's need."""
UP_HOLD = 4.0
"""Seconds the rate must stay above that before stepping up: a step costs a keyframe."""
STEP_INTERVAL = 2.0
"""Fewest seconds between two steps of one stream."""


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """`width` x `height` times `scale`, rounded to even sizes (4:2:0 needs them)."""
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


class Ladder:
    """The ladder step of one encoded stream.

    Attributes:
        index: The current step (0: the model's own size).
        steps: Steps taken, down and up (each cost one keyframe).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start at the model's own size."""
        self.clock = clock
        self.index = 0
        self.steps = 0
        self._stepped: float | None = None
        self._above_since: float | None = None
        self._below_since: float | None = None
        self._first = True

    @property
    def scale(self) -> float:
        """The scale of the current step."""
        return LADDER[self.index][0]

    def update(self, rate: int, width: int, height: int, keyframe: bool = False) -> float:
        """The scale to encode a `width` x `height` picture at, for `rate` bit/s.

        `keyframe`: the picture is to be a keyframe anyway (a step down costs nothing).
        """
        now = self.clock()
        pixels = width * height / REFERENCE_PIXELS

        def need(index: int) -> float:
            return LADDER[index][1] * pixels

        settled = self._stepped is None or now - self._stepped >= STEP_INTERVAL
        if self.index + 1 < len(LADDER) and rate < need(self.index):
            self._above_since = None
            if self._below_since is None:
                self._below_since = now
            held = keyframe or self._first or now - self._below_since >= DOWN_HOLD
            if settled and held:
                carried = [i for i in range(self.index + 1, len(LADDER)) if rate >= need(i)]
                self._step(carried[0] if carried else len(LADDER) - 1, now)
        elif self.index > 0 and rate >= UP_MARGIN * need(self.index - 1):
            self._below_since = None
            if self._above_since is None:
                self._above_since = now
            elif settled and now - self._above_since >= UP_HOLD:
                self._above_since = None
                self._step(self.index - 1, now)
        else:
            self._above_since = self._below_since = None
        self._first = False
        return self.scale

    def _step(self, index: int, now: float) -> None:
        log.info("ladder step %d -> %d", self.index, index)
        self._below_since = None
        self.index = index
        self.steps += 1
        self._stepped = now
