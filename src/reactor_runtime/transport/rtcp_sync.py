"""RTCP sender reports that map every track's RTP time onto one wall clock: the media clock.

A receiver lip-syncs two tracks of one msid stream by mapping each track's RTP
timestamps to NTP time through that track's sender reports (SR), then lining up
equal NTP times. aiortc's `RTCRtpSender` fills an SR with the RTP timestamp of the
last packet it sent and the wall-clock time at which it sent it. For us that time
is "presentation time + this track's own delay": a video picture leaves after its
encode (and whatever waits before it), an audio packet leaves when its 20 ms Opus
frame has filled, which is anywhere from 7 ms before to 26 ms after its pts with
3-frame batches. So each track's mapping is late by its own, varying, amount, and a
browser faithfully reproduces the difference as A/V skew.

Here both tracks' SRs say instead *when that RTP timestamp is presented on the
media clock*: the hub stamps every packet with its presentation time on one 48 kHz
timeline, and `MediaClock` maps that timeline to the pacer's monotonic schedule
(`pacer.origin + pts / 48000`), converted to wall time with one offset sampled
once. Equal pts then give equal NTP, for audio and video alike, whatever each
track's encode and queue delays were.

aiortc has no hook for the SR's NTP time: it is the private attribute
`__ntp_timestamp` (stored as `_RTCRtpSender__ntp_timestamp`), written after every
packet sent and read when the SR is built. `sync_sender` swaps the sender onto a
subclass whose class-level data descriptor for that name takes precedence over the
instance attribute: writes (aiortc's send time) are kept for diagnostics, reads
return the media-clock time of the last packet sent. The RTP timestamp in the SR is
left alone, so the pair stays consistent, and the SR's LSR (derived from the same
read) still matches what the receiver echoes back, so RTT estimation keeps working.
The sender's random `timestamp_origin` never matters: the descriptor works from the
frame's own timestamp before aiortc adds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .aiortc_private import require
from .encoders import AUDIO_RATE

AIORTC_PRIVATE = (
    "RTCRtpSender._RTCRtpSender__ntp_timestamp",
    "RTCRtpSender._next_encoded_frame",
)
"""The private names of aiortc this module overrides (see `aiortc_private`)."""

NTP_UNIX_OFFSET = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""
VIDEO_RATE = 90_000


class MediaClock:
    """The hub timeline (48 kHz ticks) mapped to wall-clock NTP time.

    The hub `anchor`s every paced frame: hub tick `ticks` is presented at monotonic
    time `at`. Between anchors the clock runs at exactly 48 kHz, as the pacer does.
    Monotonic time becomes wall time through one offset sampled at construction:
    re-reading `time.time()` would let NTP slewing of the system clock bend the
    line that receivers fit through consecutive sender reports.
    """

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        """Sample the monotonic-to-wall offset now."""
        self._wall_offset = wall() - monotonic()
        self._anchor: tuple[int, float] | None = None

    def anchor(self, ticks: int, at: float) -> None:
        """Record that hub tick `ticks` is presented at monotonic time `at`."""
        self._anchor = (ticks, at)

    def monotonic(self, ticks: float) -> float | None:
        """The monotonic time hub tick `ticks` is presented at, or None before any frame."""
        if self._anchor is None:
            return None
        anchor_ticks, at = self._anchor
        return at + (ticks - anchor_ticks) / AUDIO_RATE

    def ntp(self, ticks: float) -> int | None:
        """Hub tick `ticks` as a 64-bit NTP timestamp (32.32 fixed point), or None."""
        at = self.monotonic(ticks)
        if at is None:
            return None
        return round((at + self._wall_offset + NTP_UNIX_OFFSET) * (1 << 32))


class _SenderClock:
    """One sender's view of the media clock: RTP timestamps of its codec to NTP."""

    def __init__(self, clock: MediaClock, rate: int) -> None:
        self.clock = clock
        self.rate = rate
        self.fetched: int | None = None
        self.sent: int | None = None
        self.sent_at: int = 0
        self.reports = 0

    def report_ntp(self) -> int:
        if self.sent is None:
            return self.sent_at
        ntp = self.clock.ntp(self.sent * AUDIO_RATE / self.rate)
        # Without an anchor (no frame seen yet) aiortc's own value is the best there is.
        return self.sent_at if ntp is None else ntp


class _MediaClockNtp:
    """Stands in for `RTCRtpSender.__ntp_timestamp` on `SyncedSender` (a data descriptor)."""

    def __get__(self, sender: Any, owner: type | None = None) -> Any:
        if sender is None:
            return self
        return sender._media_clock.report_ntp()

    def __set__(self, sender: Any, value: int) -> None:
        # aiortc writes this right after sending each packet of the frame it fetched last,
        # and sets the matching RTP timestamp next, with no await between the two.
        sync = sender._media_clock
        sync.sent_at = value
        sync.sent = sync.fetched


class SyncedSender(RTCRtpSender):
    """An `RTCRtpSender` whose sender reports map RTP time through the `MediaClock`.

    Made only by `sync_sender` (class swap on a sender aiortc created); see the module
    docstring for why.
    """

    _media_clock: _SenderClock
    _RTCRtpSender__ntp_timestamp = _MediaClockNtp()

    async def _next_encoded_frame(self, codec: RTCRtpCodecParameters) -> Any:
        frame = await super()._next_encoded_frame(codec)
        if frame is not None:
            # The frame's timestamp before aiortc adds its random origin: the hub's pts.
            self._media_clock.fetched = frame.timestamp
        return frame


def sync_sender(sender: RTCRtpSender, clock: MediaClock, kind: str) -> None:
    """Make `sender`'s RTCP sender reports map its RTP time through `clock`.

    Call before the connection starts sending. The sender's track must yield packets
    stamped on the hub timeline (`OutboundTrack` does): video in 1/90000 s, audio in
    1/48000 s.

    Args:
        sender: A sender aiortc created (e.g. `transceiver.sender`).
        clock: The hub's media clock.
        kind: "video" or "audio".

    Raises:
        RuntimeError: This aiortc's sender lacks a name in `AIORTC_PRIVATE` (named).
    """
    require(sender, "RTCRtpSender", AIORTC_PRIVATE, "transport/rtcp_sync.py")
    rate = VIDEO_RATE if kind == "video" else AUDIO_RATE
    # aiortc builds senders inside addTransceiver and offers no factory hook; the
    # subclass adds no state of its own to the instance layout, so swapping is safe.
    sender.__class__ = SyncedSender
    sender._media_clock = _SenderClock(clock, rate)  # type: ignore[attr-defined]
