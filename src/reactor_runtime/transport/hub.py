"""Fan-out from the session's pacer to every viewer: each frame is encoded once per codec.

The pacer hands each `PacedFrame` to `MediaHub` on the server loop. Video pictures go
to one worker thread per video track, which converts RGB to yuv420p once and encodes
it once per codec some viewer needs (VP8 and/or H.264); the finished packets come back
to the loop as `EncodedVideo` frames and are copied by reference into each subscribed
viewer's bounded queue. A viewer far slower than the others (`stream_policy`) is
moved to the track's low stream (a second, smaller encode, `low_stream`), or, with
that turned off, given only the base layer of a layered VP8 stream
(`base_layer_only`); every frame goes to all the codec's tracks, each taking the
frames of its stream.
Audio is cut into 20 ms Opus packets on the loop itself (0.1-0.3 ms each), so it never
waits behind a video encode, and each packet leaves when the last sample it carries is
presented: the model emits ahead (batches, a buffer), and packets sent in bursts on the
frame ticks make a browser's jitter buffer hold ~20 ms more audio, which lip-sync then
adds to video too. A slow viewer only overflows its own queue.

Each encoded stream (a track in one codec) works at the rate of its slowest viewer
(`rate_control.StreamRate` over each viewer's `ViewerEstimate`, fed by its sender's
REMB and loss reports through `rtp_sender.SenderBridge`), changed in place without a
keyframe, within `min_bitrate`/`max_bitrate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import av

from .audio_pipeline import AudioPipeline
from .encoded import EncodedVideo
from .encoders import VideoCodec, check_bitrates
from .frame_metadata import FrameMetadataCounters
from .opus import OPUS_FRAME
from .pipelines import VideoPipeline
from .rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE, ViewerEstimate
from .rtcp_sync import MediaClock
from .rtp_sender import LossCounters
from .vp8_encoder import TEMPORAL_LAYERS

if TYPE_CHECKING:
    from ..media.frames import PacedFrame
    from ..session import Session

log = logging.getLogger(__name__)

TIMELINE_START = 48_000
"""First hub timestamp (48 kHz ticks): Opus look-ahead shifts packets before the start."""
SILENCE_AFTER = 0.06
"""Seconds the next paced frame may be late before its audio is replaced by silence."""
SILENCE_TICK = 0.02


class Subscriber(Protocol):
    """A viewer's outbound track as the hub sees it."""

    name: str
    kind: str
    codec: VideoCodec | None
    estimate: ViewerEstimate

    def push(self, packet: EncodedVideo | av.Packet) -> None:
        """Queue one video frame or audio packet for the viewer; never blocks."""
        ...


class MediaHub:
    """Fan-out from the session's pacer to every viewer's outbound tracks; one per session.

    Viewers' tracks `subscribe` by track name (and, for video, codec); the hub encodes a
    video track only for codecs someone subscribed to, and an audio track only while
    someone listens. It also records which viewer holds each input track.
    """

    def __init__(
        self,
        session: Session,
        video_codec: VideoCodec = "vp8",
        fps: float = 30.0,
        min_bitrate: int = DEFAULT_MIN_BITRATE,
        max_bitrate: int = DEFAULT_MAX_BITRATE,
        temporal_layers: int = TEMPORAL_LAYERS,
        low_stream: bool = True,
    ) -> None:
        """Serve `session`'s output tracks.

        Args:
            session: The session whose pacer feeds the hub.
            video_codec: The codec offered first to viewers ("vp8" or "h264"); VP8 stays
                available as a fallback because the official Python client offers no H.264.
            fps: The frame rate encoder rate control assumes.
            min_bitrate: The lowest rate (bit/s) viewers' estimates may push a video
                stream to (`--min-bitrate`).
            max_bitrate: The highest rate (bit/s) of any video stream (`--max-bitrate`).
            temporal_layers: VP8 temporal layers: 2 lets far slower viewers get the base
                layer only when the low stream is off, 1 turns layering off.
            low_stream: Whether far slower viewers get a second, smaller encode
                (`low_stream`; `--no-low-stream` turns it off).

        Raises:
            ValueError: a bad codec, bit rate range or layer count (the message names
                the argument).
        """
        if video_codec not in ("vp8", "h264"):
            raise ValueError(f"video_codec must be 'vp8' or 'h264', got {video_codec!r}")
        check_bitrates(min_bitrate, max_bitrate)
        if temporal_layers not in (1, 2):
            raise ValueError(f"temporal_layers: expected 1 or 2, got {temporal_layers}")
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.temporal_layers = temporal_layers
        self.low_stream = low_stream
        self.loss = LossCounters()
        """NACKs, retransmissions, keyframe requests and REMBs of every viewer's sender."""
        self.frame_metadata = FrameMetadataCounters()
        """Per-frame metadata sent to and read from every viewer (`frame_metadata`)."""
        self.session = session
        self.video_codec: VideoCodec = video_codec
        self.fps = fps
        self.video_tracks = [t.name for t in session.output_tracks if t.kind == "video"]
        self.audio_channels: dict[str, int] = {
            t.name: t.type.channels  # type: ignore[attr-defined]
            for t in session.output_tracks
            if t.kind == "audio"
        }
        self._video: dict[str, VideoPipeline] = {}
        self._audio: dict[str, AudioPipeline] = {}
        self._subscribers: dict[tuple[str, VideoCodec | None], set[Subscriber]] = {}
        self._input_owners: dict[str, str] = {}
        self._remove_sink: Callable[[], None] | None = None
        self._silence_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._audio_due: dict[str, deque[tuple[float, av.Packet]]] = {}
        self._audio_timers: dict[str, asyncio.TimerHandle] = {}
        self._offset = TIMELINE_START
        self._last_pts: int | None = None
        self._end = TIMELINE_START
        self._clock: tuple[int, float] | None = None
        self.media_clock = MediaClock()
        """Hub timeline to wall clock, for every viewer's RTCP sender reports."""
        self.frames = 0

    # lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Attach to the session's pacer and start the encoder threads (on the server loop)."""
        if self._remove_sink is not None:
            return
        loop = self._loop = asyncio.get_running_loop()
        for name in self.video_tracks:
            pipeline = VideoPipeline(
                name,
                self.fps,
                loop,
                self._deliver_video,
                self.min_bitrate,
                self.max_bitrate,
                self.temporal_layers,
                self.low_stream,
            )
            pipeline.start()
            self._video[name] = pipeline
        for name, channels in self.audio_channels.items():
            self._audio[name] = AudioPipeline(name, channels, self._deliver_audio)
            self._audio_due[name] = deque()
        self._remove_sink = self.session.add_sink(self._on_frame)
        if self._audio:
            self._silence_task = loop.create_task(self._silence_loop(), name="hub-silence")

    def stop(self) -> None:
        """Detach from the pacer and stop the encoder threads."""
        if self._remove_sink is not None:
            with contextlib.suppress(ValueError):
                self._remove_sink()
            self._remove_sink = None
        if self._silence_task is not None:
            self._silence_task.cancel()
            self._silence_task = None
        for pipeline in self._video.values():
            pipeline.stop()
        self._video.clear()
        for timer in self._audio_timers.values():
            timer.cancel()
        self._audio_timers.clear()

    # subscriptions ---------------------------------------------------------

    def subscribe(self, track: Subscriber) -> None:
        """Start feeding `track`; a video subscriber gets a keyframe promptly."""
        if track.name not in self._video and track.name not in self._audio:
            raise ValueError(f"no output track {track.name!r} in this session")
        self._subscribers.setdefault((track.name, track.codec), set()).add(track)
        if track.codec is not None and track.name in self._video:
            self._video[track.name].rate(track.codec).add(track.estimate)
        self._update(track.name)
        if track.kind == "video" and track.codec is not None:
            self.request_keyframe(track.name, track.codec)

    def unsubscribe(self, track: Subscriber) -> None:
        """Stop feeding `track` (no-op if it is not subscribed)."""
        subscribers = self._subscribers.get((track.name, track.codec))
        if subscribers is not None:
            subscribers.discard(track)
            if track.codec is not None and track.name in self._video:
                self._video[track.name].rate(track.codec).discard(track.estimate)
            self._update(track.name)

    def bitrate(self, name: str, codec: VideoCodec, low: bool = False) -> int | None:
        """The rate (bit/s) video track `name` is encoded at in `codec`, if it is.

        `low`: the rate of its low stream instead of its main one.
        """
        pipeline = self._video.get(name)
        return None if pipeline is None else pipeline.bitrate(codec, low)

    def base_layer_only(self, name: str, codec: VideoCodec, viewer: ViewerEstimate) -> bool:
        """Whether the viewer with estimate `viewer` gets only the base layer of `name`."""
        pipeline = self._video.get(name)
        return pipeline is not None and pipeline.base_layer_only(codec, viewer)

    def on_low_stream(self, name: str, codec: VideoCodec, viewer: ViewerEstimate) -> bool:
        """Whether the viewer with estimate `viewer` is to get the low stream of `name`."""
        pipeline = self._video.get(name)
        return pipeline is not None and pipeline.on_low_stream(codec, viewer)

    def request_keyframe(
        self, name: str, codec: VideoCodec, low: bool = False, fresh: bool = False
    ) -> None:
        """Ask for a keyframe on video track `name` in `codec` (PLI, FIR, a viewer joining).

        `low`: on its low stream instead of its main one. `fresh`: from a reopened
        encoder (a viewer's path collapsed: `VideoPipeline.request_keyframe`).
        """
        pipeline = self._video.get(name)
        if pipeline is not None:
            pipeline.request_keyframe(codec, low, fresh)

    def _update(self, name: str) -> None:
        if name in self._video:
            wanted = {c for (n, c), subs in self._subscribers.items() if n == name and subs and c}
            self._video[name].set_wanted(wanted)  # type: ignore[arg-type]
        elif name in self._audio:
            self._audio[name].set_active(bool(self._subscribers.get((name, None))))

    # input tracks ----------------------------------------------------------

    def claim_input(self, name: str, viewer_id: str) -> bool:
        """Let `viewer_id` feed input track `name` unless another viewer holds it."""
        owner = self._input_owners.setdefault(name, viewer_id)
        return owner == viewer_id

    def release_input(self, name: str, viewer_id: str) -> bool:
        """Free input track `name` if `viewer_id` holds it; True if it did."""
        if self._input_owners.get(name) == viewer_id:
            del self._input_owners[name]
            return True
        return False

    def input_owner(self, name: str) -> str | None:
        """The viewer feeding input track `name`, if any."""
        return self._input_owners.get(name)

    # media path ------------------------------------------------------------

    def _on_frame(self, paced: PacedFrame) -> None:
        if self._last_pts is not None and paced.pts < self._last_pts:
            # The pacer restarted its timeline (the last viewer left): carry on from ours.
            self._offset = self._end - paced.pts
        self._last_pts = paced.pts
        pts = paced.pts + self._offset
        self._end = pts + paced.duration
        self._clock = (pts, paced.released_at or time.monotonic())
        origin = self.session.pacer.origin
        if origin is not None:
            # The schedule, not the release instant: sleep jitter must not bend the line.
            self.media_clock.anchor(pts, origin + paced.pts / 48_000)
        self.frames += 1
        video_pts = pts * 15 // 8
        for name, picture in paced.video.items():
            pipeline = self._video.get(name)
            if pipeline is not None and pipeline.wanted:
                pipeline.submit(picture, video_pts, paced.metadata.get(name))
        for name, samples in paced.audio.items():
            audio = self._audio.get(name)
            if audio is not None:
                audio.push(samples, pts)

    async def _silence_loop(self) -> None:
        while True:
            await asyncio.sleep(SILENCE_TICK)
            if self._clock is None:
                continue
            pts, at = self._clock
            late_until = pts + round((time.monotonic() - at - SILENCE_AFTER) * 48_000)
            for audio in self._audio.values():
                end = audio.end
                if end is not None and late_until > end:
                    audio.fill_silence(late_until)

    def _deliver_video(self, name: str, codec: VideoCodec, frames: list[EncodedVideo]) -> None:
        for track in list(self._subscribers.get((name, codec), ())):
            for frame in frames:
                track.push(frame)

    def _deliver_audio(self, name: str, packets: list[av.Packet]) -> None:
        due = self._audio_due[name]
        for packet in packets:
            # A packet's pts labels the first sample it decodes to (look-ahead removed).
            end = self.media_clock.monotonic(packet.pts + OPUS_FRAME)
            due.append((end if end is not None else 0.0, packet))
        self._release_audio(name)

    def _release_audio(self, name: str) -> None:
        """Send the packets of `name` whose audio has been presented; time the next one."""
        timer = self._audio_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        due = self._audio_due[name]
        now = time.monotonic()
        while due and due[0][0] <= now:
            packet = due.popleft()[1]
            for track in list(self._subscribers.get((name, None), ())):
                track.push(packet)
        if due and self._loop is not None:
            self._audio_timers[name] = self._loop.call_later(
                due[0][0] - now, self._release_audio, name
            )

    def stats(self) -> dict[str, Any]:
        """Per-track encoder counters and subscriber counts."""
        return {
            "frames": self.frames,
            "video": {n: p.stats() for n, p in self._video.items()},
            "audio": {n: a.stats() for n, a in self._audio.items()},
            "subscribers": {
                f"{n}/{c}" if c else n: len(s) for (n, c), s in self._subscribers.items()
            },
            "inputs": dict(self._input_owners),
            "loss": self.loss.as_dict(),
            "frame_metadata": self.frame_metadata.as_dict(),
        }
