"""Spreading a video frame's packets over time instead of sending them in one burst.

aiortc sends every packet of a frame back to back. A keyframe, and the larger frames
libvpx spends its saved budget on after one, then arrive at a bottleneck all at once:
a 200 ms router queue at 2 Mbit/s holds 50 kB, so a burst beyond it is dropped even
when the stream's average rate is a third of the link's (seen behind the test
network's 2 Mbit/s cap at ~0.7 Mbit/s: loss, NACKs and freezes at every keyframe).
libwebrtc paces at 2.5 times
its target rate; `Pacer` does the same for one sender: each packet waits until the
bytes before it have left at `PACE_FACTOR` x the stream's current rate.

Once the viewer's delay-based estimate has fallen (its REMB, or ours from its
transport-cc feedback: either saw the path congested), the pace is
also held under `LINK_FACTOR` x that estimate, near what the bottleneck carries; while
the viewer's REMB has never fallen, packets leave in bursts of up to
`CLEAR_BURST_SECONDS` of pace (a whole average frame at once) instead of 5 ms.

`PacedTransport` sits between aiortc's sender and its DTLS transport, so it sees each
packet serialized but not yet encrypted. After the wait it writes the packet's
abs-send-time again with the time it really leaves: the receivers' delay-based
estimate reads each packet's one-way delay from it. aiortc stamps a packet once the
one before it has left, so its stamp is early by that packet's own wait (up to a
frame interval for a packet held behind a keyframe); a retransmission carries the
stamp of the original send, a round trip or more old.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .header_extensions import abs_send_time, rewrite_extension

if TYPE_CHECKING:
    from .send_side import SendSideBandwidth

PACE_FACTOR = 2.5
"""Pacing rate over the stream's target rate (libwebrtc's): a frame of twice the
average size still leaves within a frame interval, and the burst stays under a link
the estimate has found."""
BURST_SECONDS = 0.005
"""Packets that fit in this much time at the pacing rate leave together (the
granularity of the event loop's timers)."""
CLEAR_BURST_SECONDS = 0.02
"""The same once the viewer has sent REMB and it never fell (no queue seen on its
path): an average frame, 0.4 of a frame interval at the pace, leaves at once instead
of over ~13 ms. Measured at 720p30, 50 ms RTT, video-only Chromium (two A/B pairs):
emit -> displayed p50 59-62 -> 42 ms, p95 96-101 -> 76-92 ms. Behind a congested
link `BURST_SECONDS` holds (20 ms bursts there drop more at the router's queue)."""
OUTPUT_WINDOW = 1.0
"""Seconds of encoded bytes the pacer measures the stream's actual rate over."""
OUTPUT_MARGIN = 1.5
"""The pace never falls below this times the measured rate: an encoder that cannot
meet its target (pure noise at its lowest quality) must not back up behind its own
pacer, or the viewer's queue overflows and asks for keyframes."""
MAX_DELAY = 0.2
"""Longest a packet waits in the pacer. A backlog beyond it is sent at once and
counted: the encoder overshot its rate for longer than pacing can absorb, and
holding it would only add latency to every frame behind it."""
LINK_FACTOR = 1.2
"""Once the viewer's REMB has fallen, the pace stays under this times its latest REMB.
libwebrtc lowers REMB only when its delay-based estimator sees the path's queue grow,
so after a fall REMB is close to what the bottleneck carries; a burst paced faster
only moves into that bottleneck's queue, where the viewer reads it as congestion
again and cuts REMB further (behind a 2 Mbit/s cap, with the bursts that follow each
periodic keyframe: steady REMB ~0.9 Mbit/s at 2.5 x the rate, ~1.1 held under it)."""
REMB_FALL = 0.03
"""A REMB this much below the one before is a fall (libwebrtc sends a new REMB at once
on a decrease over 3 %)."""


class Pacer:
    """Paces one sender's packets at `PACE_FACTOR` x the rate `target()` gives.

    Once `remb()` has fallen (the viewer saw its path congested), the pace is also
    held under `LINK_FACTOR` x the latest REMB. It is never below `OUTPUT_MARGIN` x
    the rate the stream's frames actually came at over the last `OUTPUT_WINDOW` (told
    through `produced`).

    Attributes:
        paced: Packets that had to wait.
        overflows: Times the backlog exceeded `MAX_DELAY` and was let through.
        link_bound: Whether the viewer's REMB has fallen, so it bounds the pace.
    """

    def __init__(
        self,
        target: Callable[[], int | None],
        clock: Callable[[], float] = time.monotonic,
        remb: Callable[[], int | None] = lambda: None,
    ) -> None:
        """Pace at `PACE_FACTOR` x `target()` bit/s (None: not paced).

        Args:
            target: The stream's current rate (bit/s).
            clock: Monotonic seconds.
            remb: The viewer's latest delay-based estimate (bit/s): its REMB, or the
                send-side one with transport-cc; None before one.
        """
        self.target = target
        self.clock = clock
        self.remb = remb
        self.paced = 0
        self.overflows = 0
        self.link_bound = False
        self._last_remb: int | None = None
        self._free_at = 0.0
        self._sent: deque[tuple[float, int]] = deque()
        self._window_bytes = 0

    def delay(self, size: int) -> float:
        """Book `size` bytes; the seconds to wait before sending them (0 to send now)."""
        target = self.target()
        now = self.clock()
        self._forget(now)
        if not target:
            return 0.0
        output = self._window_bytes * 8 / OUTPUT_WINDOW
        rate = max(self._pace(target), output * OUTPUT_MARGIN)
        start = max(now, self._free_at)
        if start - now > MAX_DELAY:
            self.overflows += 1
            start = now + MAX_DELAY
        self._free_at = start + size * 8 / rate
        wait = start - now
        return wait if wait > self._burst() else 0.0

    def _burst(self) -> float:
        clear = self._last_remb is not None and not self.link_bound
        return CLEAR_BURST_SECONDS if clear else BURST_SECONDS

    def _pace(self, target: int) -> float:
        pace = target * PACE_FACTOR
        remb = self.remb()
        if remb is None:
            return pace
        if self._last_remb is not None and remb < (1 - REMB_FALL) * self._last_remb:
            self.link_bound = True
        self._last_remb = remb
        return min(pace, LINK_FACTOR * remb) if self.link_bound else pace

    def produced(self, size: int) -> None:
        """Note an encoded frame of `size` bytes handed to the sender."""
        now = self.clock()
        self._sent.append((now, size))
        self._window_bytes += size
        self._forget(now)

    def restart(self) -> None:
        """Forget the stream's past output: it no longer sets a floor under the pace.

        After the viewer's path collapsed the stream starts again far lower; the
        floor from the last second's output (`OUTPUT_MARGIN`) would let the restart
        keyframe out at the old rate, into the queue the collapse filled.
        """
        self._sent.clear()
        self._window_bytes = 0

    def _forget(self, now: float) -> None:
        sent = self._sent
        while sent and now - sent[0][0] > OUTPUT_WINDOW:
            self._window_bytes -= sent.popleft()[1]

    async def wait(self, size: int) -> None:
        """Wait until `size` bytes may be sent."""
        delay = self.delay(size)
        if delay:
            self.paced += 1
            await asyncio.sleep(delay)


class PacedTransport:
    """A sender's view of its `RTCDtlsTransport` whose RTP goes through a `Pacer`.

    Everything else is the transport's own (attribute access is forwarded). As each
    paced packet leaves, its abs-send-time is written again, and its transport-wide
    sequence number when the viewer negotiated transport-cc (`send_side`).

    Attributes:
        restamped: RTP packets whose abs-send-time was rewritten at their real send.
    """

    def __init__(
        self,
        transport: object,
        pacer: Pacer,
        abs_send_time_id: Callable[[], int | None] = lambda: None,
        send_side: SendSideBandwidth | None = None,
        transport_cc_id: Callable[[], int | None] = lambda: None,
    ) -> None:
        """Pace what is sent through `transport`.

        Args:
            transport: The sender's `RTCDtlsTransport` (it encrypts what it is given).
            pacer: The sender's pacer.
            abs_send_time_id: The negotiated id of abs-send-time (None: not written).
            send_side: The viewer's transport-cc estimate, which numbers each packet.
            transport_cc_id: The negotiated id of transport-cc (None: not numbered).
        """
        self._transport = transport
        self.pacer = pacer
        self.abs_send_time_id = abs_send_time_id
        self.send_side = send_side
        self.transport_cc_id = transport_cc_id
        self.restamped = 0

    def __getattr__(self, name: str) -> object:
        """The wrapped transport's attribute."""
        return getattr(self._transport, name)

    async def _send_rtp(self, data: bytes) -> None:
        # RTCP (packet types 192-223, where RTP keeps payload types 64-95 free) is not
        # paced: a sender report held behind a frame would skew the round trip.
        if not 192 <= data[1] <= 223:
            await self.pacer.wait(len(data))
            data = self._stamp(data, None)
        await self._transport._send_rtp(data)  # type: ignore[attr-defined]

    async def send_probe(self, data: bytes, cluster: int) -> None:
        """Send RTP packet `data` of probe `cluster` now: a probe keeps its own pace."""
        await self._transport._send_rtp(self._stamp(data, cluster))  # type: ignore[attr-defined]

    def _stamp(self, data: bytes, probe: int | None) -> bytes:
        extension_id = self.abs_send_time_id()
        if extension_id is not None:
            stamped = rewrite_extension(data, extension_id, abs_send_time())
            self.restamped += stamped is not data
            data = stamped
        if self.send_side is not None:
            cc_id = self.transport_cc_id()
            if cc_id is not None:
                data = self.send_side.stamp(data, cc_id, probe)
        return data
