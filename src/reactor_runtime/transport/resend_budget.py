"""How much of a viewer's link its retransmissions may take before a keyframe is cheaper.

Answering every NACK is right while losses are scattered: at 5 or 15 % random loss the
repairs cost 5-15 % of the stream's rate and every picture is saved. It is wrong after
a burst: when a link's capacity falls under the stream (10 -> 2 Mbit/s) its queue drops
hundreds of packets at once, ~0.7 MB at 8 Mbit/s, and resending them all takes the
narrowed link seconds, during which the viewer's picture waits for repairs behind its
own new frames (measured: a 1.8 s freeze with every packet repaired). One keyframe at
the new rate is ~0.2 s of it.

`ResendBudget` lets resent bytes take at most `RESEND_SHARE` of the stream's rate over
the last `RESEND_WINDOW`. A NACK beyond that is not answered, nor any later one for a
packet sent before it; the sender asks the hub for a keyframe instead (shared with
the stream's other viewers, rate-limited there) once the rate has fallen, at most
`KEYFRAME_DEFER` later: the burst of NACKs arrives one round trip after the queue
collapsed, often before the estimate has cut the rate, and a keyframe asked at once
is encoded at the old rate (seen: 10.9
Mbit/s encoded in the second after a 10 -> 2 Mbit/s drop, 1317 packets tail-dropped
instead of 558). Once that keyframe has gone out, NACKs for packets sent before it
are not answered either (`superseded`): the viewer decodes from it and needs none.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)

RESEND_WINDOW = 0.5
"""Seconds over which resent bytes are summed: a few round trips, so a burst of NACKs
is judged as one, while scattered losses spread thinly over it."""
KEYFRAME_DEFER = 0.3
"""Longest wait from the budget's trip to the keyframe asked for, for the send-side
estimate's feedback and trend to see the congestion and lower the rate first."""
BURST_RATE_FALL = 0.7
"""The keyframe ending a burst goes once the stream's rate is under this share of
what it was at the burst (the estimate has seen the congestion)."""
BURST_POLL = 0.02
"""Seconds between two looks at the stream's rate while that keyframe waits."""
RESTART_WAIT = 0.5
"""Longest wait, after the path collapsed, before the keyframe that restarts the
picture is asked for."""
DRAIN_SHARE = 0.25
"""Share of the queueing delay the feedback last showed that passes before the
restart keyframe is asked for. The stream now goes out under the path's new capacity
(the pace follows the cut estimate), so the queue shrinks from the restart on and
the keyframe may enter it while it drains; waiting for all of it to drain (as first
built) cost ~0.1 s of the freeze. Encoding the keyframe takes the rest."""
RESEND_SHARE = 1.0
"""Resent bytes may reach this share of the stream's rate over the window (libwebrtc
allows as much). Random loss stays far under it even with every resend sent twice
(15 % loss: ~35 %); a collapsing queue's burst of NACKs goes past it within a round
trip. Half the rate (as first built) tripped 20-30 times a minute at 15 % random
loss, each trip a keyframe at 0.3-0.4 Mbit/s: 22.4 fps and 27 freezes a minute,
against 27.0 fps and 3 at the whole rate (single runs; the steps' longest freeze
0.37 s either way, the collapse handles that burst)."""


class ResendBudget:
    """The retransmission budget of one sender, and the keyframe that ends a burst.

    Attributes:
        tripped: NACKs that found the budget spent, or came for a packet sent before
            it was, while the keyframe asked for instead has not gone out.
        superseded: NACKs for packets sent before the keyframe that ended a burst.
        restarts: Collapses of the path (`restart`): the same, without a burst first.
    """

    def __init__(
        self,
        rate: Callable[[], int | None],
        window: float = RESEND_WINDOW,
        share: float = RESEND_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Budget resends against `rate()` (bit/s; None: unbounded).

        The bridge gives the lower of the stream's rate and the viewer's estimate.

        Raises:
            ValueError: `window` or `share` is not positive (the message names it).
        """
        for name, value in (("window", window), ("share", share)):
            if value <= 0:
                raise ValueError(f"resend budget {name}: expected > 0, got {value!r}")
        self.rate = rate
        self.window = window
        self.share = share
        self.clock = clock
        self.tripped = 0
        self.superseded = 0
        self.restarts = 0
        self._resent: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._awaiting_keyframe = False
        self._asked = False
        self._tripped_at = 0.0
        self._keyframe_at: float | None = None

    def allow(self, sent_at: float, size: int) -> bool:
        """Whether a packet first sent at `sent_at`, of `size` bytes, may be resent now.

        False means: do not resend it. Unless it was superseded by a keyframe already
        sent, `awaiting_keyframe` is then True and the caller asks for one (once,
        `KEYFRAME_DEFER` later).
        """
        if self._keyframe_at is not None and sent_at < self._keyframe_at:
            self.superseded += 1
            return False
        if self._awaiting_keyframe and sent_at < self._tripped_at:
            self.tripped += 1
            return False
        now = self.clock()
        resent = self._resent
        while resent and now - resent[0][0] > self.window:
            self._bytes -= resent.popleft()[1]
        rate = self.rate()
        if rate and (self._bytes + size) * 8 > self.share * rate * self.window:
            self.tripped += 1
            self._awaiting_keyframe = True
            self._tripped_at = now
            return False
        resent.append((now, size))
        self._bytes += size
        return True

    def restart(self) -> None:
        """The path collapsed: resend nothing sent until now, and await a keyframe."""
        self._awaiting_keyframe = True
        self._asked = False
        self._tripped_at = self.clock()
        self.restarts += 1

    @property
    def awaiting_keyframe(self) -> bool:
        """Whether the budget was spent and no keyframe has gone out since."""
        return self._awaiting_keyframe

    @property
    def keyframe_wanted(self) -> bool:
        """Whether a keyframe is awaited and nobody has asked for it yet."""
        return self._awaiting_keyframe and not self._asked

    def keyframe_asked(self) -> None:
        """The awaited keyframe was asked for: refused NACKs need not ask again."""
        self._asked = True

    def keyframe_sent(self) -> None:
        """A keyframe left for the viewer: if it ends a burst, older packets are moot."""
        if self._awaiting_keyframe:
            self._awaiting_keyframe = self._asked = False
            self._keyframe_at = self.clock()


async def keyframe_when_rate_fell(
    budget: ResendBudget, rate: Callable[[], int | None], ask: Callable[[], None]
) -> None:
    """`ask` for the keyframe that ends a burst once `rate()` has fallen.

    The NACKs of a collapsed queue come a round trip after it collapsed, often before
    the estimate has cut the rate; a keyframe encoded at the old rate would refill the
    narrowed link. So wait (at most `KEYFRAME_DEFER`) for the stream's rate to fall
    under `BURST_RATE_FALL` of what it was. Nothing is asked if the keyframe came or
    was asked for meanwhile.
    """
    before = rate()
    waited = 0.0
    while waited < KEYFRAME_DEFER and before:
        now = rate()
        if now is not None and now <= BURST_RATE_FALL * before:
            break
        await asyncio.sleep(BURST_POLL)
        waited += BURST_POLL
    if budget.keyframe_wanted:
        log.info("resend budget spent: keyframe asked after %.2f s", waited)
        budget.keyframe_asked()
        ask()


async def keyframe_when_drained(
    budget: ResendBudget, queued: float | None, ask: Callable[[], None]
) -> None:
    """`ask` for the keyframe that restarts a collapsed path while its queue drains.

    `queued` is the queueing delay the path had when it collapsed; the keyframe is
    asked for after `DRAIN_SHARE` of it (`RESTART_WAIT` at most).
    """
    wait = min(RESTART_WAIT, (queued or 0.0) * DRAIN_SHARE)
    await asyncio.sleep(wait)
    if budget.keyframe_wanted:
        log.info("restart keyframe asked after %.2f s (queue was %s s)", wait, queued)
        budget.keyframe_asked()
        ask()
