"""Sending each video frame's metadata to one viewer: in a trailer, or as a message.

Both are `packetizer.Trailer` callables, called once per frame the viewer is sent,
just before its packets are made (see `OutboundTrack.attach_sender`):

- `TrailerWriter`, for viewers whose offer declared `a=x-reactor-frame-metadata:1`
  (the official Python SDK, our client): returns the frame's trailer, appended to
  its VP8 payload. Every frame gets one: `frame_id` counts the frames this viewer
  was sent (from 1), `capture_time_us` is the frame's presentation time on the
  session's media timeline, and `user_data` the model's metadata if it gave some.
- `H264Trailers`, for viewers that declared trailers but negotiated H.264: appends
  nothing and counts each frame as a dropped trailer (bytes after the last NAL unit
  would be read as part of it by a decoder that does not strip them).
- `MetadataMessages`, for viewers whose offer declared
  `a=x-reactor-frame-metadata-messages:1` (our page, which cannot read trailers):
  appends nothing (the frame stays byte-identical) and sends a `frameMetadata`
  runtime message for each frame that has metadata (`FrameMetadataOut`)::

      {"scope": "runtime", "data": {"type": "frameMetadata", "data": {
          "track": "main_video", "rtp_timestamp": 3735928559,
          "capture_time_us": 2000000, "metadata": "<base64>"}}}

  `rtp_timestamp` is the timestamp of the frame's RTP packets as this viewer gets
  them, which a page reads per presented frame (`requestVideoFrameCallback`'s
  `rtpTimestamp`) to match the two.

aiortc adds a random origin to every RTP timestamp, out of our reach; it is read
back from the sender (the timestamp of its last packet, minus that frame's own),
so the first frame's message waits for the second frame (a few are held, counted
if dropped).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import convert_timebase

from ..protocol import FrameMetadataOut
from .aiortc_private import require
from .encoded import EncodedVideo
from .encoders import VIDEO_TIME_BASE
from .frame_metadata import FrameMetadata, FrameMetadataCounters, encode_trailer

MESSAGES_SDP_LINE = "a=x-reactor-frame-metadata-messages:1"
"""The session-level line by which an offer asks for `frameMetadata` messages."""
HELD_MESSAGES = 4
"""Messages held while the RTP timestamp origin is unknown (before the 2nd frame)."""
AIORTC_PRIVATE = ("RTCRtpSender._RTCRtpSender__rtp_timestamp",)
"""The private names of aiortc this module reads (see `aiortc_private`)."""
_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_WRAP = 1 << 32


def _ticks(frame: EncodedVideo) -> int:
    """The frame's timestamp in 90 kHz ticks, before aiortc adds its origin."""
    packet = frame.packet
    return convert_timebase(packet.pts, packet.time_base, VIDEO_TIME_BASE)


def _capture_time_us(ticks: int) -> int:
    return ticks * 1000 // 90


class TrailerWriter:
    """The trailer of each frame sent to one viewer (a `packetizer.Trailer`).

    Attributes:
        frames: Trailers written (the last `frame_id`).
        tagged: Those that carried the model's metadata.
    """

    def __init__(self, totals: FrameMetadataCounters | None = None) -> None:
        """Start counting frames at 1; `totals`, if given, counts the trailers too."""
        self.frames = 0
        self.tagged = 0
        self.totals = totals

    def __call__(self, frame: EncodedVideo) -> bytes:
        """The bytes to append to `frame`'s payload."""
        self.frames += 1
        if self.totals is not None:
            self.totals.trailers_sent += 1
        if frame.metadata:
            self.tagged += 1
        meta = FrameMetadata(self.frames, _capture_time_us(_ticks(frame)), frame.metadata)
        return encode_trailer(meta)

    def stats(self) -> dict[str, int]:
        """Counters of this viewer's trailers."""
        return {"trailers": self.frames, "tagged": self.tagged}


class H264Trailers:
    """No trailer for the H.264 frames of a viewer that declared trailers (a `packetizer.Trailer`).

    A trailer is appended to the frame's bitstream; after H.264's last NAL unit it
    would be read as part of that unit (a corrupt slice) by any decoder that does not
    strip it first, and a viewer that declared trailers may still hand H.264 frames to
    one. So the frame goes out unchanged and its trailer is counted as dropped
    (`FrameMetadataCounters.trailers_dropped_h264`).

    Attributes:
        dropped: Frames sent without their trailer.
    """

    def __init__(self, totals: FrameMetadataCounters | None = None) -> None:
        """Count the frames; `totals`, if given, counts them too (the session's counters)."""
        self.dropped = 0
        self.totals = totals

    def __call__(self, frame: EncodedVideo) -> None:
        """Append nothing to `frame`; count its trailer as dropped."""
        self.dropped += 1
        if self.totals is not None:
            self.totals.trailers_dropped_h264 += 1

    def stats(self) -> dict[str, int]:
        """Counters of this viewer's trailers."""
        return {"trailers": 0, "trailers_dropped_h264": self.dropped}


class MetadataMessages:
    """`frameMetadata` messages for the frames sent to one viewer (a `packetizer.Trailer`).

    Attributes:
        sent: Messages handed to the viewer's data channel.
        dropped: Messages dropped: held too long before the origin was known, or
            refused by the channel (its backlog limit).
    """

    def __init__(
        self,
        track: str,
        sender: Any,
        send: Callable[[FrameMetadataOut], bool],
        totals: FrameMetadataCounters | None = None,
    ) -> None:
        """Send the metadata of `track`'s frames through `send`; `sender` is its RTCRtpSender.

        `totals`, if given, counts the messages too (the session's counters).

        Raises:
            RuntimeError: This aiortc's sender keeps no last RTP timestamp where expected.
        """
        require(sender, "RTCRtpSender", AIORTC_PRIVATE, "transport/metadata_sender.py")
        self.track = track
        self.totals = totals or FrameMetadataCounters()
        self.sender = sender
        self.send = send
        self.sent = 0
        self.dropped = 0
        self._last_ticks: int | None = None
        self._held: deque[tuple[int, bytes]] = deque()

    def __call__(self, frame: EncodedVideo) -> None:
        """Send `frame`'s metadata, if it has some; append nothing to its payload."""
        ticks = _ticks(frame)
        origin = self._origin()
        self._last_ticks = ticks
        if origin is not None:
            while self._held:
                self._send(origin, *self._held.popleft())
        if not frame.metadata:
            return None
        if origin is not None:
            self._send(origin, ticks, frame.metadata)
            return None
        if len(self._held) == HELD_MESSAGES:
            self._held.popleft()
            self.dropped += 1
            self.totals.messages_dropped += 1
        self._held.append((ticks, frame.metadata))
        return None

    def stats(self) -> dict[str, int]:
        """Counters of this viewer's messages."""
        return {"messages": self.sent, "messages_dropped": self.dropped}

    def _origin(self) -> int | None:
        # The sender's last packet belongs to the frame packed just before this one.
        last = getattr(self.sender, _RTP_TIMESTAMP)
        if self._last_ticks is None or not last:
            return None
        return (last - self._last_ticks) % _WRAP

    def _send(self, origin: int, ticks: int, metadata: bytes) -> None:
        message = FrameMetadataOut(
            self.track, (origin + ticks) % _WRAP, _capture_time_us(ticks), metadata
        )
        if self.send(message):
            self.sent += 1
            self.totals.messages_sent += 1
        else:
            self.dropped += 1
            self.totals.messages_dropped += 1
