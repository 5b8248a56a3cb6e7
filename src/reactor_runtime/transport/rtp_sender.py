"""The one place where aiortc's `RTCRtpSender` is bent for pre-encoded video.

aiortc's sender was built around its own encoders; for the packets the `MediaHub`
encodes once for every viewer it falls short in four ways (FACTS.md "Networks"):

- its retransmission history is 128 packets keyed by `seq % 128`: ~150 ms at
  8 Mbit/s, and one keyframe fills it, so a NACK after one long round trip finds
  nothing;
- NACKed sequence numbers are not wrapped at 65536, so a loss just before the wrap
  is never resent;
- PLI/FIR only flag the next raw frame for its own encoder, which never runs here;
- the receiver's REMB goes to that same idle encoder, and receiver-report loss is
  only kept for `getStats()`.

`SenderBridge.install` replaces, on one sender instance, the history (a
`PacketHistory` that keeps `HISTORY_SECONDS` of packets by their full sequence
number), the NACK handler (wrapped; one resend per packet per round trip, within a
`resend_budget.ResendBudget`; counted)
and the PLI/FIR/REMB/receiver-report handling (handed to callbacks), and puts a
`pacing.PacedTransport` in front of the sender's transport so a frame's packets leave
spread out. `install_packetizer` puts our `packetizer.Vp8Packetizer`/`H264Packetizer`
where aiortc keeps its encoder object, so each frame is described and split by us
(aiortc's VP8 packetizer writes no temporal layer ids). Everything else aiortc does
is left as it is.
`tests/transport/test_rtp_sender.py` pins each behaviour; the private names relied on
are declared in `AIORTC_PRIVATE` and checked (`aiortc_private.require`) before any is
touched, so an aiortc upgrade that moves one fails there, by name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
    wrap_rtx,
)
from aiortc.utils import uint16_add

from .aiortc_private import require
from .header_extensions import abs_send_time_id, transport_cc_id
from .pacing import PacedTransport, Pacer
from .packet_history import RTP_HEADER_BYTES, PacketHistory
from .resend_budget import ResendBudget, keyframe_when_drained, keyframe_when_rate_fell

if TYPE_CHECKING:
    from .probing import Probe
    from .send_side import SendSideBandwidth

log = logging.getLogger(__name__)

RESEND_INTERVAL = 0.05
"""Seconds before a packet is resent again when the round trip is not known yet. A
receiver repeats its NACK each round trip until the packet comes; answering every
repeat of a packet already on its way only queues more in front of it (a
retransmission storm on a congested link), so one resend per round trip at most."""

REPEAT_LOSS = 0.03
"""From this share of packets lost on a viewer's path, each resend goes out twice: a
resend lost again costs one more round trip, which at 80 ms outlasts the playout
floor and freezes the picture; two copies make that 1 in 400 at 5 % loss instead of
1 in 20, for 5 % more bytes."""
PROBE_TIMER_SECONDS = 0.002
"""A probe packet due sooner than this leaves at once: the event loop's timers are
not finer, and a probe's rate is read from when its packets really left."""

AIORTC_PRIVATE = (
    "RTCRtpSender._RTCRtpSender__encoder",
    "RTCRtpSender._RTCRtpSender__rtp_history",
    "RTCRtpSender._RTCRtpSender__rtx_payload_type",
    "RTCRtpSender._RTCRtpSender__rtx_sequence_number",
    "RTCRtpSender._RTCRtpSender__rtp_header_extensions_map",
    "RTCRtpSender._RTCRtpSender__rtt",
    "RTCRtpSender._RTCRtpSender__transport",
    "RTCRtpSender._handle_rtcp_packet",
    "RTCRtpSender._retransmit",
    "RTCRtpSender._send_keyframe",
    "RTCRtpSender._ssrc",
    "RTCRtpSender._rtx_ssrc",
    "RTCDtlsTransport._send_rtp",
)
"""The private names of aiortc this module reads or replaces (see `aiortc_private`)."""
_WHERE = "transport/rtp_sender.py"


@dataclass
class LossCounters:
    """Loss recovery and feedback summed over every viewer's sender (for `/metrics`)."""

    nacked: int = 0
    retransmitted: int = 0
    missed: int = 0
    throttled: int = 0
    unanswered: int = 0
    keyframe_requests: int = 0
    rembs: int = 0
    transport_feedbacks: int = 0
    probe_packets: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters by name."""
        return asdict(self)


class SenderBridge:
    """Loss recovery and feedback for one video `RTCRtpSender` carrying hub packets.

    Attributes:
        nacked: Sequence numbers the viewer reported lost (NACK entries).
        retransmitted: Of those, packets resent (as RTX when negotiated).
        missed: Of those, packets no longer (or never) in the history.
        throttled: Of those, packets resent less than a round trip ago (not resent).
        budget: The `ResendBudget`: NACKs past it ask for a keyframe instead, and those
            for packets sent before that keyframe are not answered (counted there).
        keyframe_requests: PLI and FIR received.
        rembs: REMB reports received for this sender; `remb` is the latest value (bit/s).
        fraction_lost: Loss in the latest receiver report (0..1), None before one; it
            covers the packets since the previous report, often only a few.
    """

    def __init__(
        self,
        sender: RTCRtpSender,
        *,
        on_keyframe_request: Callable[[], None],
        on_remb: Callable[[int], None] | None = None,
        on_report: Callable[[int, int], None] | None = None,
        history: PacketHistory | None = None,
        totals: LossCounters | None = None,
        pace: Callable[[], int | None] | None = None,
        link: Callable[[], int | None] | None = None,
        send_side: SendSideBandwidth | None = None,
        loss: Callable[[], float | None] | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        """Prepare the bridge of `sender`; nothing changes until `install()`.

        Args:
            sender: The sender, before its `send()` starts the RTP loop.
            on_keyframe_request: Called on each PLI or FIR from the viewer.
            on_remb: Called with each REMB value (bit/s) that names this sender's SSRC.
            on_report: Called with the cumulative packets lost and the extended highest
                sequence number of each receiver report block about this sender.
            history: The retransmission history (default: `packet_history.HISTORY_SECONDS`).
            totals: Counters shared with other bridges, added to as well as this one's.
            pace: The stream's current rate (bit/s), to pace its packets at
                `pacing.PACE_FACTOR` times it; None sends them unpaced.
            link: The viewer's delay-based estimate (bit/s) the pace stays under once
                it fell (default: its REMB).
            send_side: The viewer's transport-cc estimate: numbers each packet as it
                leaves, reads the feedback, and uses this sender to probe.
            loss: The share of packets the viewer's path loses (0..1, None: unknown);
                from `REPEAT_LOSS` on, each resend goes out twice.
            on_restart: Asks for the keyframe that restarts the picture after the
                path collapsed (default: `on_keyframe_request`).
        """
        self.sender = sender
        self.on_keyframe_request = on_keyframe_request
        self.on_remb = on_remb
        self.on_report = on_report
        self.history = history or PacketHistory()
        self.totals = totals or LossCounters()
        self.nacked = 0
        self.retransmitted = 0
        self.missed = 0
        self.throttled = 0
        self.keyframe_requests = 0
        self.rembs = 0
        self.remb: int | None = None
        self.fraction_lost: float | None = None
        link = link or (lambda: self.remb)
        self.pacer = Pacer(pace, remb=link) if pace is not None else None
        self.send_side = send_side
        self.budget = ResendBudget(lambda: _lowest(pace, link))
        self.loss = loss or (lambda: None)
        self.on_restart = on_restart or on_keyframe_request
        self._burst_keyframe: asyncio.Future[None] | None = None
        self.repeated = 0
        self._aiortc_handle: Callable[[Any], Any] | None = None
        self._resends: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Replace the sender's history, NACK, PLI/FIR, REMB and report handling.

        Raises:
            RuntimeError: This aiortc's `RTCRtpSender` lacks a private name the bridge
                relies on (an upgrade moved it); the message names it.
        """
        require(self.sender, "RTCRtpSender", AIORTC_PRIVATE, _WHERE)
        require(self.sender.transport, "RTCDtlsTransport", AIORTC_PRIVATE, _WHERE)
        sender: Any = self.sender
        self._aiortc_handle = sender._handle_rtcp_packet
        sender._RTCRtpSender__rtp_history = self.history
        sender._handle_rtcp_packet = self.handle_rtcp
        sender._retransmit = self.retransmit
        sender._send_keyframe = self.on_keyframe_request
        if self.send_side is not None:
            self.send_side.install(sender._RTCRtpSender__transport)
            if self.send_side.prober is None:
                self.send_side.prober = self.send_probe
        if self.pacer is not None:
            sender._RTCRtpSender__transport = PacedTransport(
                sender._RTCRtpSender__transport,
                self.pacer,
                lambda: abs_send_time_id(sender),
                self.send_side,
                lambda: transport_cc_id(sender),
            )

    async def handle_rtcp(self, packet: Any) -> None:
        """Handle one RTCP packet routed to this sender (aiortc's entry point)."""
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            # Resends wait in the pacer; the transport's RTCP (and inbound RTP) must not.
            task = asyncio.ensure_future(self._retransmit_all(packet.lost))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            log.info("keyframe request (PLI/FIR) from the viewer")
            self.keyframe_requests += 1
            self.totals.keyframe_requests += 1
            self.on_keyframe_request()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            self._remb(packet.fci)
        else:
            assert self._aiortc_handle is not None
            # Sender and receiver reports: aiortc's round-trip time and getStats() entries.
            await self._aiortc_handle(packet)
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                if self.send_side is not None and self.rtt is not None:
                    self.send_side.delay.on_rtt(self.rtt)
                for report in packet.reports:
                    if report.ssrc == self.sender._ssrc:
                        self.fraction_lost = report.fraction_lost / 256
                        if self.on_report is not None:
                            self.on_report(report.packets_lost, report.highest_sequence)

    @property
    def rtt(self) -> float | None:
        """The round trip (seconds) aiortc measured from receiver reports, None before."""
        rtt = getattr(self.sender, "_RTCRtpSender__rtt", None)
        return rtt if rtt else None

    async def _retransmit_all(self, lost: list[int]) -> None:
        for seq in lost:
            await self.retransmit(seq)

    async def retransmit(self, seq: int) -> None:
        """Resend the packet with sequence number `seq` (any integer; wrapped at 65536)."""
        self.nacked += 1
        self.totals.nacked += 1
        entry = self.history.entry(seq)
        if entry is None:
            self.missed += 1
            self.totals.missed += 1
            return
        sent_at, packet = entry
        sender: Any = self.sender
        rtt = sender._RTCRtpSender__rtt
        if not self.history.claim_resend(seq, rtt if rtt else RESEND_INTERVAL):
            self.throttled += 1
            self.totals.throttled += 1
            return
        copies = 2 if (self.loss() or 0.0) >= REPEAT_LOSS else 1
        if not self.budget.allow(sent_at, copies * (RTP_HEADER_BYTES + len(packet.payload))):
            self.totals.unanswered += 1
            if self.budget.keyframe_wanted and self._burst_keyframe is None:
                self._burst_keyframe = asyncio.ensure_future(self._keyframe_after_burst())
            return
        for _ in range(copies):
            try:
                await sender.transport._send_rtp(self._retransmission(packet))
            except ConnectionError:
                return
        self.retransmitted += 1
        self.totals.retransmitted += 1
        self.repeated += copies - 1

    def restart(self) -> None:
        """The viewer's path collapsed: nothing sent so far is repaired.

        A keyframe is asked for once the path's queue has drained (the track sends
        no delta frame meanwhile): `resend_budget.keyframe_when_drained`.
        """
        self.budget.restart()
        if self.pacer is not None:
            self.pacer.restart()
        for resend in list(self._resends):  # still waiting in the pacer: moot now
            resend.cancel()
        if self._burst_keyframe is not None:
            self._burst_keyframe.cancel()
        self._burst_keyframe = asyncio.ensure_future(self._keyframe_after_drain())

    async def _keyframe_after_drain(self) -> None:
        queued = self.send_side.delay.queue_delay if self.send_side else None
        try:
            await keyframe_when_drained(self.budget, queued, self.on_restart)
        finally:
            self._burst_keyframe = None

    async def _keyframe_after_burst(self) -> None:
        rate = self.pacer.target if self.pacer is not None else (lambda: None)
        try:
            await keyframe_when_rate_fell(self.budget, rate, self.on_keyframe_request)
        finally:
            self._burst_keyframe = None

    async def send_probe(self, probe: Probe) -> None:
        """Send `probe`: copies of recent packets as retransmissions, at its own pace.

        The viewer drops them as duplicates once its transport feedback has counted
        them. Without RTX negotiated nothing is sent (the probe is abandoned).
        """
        sender: Any = self.sender
        transport = sender.transport
        if sender._RTCRtpSender__rtx_payload_type is None or not isinstance(
            transport, PacedTransport
        ):
            return
        started = time.monotonic()
        sent = 0
        for packet in self.history.recent(probe.size):
            wait = started + sent * 8 / probe.bitrate - time.monotonic()
            if wait > PROBE_TIMER_SECONDS:
                await asyncio.sleep(wait)
            data = self._retransmission(packet)
            try:
                await transport.send_probe(data, probe.cluster)
            except ConnectionError:
                return
            sent += len(data)

    def _retransmission(self, packet: RtpPacket) -> bytes:
        """`packet`'s bytes to send again: the sender's next RTX packet if it has RTX."""
        sender: Any = self.sender
        rtx_type = sender._RTCRtpSender__rtx_payload_type
        if rtx_type is not None:
            rtx_seq = sender._RTCRtpSender__rtx_sequence_number
            packet = wrap_rtx(
                packet, payload_type=rtx_type, sequence_number=rtx_seq, ssrc=sender._rtx_ssrc
            )
            sender._RTCRtpSender__rtx_sequence_number = uint16_add(rtx_seq, 1)
        return packet.serialize(sender._RTCRtpSender__rtp_header_extensions_map)

    def _remb(self, fci: bytes) -> None:
        try:
            bitrate, ssrcs = unpack_remb_fci(fci)
        except ValueError:
            return  # another application-layer feedback message, not REMB
        if self.sender._ssrc in ssrcs:
            self.rembs += 1
            self.totals.rembs += 1
            self.remb = bitrate
            if self.on_remb is not None:
                self.on_remb(bitrate)

    def stats(self) -> dict[str, Any]:
        """Counters of loss recovery and feedback."""
        return {
            "nacked": self.nacked,
            "retransmitted": self.retransmitted,
            "missed": self.missed,
            "throttled": self.throttled,
            "repeated": self.repeated,
            "over_budget": self.budget.tripped,
            "superseded": self.budget.superseded,
            "restarts": self.budget.restarts,
            "history": len(self.history),
            "keyframe_requests": self.keyframe_requests,
            "rembs": self.rembs,
            "remb": self.remb,
            "fraction_lost": self.fraction_lost,
            "paced": self.pacer.paced if self.pacer else 0,
            "pacer_overflows": self.pacer.overflows if self.pacer else 0,
        }


def _lowest(*rates: Callable[[], int | None] | None) -> int | None:
    """The lowest of the rates these give now (bit/s), None if none gives one."""
    known = [r for r in (rate() for rate in rates if rate is not None) if r]
    return min(known) if known else None


_ENCODER = "_RTCRtpSender__encoder"
"""aiortc's per-sender encoder object: `pack(data)` turns whatever the track's `recv()`
returned (when not a raw frame) into `(payloads, rtp_timestamp)`; it is created only
while still None, when the first frame is sent."""


def install_packetizer(sender: RTCRtpSender, packetizer: Any) -> None:
    """Make `packetizer` (`packetizer.Vp8Packetizer`/`H264Packetizer`) pack `sender`'s frames.

    Call before the sender starts; aiortc then never creates its own encoder object.

    Raises:
        RuntimeError: This aiortc's sender has no such attribute, or already made its own
            encoder object (the message names the attribute).
    """
    require(sender, "RTCRtpSender", (f"RTCRtpSender.{_ENCODER}",), _WHERE)
    if getattr(sender, _ENCODER) is not None:
        raise RuntimeError(f"RTCRtpSender.{_ENCODER} is already set: install before send()")
    setattr(sender, _ENCODER, packetizer)
