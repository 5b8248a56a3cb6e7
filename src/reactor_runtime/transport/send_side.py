"""One viewer's send-side bandwidth estimate: transport-cc numbers out, feedback in.

With transport-cc answered (`header_extensions.enable_transport_cc`), every video
packet we send a viewer carries a transport-wide sequence number, and the viewer's
libwebrtc reports, every 50-250 ms, when each one arrived or that it did not. That
turns the estimate around: instead of reading the viewer's own estimate from its REMB
(which rises ~1 % a second after a drop and cannot be made to probe), we run it here
(`delay_estimate.DelayBasedEstimate`) and probe the path for more when it may have
room (`probing.ProbeController`): a short burst of redundant retransmissions, sent
faster than the stream, whose arrival rate says what the path carries.

`SendSideBandwidth` is that, per viewer (per DTLS transport: numbers are
transport-wide, so all the viewer's video senders share one). It is fed by:

- `stamp`, called by each sender's `pacing.PacedTransport` as a packet really leaves:
  the next sequence number is written and the packet remembered;
- the RTCP the transport receives (`install` taps it; the one aiortc name bent here),
  from which the transport-cc packets are read; everything else goes on to aiortc.

The estimate is shared among the viewer's video tracks (`ViewerEstimate.on_delay_based`
gets each one's share), and a sender that can send retransmissions (RTX) lends itself
as the prober. A feedback that halves the estimate is a collapse (a cap fell under
the stream and its queue overflows): the estimate drops to what the full queue let
through and is held, and each video track restarts (`OutboundTrack._restart`): no
more repairs of what was lost, no video until the queue drained, then a keyframe.
A viewer that did not negotiate transport-cc never gets a number, sends no
feedback, and keeps the REMB path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .aiortc_private import require
from .delay_estimate import DelayBasedEstimate
from .header_extensions import rewrite_extension
from .probing import Probe, ProbeController
from .rate_control import ViewerEstimate
from .rtp_sender import LossCounters
from .send_history import SendHistory
from .transport_feedback import TransportSequence, feedback_packets, parse_feedback

log = logging.getLogger(__name__)

AIORTC_PRIVATE = ("RTCDtlsTransport._handle_rtcp_data",)
"""The private aiortc name this module wraps (see `aiortc_private`)."""
_WHERE = "transport/send_side.py"
COLLAPSE = 0.5
"""A feedback that takes the estimate under this share of what it was is a collapse:
the path's capacity fell far under the stream (a cap dropped), its queue is
overflowing, and what was sent before it is mostly lost. Each video sender then
starts again from a keyframe at the new rate instead of repairing the loss
(`resend_budget.ResendBudget.restart`)."""
COLLAPSE_FACTOR = 0.7
"""On a collapse the estimate falls to this x what the viewer received (if lower): under
the path's new capacity, so its queue drains while the estimate is held."""
COLLAPSE_HOLD = 1.5
"""Seconds after a collapse during which the estimate is cut no further: its senders
send no video while the path's queue drains (up to 0.5 s) and then a keyframe, and
what arrives meanwhile is their own doing, not the path's (cut on it, the estimate
fell to 0.38 Mbit/s behind a 2 Mbit/s cap)."""
FIRST_PROBE_PACKETS = 20
"""Media packets sent before the first probe may go: a probe is made of copies of
recent packets, and the stream's first frame gives enough of them."""


class SendSideBandwidth:
    """The transport-cc estimate of one viewer's path, shared by its video senders.

    Attributes:
        feedbacks: Transport-cc feedback packets taken.
        malformed: Feedback packets that could not be read (skipped; the next one
            covers the same packets again only partly, so the estimate just waits).
        probe_packets: Packets sent as probes.
        collapses: Feedbacks that showed the path collapsed (`COLLAPSE`).
        unnumbered: Packets that left without the extension's placeholder (none
            should: every packet of a transport-cc sender carries one).
        value: The path's estimate (bit/s), None before the first feedback.
    """

    def __init__(
        self,
        start_bitrate: int,
        min_bitrate: int,
        max_bitrate: int,
        clock: Callable[[], float] = time.monotonic,
        totals: LossCounters | None = None,
    ) -> None:
        """An estimate starting at `start_bitrate`, kept within [min, max] bit/s.

        `totals`, shared by every viewer, counts the feedback and probe packets too.
        """
        self.clock = clock
        self.totals = totals or LossCounters()
        self.sequence = TransportSequence()
        self.history = SendHistory()
        self.delay = DelayBasedEstimate(start_bitrate, min_bitrate, max_bitrate, clock=clock)
        self.probes = ProbeController(max_bitrate, clock=clock)
        self.estimates: list[ViewerEstimate] = []
        self.on_collapse: list[Callable[[], None]] = []
        self.collapses = 0
        self.prober: Callable[[Probe], Awaitable[None]] | None = None
        self.feedbacks = 0
        self.malformed = 0
        self.probe_packets = 0
        self.unnumbered = 0
        self.value: int | None = None
        self._media_sent = 0
        self._tapped: set[int] = set()
        self._probing: asyncio.Task[None] | None = None

    def install(self, transport: Any) -> None:
        """Read the transport-cc feedback among the RTCP `transport` receives (once each).

        Raises:
            RuntimeError: This aiortc's `RTCDtlsTransport` lacks the name wrapped here.
        """
        if id(transport) in self._tapped:
            return
        require(transport, "RTCDtlsTransport", AIORTC_PRIVATE, _WHERE)
        self._tapped.add(id(transport))
        handle = transport._handle_rtcp_data

        async def tapped(data: bytes) -> None:
            self.on_rtcp(data)
            await handle(data)

        transport._handle_rtcp_data = tapped

    def add(self, estimate: ViewerEstimate, on_collapse: Callable[[], None] | None = None) -> None:
        """Give a share of the path's estimate to `estimate` (one video track's).

        `on_collapse` is called when a feedback shows the path collapsed (`COLLAPSE`).
        """
        self.estimates.append(estimate)
        if on_collapse is not None:
            self.on_collapse.append(on_collapse)

    def stamp(self, data: bytes, extension_id: int, probe: int | None = None) -> bytes:
        """`data`, an RTP packet leaving now, with its transport-wide number written.

        A packet without the extension's placeholder comes back as it was, unnumbered.
        """
        seq = self.sequence.peek()
        stamped = rewrite_extension(data, extension_id, self.sequence.encode(seq))
        if stamped is data:
            self.unnumbered += 1
            return data
        self.sequence.next()
        self.history.on_sent(seq, len(data), self.clock(), probe)
        if probe is None:
            self._media_sent += 1
            if self._media_sent == FIRST_PROBE_PACKETS:
                self._maybe_probe()
        else:
            self.probe_packets += 1
            self.totals.probe_packets += 1
        return stamped

    def on_rtcp(self, data: bytes) -> None:
        """Take the transport-cc packets of one received compound RTCP datagram."""
        for packet in feedback_packets(data):
            try:
                feedback = parse_feedback(packet)
            except ValueError as exc:
                self.malformed += 1
                log.debug("transport feedback skipped: %s", exc)
                continue
            self.feedbacks += 1
            self.totals.transport_feedbacks += 1
            results = self.history.on_feedback(feedback)
            if not results:
                continue
            before = self.delay.value
            self.delay.on_feedback(results)
            if self.delay.value < COLLAPSE * before:
                self.collapses += 1
                self.delay.collapse(COLLAPSE_FACTOR, COLLAPSE_HOLD)
                log.info(
                    "viewer path collapsed: estimate %d -> %d bit/s; senders restart",
                    before,
                    self.delay.value,
                )
                for restart in self.on_collapse:
                    restart()
            probed = self.probes.on_results(results)
            if probed is not None:
                self.delay.on_probe_result(probed)
            self.value = self.delay.value
            share = self.value // max(1, len(self.estimates))
            for estimate in self.estimates:
                estimate.on_delay_based(share)
            self._maybe_probe()

    def _maybe_probe(self) -> None:
        if self.prober is None or self._media_sent < FIRST_PROBE_PACKETS:
            return
        if self._probing is not None and not self._probing.done():
            return
        probe = self.probes.next_probe(self.delay.value, self.delay.overused_at)
        if probe is not None:
            self.delay.probe_sent()
            self._probing = asyncio.ensure_future(self.prober(probe))

    def stats(self) -> dict[str, Any]:
        """The estimate, and what the feedback, the detector and the probes did."""
        return {
            "estimate": self.value,
            "feedbacks": self.feedbacks,
            "malformed": self.malformed,
            "probe_packets": self.probe_packets,
            "unnumbered": self.unnumbered,
            "collapses": self.collapses,
            "history": self.history.stats(),
            "delay": self.delay.stats(),
            "probes": self.probes.stats(),
        }
