"""A viewer's outbound media tracks: the hub's encoded packets to aiortc.

`OutboundTrack.recv()` returns already-encoded frames (`EncodedVideo`, or `av.Packet`
for audio): aiortc's `RTCRtpSender` then only packetizes them, with our
`packetizer.Vp8Packetizer`/`H264Packetizer` for video, so a frame encoded once by the
`MediaHub` serves every viewer. Each track has a small bounded queue; when a slow viewer
lets it overflow, video first drops the queued enhancement layer frames (TID 1: no other
frame needs them), then, if that is not enough, everything up to the next keyframe (a
VP8/H.264 stream cannot skip a base delta frame); audio drops its oldest packet. A
viewer the stream's `stream_policy` deems far slower than the others gets the track's
low stream (`wants_low`; it switches streams at a keyframe of the other one, which
replaces the frame of that picture it holds), or the base layer only
(`base_layer_only`).

A video track also owns its sender's `SenderBridge` (`attach_sender`): the viewer's
NACKs are answered from a longer history, its PLI/FIR reach the hub (one keyframe
serves every viewer that asked within `KEYFRAME_MIN_INTERVAL`), and its REMB and
receiver-report loss feed its rate estimate.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import TYPE_CHECKING, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .encoded import EncodedVideo
from .encoders import VideoCodec
from .header_extensions import SenderExtensionMap, playout_map
from .packetizer import H264Packetizer, Trailer, Vp8Packetizer
from .pipelines import KEYFRAME_MIN_INTERVAL
from .playout_floor import PlayoutFloor
from .rate_control import ViewerEstimate
from .rtp_sender import SenderBridge, install_packetizer
from .stream_policy import BASE_SHARE

if TYPE_CHECKING:
    from aiortc import RTCRtpSender

    from .hub import MediaHub
    from .send_side import SendSideBandwidth

log = logging.getLogger(__name__)

VIDEO_QUEUE = 8
"""Encoded pictures a viewer may lag behind (~0.27 s at 30 fps) before video skips ahead."""
AUDIO_QUEUE = 25
"""Opus packets (0.5 s) a viewer may lag behind before the oldest are dropped."""


class OutboundTrack(MediaStreamTrack):
    """One model output track as sent to one viewer; `recv()` yields encoded packets.

    The video codec is fixed by negotiation (`bind`). The track subscribes to the hub
    when aiortc first asks for media (the connection is up), so nothing queues before.

    Attributes:
        layer_skipped: Enhancement layer frames not sent because the viewer gets the
            base layer only.
        layer_dropped: Enhancement layer frames dropped from an overflowing queue.
        dropped: Frames or packets dropped from an overflowing queue otherwise.
        low: Whether the viewer is sent the low stream of its codec now.
        switches: Switches to the low stream ("down") and back ("up").
    """

    def __init__(self, hub: MediaHub, name: str, kind: str) -> None:
        """Carry output track `name` (`kind` "video" or "audio") from `hub`."""
        super().__init__()
        self.kind = kind
        self.name = name
        self.hub = hub
        self.codec: VideoCodec | None = None
        self.paused = False
        self.sent = 0
        self.dropped = 0
        self.layer_skipped = 0
        self.layer_dropped = 0
        self.low = False
        self.switches = {"down": 0, "up": 0}
        self.forced_base_layer: bool | None = None
        """True/False overrides the stream's layer policy for this viewer; None follows it."""
        self.last_sent: float | None = None
        self.bridge: SenderBridge | None = None
        self.playout: SenderExtensionMap | None = None
        """The sender's playout-delay writer, None when the viewer did not negotiate it."""
        self.floor = PlayoutFloor()
        """The loss floor under this viewer's playout delay (`playout_floor`)."""
        self.estimate = ViewerEstimate()
        """What this viewer can take (its REMB and reported loss), for the hub's rate."""
        self.keyframe_requests_shared = 0
        """Viewer keyframe requests answered by a keyframe it had just been sent."""
        self._last_keyframe: float | None = None
        self._queue: collections.deque[Any] = collections.deque()
        self._limit = VIDEO_QUEUE if kind == "video" else AUDIO_QUEUE
        self._ready = asyncio.Event()
        self._subscribed = False
        self._started = False
        self._need_keyframe = kind == "video"

    def bind(self, codec: VideoCodec | None) -> None:
        """Fix the negotiated video codec (None for audio); before the first `recv()`."""
        self.codec = codec

    @property
    def base_layer_only(self) -> bool:
        """Whether this viewer is sent only the base layer of its (VP8) stream."""
        if self.forced_base_layer is not None:
            return self.forced_base_layer
        if self.kind != "video" or self.codec is None:
            return False
        return self.hub.base_layer_only(self.name, self.codec, self.estimate)

    @property
    def wants_low(self) -> bool:
        """Whether this viewer is to be sent the low stream of its codec."""
        if self.kind != "video" or self.codec is None:
            return False
        return self.hub.on_low_stream(self.name, self.codec, self.estimate)

    async def recv(self) -> EncodedVideo | av.Packet:  # type: ignore[override]
        """The next video frame or audio packet for this viewer.

        Raises:
            MediaStreamError: the track was stopped (the viewer left).
        """
        if not self._started:
            self._started = True
            self._set_subscribed(not self.paused)
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        self.sent += 1
        self.last_sent = time.monotonic()
        frame = self._queue.popleft()
        if self.bridge is not None and frame.is_keyframe:
            self.bridge.budget.keyframe_sent()
        return frame

    def push(self, packet: EncodedVideo | av.Packet) -> None:
        """Queue one video frame or audio packet from the hub (on the loop); never blocks."""
        if isinstance(packet, EncodedVideo):
            if packet.low != self.low and not self._switch(packet):
                return
            if self._need_keyframe and not packet.is_keyframe:
                return
            self._need_keyframe = False
            if packet.temporal_id > 0 and self.base_layer_only:
                self.layer_skipped += 1
                return
            if len(self._queue) >= self._limit:
                self._overflow()
            if len(self._queue) >= self._limit:
                self.dropped += len(self._queue)
                self._queue.clear()
                if not packet.is_keyframe:
                    self._want_keyframe()
                    return
            if packet.is_keyframe:
                self._last_keyframe = time.monotonic()
            if self.bridge is not None and self.bridge.pacer is not None:
                self.bridge.pacer.produced(packet.size)
        elif len(self._queue) >= self._limit:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(packet)
        self._ready.set()

    def _switch(self, frame: EncodedVideo) -> bool:
        """Move to `frame`'s stream if it is a keyframe of the one this viewer is to get."""
        if not frame.is_keyframe or frame.low != self.wants_low:
            return False
        pts = frame.packet.pts
        # Both streams' frames of a picture come in one delivery: drop the other's.
        self._queue = collections.deque(f for f in self._queue if f.packet.pts != pts)
        self.low = frame.low
        self.switches["down" if frame.low else "up"] += 1
        return True

    def _overflow(self) -> None:
        """Drop the queued enhancement layer frames: no frame references them."""
        kept = [f for f in self._queue if f.temporal_id == 0]
        self.layer_dropped += len(self._queue) - len(kept)
        if len(kept) < len(self._queue):
            self._queue = collections.deque(kept)

    def set_paused(self, paused: bool) -> None:
        """Pause (stop sending to this viewer) or resume; video resumes at a keyframe."""
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.dropped += len(self._queue)
            self._queue.clear()
        if self._started:
            self._set_subscribed(not paused)

    def attach_sender(
        self,
        sender: RTCRtpSender,
        trailer: Trailer | None = None,
        send_side: SendSideBandwidth | None = None,
    ) -> SenderBridge:
        """Bend the video `sender` carrying this track (see `rtp_sender`), before it starts.

        Its frames are packetized by our `Vp8Packetizer` (or `H264Packetizer`), which
        appends `trailer`'s bytes to each frame's payload if given. With `send_side`
        (the viewer negotiated transport-cc) its packets are numbered and this track's
        estimate gets a share of the viewer's send-side estimate. Call after `bind`.
        """
        bridge = self.bridge = SenderBridge(
            sender,
            on_keyframe_request=self.remote_keyframe_request,
            on_restart=lambda: self.request_keyframe(fresh=True),
            on_remb=self.estimate.on_remb,
            on_report=self._on_loss,
            totals=self.hub.loss,
            pace=self._bitrate,
            link=lambda: self.estimate.delay_estimate,
            send_side=send_side,
            loss=lambda: self.estimate.fraction_lost,
        )
        if send_side is not None:
            send_side.add(self.estimate, self._restart)
        bridge.install()
        self.playout = playout_map(sender)
        packetizer = H264Packetizer(trailer) if self.codec == "h264" else Vp8Packetizer(trailer)
        install_packetizer(sender, packetizer)
        return bridge

    def _bitrate(self) -> int | None:
        return self.hub.bitrate(self.name, self.codec, self.low) if self.codec else None

    def _on_loss(self, lost: int, highest: int) -> None:
        sending = self._bitrate()
        if sending is not None and self.base_layer_only:
            # Its loss bound is about what it is sent: the base layer's share.
            sending = int(sending * BASE_SHARE)
        self.estimate.on_report(lost, highest, sending)
        if self.playout is not None and self.bridge is not None:
            self.playout.set_floor(self.floor.report(lost, highest, self.bridge.rtt))

    def remote_keyframe_request(self) -> None:
        """The viewer's decoder asked for a keyframe (RTCP PLI/FIR).

        A request that comes within `KEYFRAME_MIN_INTERVAL` of a keyframe queued for this
        viewer is answered by it (counted in `keyframe_requests_shared`): it was sent
        before that keyframe arrived, or the keyframe is still being repaired by NACK.
        """
        last = self._last_keyframe
        if (
            not self._need_keyframe
            and last is not None
            and time.monotonic() - last < KEYFRAME_MIN_INTERVAL
        ):
            self.keyframe_requests_shared += 1
            return
        self.request_keyframe()

    def request_keyframe(self, fresh: bool = False) -> None:
        """Ask the hub for a keyframe for this viewer's codec (`fresh`: reopened encoder)."""
        if self.kind == "video" and self.codec is not None and self._subscribed:
            self.hub.request_keyframe(self.name, self.codec, self.wants_low, fresh)

    def stop(self) -> None:
        """End the track: unsubscribe and wake a waiting `recv()`."""
        self._set_subscribed(False)
        super().stop()
        self._ready.set()

    def stats(self) -> dict[str, Any]:
        """Counters of this viewer's track."""
        stats: dict[str, Any] = {
            "sent": self.sent,
            "dropped": self.dropped,
            "queued": len(self._queue),
            "paused": self.paused,
            "codec": self.codec or ("opus" if self.kind == "audio" else None),
        }
        if self.bridge is not None:
            stats["rtp"] = self.bridge.stats()
            stats["keyframe_requests_shared"] = self.keyframe_requests_shared
            stats["rate"] = self.estimate.stats()
            stats["base_layer_only"] = self.base_layer_only
            stats["low_stream"] = self.low
            stats["stream_switches"] = dict(self.switches)
            stats["layer_skipped"] = self.layer_skipped
            stats["layer_dropped"] = self.layer_dropped
            stats["playout_floor_ms"] = self.floor.floor_ms
            stats["playout_floor_raised"] = self.floor.raised
        return stats

    def _restart(self) -> None:
        """The viewer's path collapsed: drop the queue, send nothing until a keyframe.

        The path's queue then drains; the bridge asks for the keyframe once it has.
        """
        self.dropped += len(self._queue)
        self._queue.clear()
        self._need_keyframe = True
        self.estimate.forget_loss()
        if self.bridge is not None:
            self.bridge.restart()

    def _want_keyframe(self) -> None:
        self._need_keyframe = True
        self.request_keyframe()

    def _set_subscribed(self, subscribed: bool) -> None:
        if subscribed == self._subscribed:
            return
        self._subscribed = subscribed
        if subscribed:
            self._need_keyframe = self.kind == "video"
            self.hub.subscribe(self)
        else:
            self.hub.unsubscribe(self)
