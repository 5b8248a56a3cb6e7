"""Media of a client connection: received frames, low-latency reassembly, published tracks.

Received video frames are wrapped as `VideoFrame` (RGB converted lazily, once); audio
arrives as int16 `(channels, n)` arrays at 48 kHz. `TrackReader` drains one aiortc
track into a `Fanout` whether or not anybody iterates, because aiortc's receive queue
is unbounded.

aiortc's video jitter buffer hands a frame to the decoder only when the first packet
of the *next* frame arrives (up to a frame interval late). `MarkerJitterBuffer` also
completes a frame at its RTP marker bit (the last packet of a picture), as browsers
do, so measured latency is the server's and not our receive buffer's.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from ..transport.aiortc_private import require
from ..transport.trailer_reader import TrailerReader
from .streams import Fanout

log = logging.getLogger(__name__)

AIORTC_PRIVATE = (
    "JitterBuffer._origin",
    "JitterBuffer._packets",
    "RtpPacket._data",
    "RTCRtpReceiver._handle_rtp_packet",
    "RTCRtpReceiver._RTCRtpReceiver__jitter_buffer",
)
"""The private names of aiortc this module reads or replaces (see
`transport.aiortc_private`)."""
_WHERE = "client/media.py"

AUDIO_RATE = 48_000
OPUS_FRAME = 960
VIDEO_CLOCK = 90_000


@dataclass(eq=False)
class VideoFrame:
    """One received, decoded picture.

    Attributes:
        frame: The decoded `av.VideoFrame` (normally yuv420p).
        track: The output track it belongs to.
        pts: Presentation time in seconds since the track's first frame (RTP time).
        received_at: `time.time()` when the decoded frame reached the client.
        metadata: What the model attached to this frame (`TrackPayload(...,
            metadata=)`: a dict arrives as its JSON bytes), or None.
        capture_time_us: When the runtime says the frame was made (microseconds on
            the session's media timeline), or None if it did not say.
    """

    frame: av.VideoFrame
    track: str
    pts: float
    received_at: float
    metadata: bytes | None = None
    capture_time_us: int | None = None

    @property
    def width(self) -> int:
        """Picture width in pixels."""
        return self.frame.width

    @property
    def height(self) -> int:
        """Picture height in pixels."""
        return self.frame.height

    @cached_property
    def array(self) -> np.ndarray:
        """The picture as `(H, W, 3)` uint8 RGB (converted on first access)."""
        return self.frame.to_ndarray(format="rgb24")

    @cached_property
    def luma(self) -> np.ndarray:
        """The decoded luma (Y) plane as `(H, W)` uint8, without any conversion."""
        if self.frame.format.name in ("yuv420p", "yuvj420p"):
            return self.frame.to_ndarray()[: self.frame.height]
        return self.frame.to_ndarray(format="gray")


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, completing a picture at its marker packet.

    A picture is released early only when every packet from the buffer's origin to
    the marker is present and carries the marker's timestamp; otherwise aiortc's
    own rule (a new timestamp completes the previous picture) applies.
    """

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        """Store `packet`; return `(pli_wanted, completed_frame)` like `JitterBuffer.add`."""
        pli, frame = super().add(packet)
        if frame is not None or not packet.marker or self._origin is None:
            return pli, frame
        count = uint16_add(packet.sequence_number, -self._origin) + 1
        if count > self.capacity:
            return pli, None
        packets: list[RtpPacket] = []
        for offset in range(count):
            stored = self._packets[(self._origin + offset) % self.capacity]
            if stored is None or stored.timestamp != packet.timestamp:
                return pli, None
            packets.append(stored)
        self.remove(count)
        data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
        return pli, JitterFrame(data=data, timestamp=packet.timestamp)


def tune_receiver(receiver: Any, kind: str, counters: TrackCounters) -> None:
    """Count RTP payload bytes of `receiver` and, for video, release frames at markers.

    Both reach into aiortc internals of this one receiver (`AIORTC_PRIVATE`).

    Raises:
        RuntimeError: This aiortc's receiver lacks one of them (the message names it).
    """
    require(receiver, "RTCRtpReceiver", AIORTC_PRIVATE, _WHERE)
    handle = receiver._handle_rtp_packet

    async def counted(packet: RtpPacket, arrival_time_ms: int) -> None:
        counters.packets += 1
        counters.bytes += len(packet.payload)
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = counted
    name = "_RTCRtpReceiver__jitter_buffer"
    if kind == "video" and isinstance(getattr(receiver, name), JitterBuffer):
        setattr(receiver, name, MarkerJitterBuffer(capacity=512, is_video=True))


@dataclass
class TrackCounters:
    """What one received track delivered so far."""

    frames: int = 0
    packets: int = 0
    bytes: int = 0
    first_at: float | None = None
    last_at: float | None = None
    width: int | None = None
    height: int | None = None
    max_abs_sample: int = 0
    samples: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (`bytes` are RTP payload bytes)."""
        out = {
            "frames": self.frames,
            "packets": self.packets,
            "bytes": self.bytes,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }
        if self.width is not None:
            out.update(width=self.width, height=self.height)
        if self.samples:
            out.update(samples=self.samples, max_abs_sample=self.max_abs_sample)
        return out


class TrackReader:
    """Drain one received track into a `Fanout` of `VideoFrame`s or audio arrays."""

    def __init__(
        self,
        name: str,
        track: MediaStreamTrack,
        counters: TrackCounters,
        trailers: TrailerReader | None = None,
    ) -> None:
        """Read `track` (output track `name`), counting into `counters`.

        `trailers` gives each video frame the metadata its trailer carried.
        """
        self.name = name
        self.trailers = trailers
        self.track = track
        self.kind = track.kind
        self.counters = counters
        self.fanout: Fanout[Any] = Fanout(limit=60 if track.kind == "video" else 500)
        self._resampler: av.AudioResampler | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading on the running loop."""
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"client-read:{self.name}"
        )

    async def stop(self) -> None:
        """Stop reading and end every subscription."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.fanout.close()

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                now = time.time()
                counters = self.counters
                counters.frames += 1
                counters.first_at = counters.first_at or now
                counters.last_at = now
                if isinstance(frame, av.VideoFrame):
                    counters.width, counters.height = frame.width, frame.height
                    pts = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
                    meta = self.trailers.take(frame.pts) if self.trailers else None
                    self.fanout.publish(
                        VideoFrame(
                            frame,
                            self.name,
                            pts,
                            now,
                            meta.user_data if meta else None,
                            meta.capture_time_us if meta else None,
                        )
                    )
                else:
                    samples = self._samples(frame)
                    counters.samples += samples.shape[1]
                    if samples.size:
                        peak = int(np.abs(samples.astype(np.int32)).max())
                        counters.max_abs_sample = max(counters.max_abs_sample, peak)
                    self.fanout.publish(samples)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading track %r failed", self.name)
        finally:
            self.fanout.close()

    def _samples(self, frame: av.AudioFrame) -> np.ndarray:
        if frame.sample_rate != AUDIO_RATE or frame.format.name != "s16":
            if self._resampler is None:
                self._resampler = av.AudioResampler(
                    format="s16", layout=frame.layout.name, rate=AUDIO_RATE
                )
            parts = [f.to_ndarray() for f in self._resampler.resample(frame)]
            flat = np.concatenate(parts, axis=1) if parts else np.zeros((1, 0), np.int16)
        else:
            flat = frame.to_ndarray()
        channels = len(frame.layout.channels)
        # Packed s16 comes as one interleaved row: (1, n * channels) -> (channels, n).
        return np.ascontiguousarray(flat.reshape(-1, channels).T)


class FeedTrack(MediaStreamTrack):
    """A track this client sends (webcam or mic), fed from an async iterator.

    Until `feed()` is given an iterator, nothing is sent. The iterator sets the pace:
    each yielded picture is sent when it is yielded (timestamped by wall clock);
    audio is re-cut into 20 ms frames timestamped by sample count.
    """

    def __init__(self, name: str, kind: str) -> None:
        """A silent track for input `name` of `kind` "video" or "audio"."""
        super().__init__()
        self.kind = kind
        self.name = name
        self.sent = 0
        self._queue: asyncio.Queue[av.VideoFrame | av.AudioFrame] = asyncio.Queue(maxsize=4)
        self._pump: asyncio.Task[None] | None = None
        self._started: float | None = None
        self._samples_sent = 0
        self._pending = np.zeros((1, 0), np.int16)

    def feed(self, frames: AsyncIterator[np.ndarray] | None) -> None:
        """Send the items of `frames` from now on (None: stop sending)."""
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None
        if frames is not None:
            self._pump = asyncio.get_running_loop().create_task(
                self._run(frames), name=f"client-feed:{self.name}"
            )

    async def recv(self) -> av.VideoFrame | av.AudioFrame:  # type: ignore[override]
        """The next frame to send (waits until the iterator yields one)."""
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if self.readyState != "live":
            raise MediaStreamError
        self.sent += 1
        return frame

    def stop(self) -> None:
        """Stop sending and end the track."""
        self.feed(None)
        super().stop()

    async def _run(self, frames: AsyncIterator[np.ndarray]) -> None:
        try:
            async for item in frames:
                for frame in self._frames(np.asarray(item)):
                    await self._queue.put(frame)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("publishing %r: the frame iterator failed", self.name)

    def _frames(self, item: np.ndarray) -> list[av.VideoFrame | av.AudioFrame]:
        if self.kind == "video":
            if item.dtype != np.uint8 or item.ndim != 3 or item.shape[2] != 3:
                raise ValueError(
                    f"publish {self.name!r}: expected (H, W, 3) uint8 RGB, "
                    f"got {item.shape} {item.dtype}"
                )
            now = time.monotonic()
            self._started = self._started if self._started is not None else now
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(item), format="rgb24")
            frame.pts = round((now - self._started) * VIDEO_CLOCK)
            frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
            return [frame]
        return self._audio_frames(item)

    def _audio_frames(self, item: np.ndarray) -> list[av.VideoFrame | av.AudioFrame]:
        if item.dtype != np.int16 or item.ndim != 2 or item.shape[0] not in (1, 2):
            raise ValueError(
                f"publish {self.name!r}: expected (channels, n) int16 at 48 kHz, "
                f"got {item.shape} {item.dtype}"
            )
        if self._pending.shape[0] != item.shape[0]:
            self._pending = np.zeros((item.shape[0], 0), np.int16)
        held = np.concatenate([self._pending, item], axis=1)
        whole = held.shape[1] - held.shape[1] % OPUS_FRAME
        out: list[av.VideoFrame | av.AudioFrame] = []
        layout = "mono" if held.shape[0] == 1 else "stereo"
        for start in range(0, whole, OPUS_FRAME):
            chunk = held[:, start : start + OPUS_FRAME]
            interleaved = np.ascontiguousarray(chunk.T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
            frame.sample_rate = AUDIO_RATE
            frame.pts = self._samples_sent
            frame.time_base = fractions.Fraction(1, AUDIO_RATE)
            self._samples_sent += OPUS_FRAME
            out.append(frame)
        self._pending = held[:, whole:]
        return out
