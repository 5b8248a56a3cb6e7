"""Fan-out from the session's pacer to every viewer: each frame is encoded once per codec.

The pacer hands each `PacedFrame` to `MediaHub` on the server loop. Video pictures go
to one worker thread per video track, which converts RGB to yuv420p once and encodes
it once per codec some viewer needs (VP8 and/or H.264); the finished packets come back
to the loop and are copied by reference into each subscribed viewer's bounded queue.
Audio is cut into 20 ms Opus packets on the loop itself (0.1-0.3 ms each), so it never
waits behind a video encode. A slow viewer only overflows its own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np

from .encoders import (
    OPUS_FRAME,
    OpusEncoder,
    VideoCodec,
    VideoEncoder,
    rgb_to_yuv,
    video_encoder,
)

if TYPE_CHECKING:
    from ..media.frames import PacedFrame
    from ..session import Session

log = logging.getLogger(__name__)

TIMELINE_START = 48_000
"""First hub timestamp (48 kHz ticks): Opus look-ahead shifts packets before the start."""
KEYFRAME_MIN_INTERVAL = 0.25
"""Seconds between two forced keyframes of one stream; later requests wait, none is lost."""
SILENCE_AFTER = 0.06
"""Seconds the next paced frame may be late before its audio is replaced by silence."""
SILENCE_TICK = 0.02
MAX_SILENCE = 48_000
"""Longest run of silence sent in one go (ticks); a longer gap is a timestamp jump."""


class Subscriber(Protocol):
    """A viewer's outbound track as the hub sees it."""

    name: str
    kind: str
    codec: VideoCodec | None

    def push(self, packet: av.Packet) -> None:
        """Queue one packet for the viewer; never blocks."""
        ...


class VideoPipeline:
    """One video track: latest picture in, packets per wanted codec out, on its own thread.

    When the encoder is still busy with the previous picture, a newer one replaces the
    waiting one (counted in `skipped`): the stream stays live instead of falling behind.
    """

    def __init__(
        self,
        name: str,
        fps: float,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[str, VideoCodec, list[av.Packet]], None],
    ) -> None:
        """Prepare the pipeline of track `name`; `deliver` runs on `loop`."""
        self.name = name
        self.fps = fps
        self.loop = loop
        self.deliver = deliver
        self.wanted: set[VideoCodec] = set()
        self.skipped = 0
        self.encoded = 0
        self.encode_seconds = 0.0
        self.convert_seconds = 0.0
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, int] | None = None
        self._keyframe_requests: set[VideoCodec] = set()
        self._last_forced: dict[VideoCodec, float] = {}
        self._encoders: dict[VideoCodec, VideoEncoder] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=f"encode:{name}", daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker after the picture it is encoding, if any."""
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def set_wanted(self, codecs: set[VideoCodec]) -> None:
        """Encode for exactly these codecs from the next picture on."""
        with self._cond:
            self.wanted = set(codecs)

    def submit(self, picture: np.ndarray, pts: int) -> None:
        """Hand over one `(H, W, 3)` RGB picture presented at `pts` (1/90000 s)."""
        with self._cond:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (picture, pts)
            self._cond.notify()

    def request_keyframe(self, codec: VideoCodec) -> None:
        """Make a coming picture of `codec` a keyframe (at most one per 0.25 s)."""
        with self._cond:
            self._keyframe_requests.add(codec)

    def stats(self) -> dict[str, Any]:
        """Counters and mean per-picture timings (ms)."""
        n = max(self.encoded, 1)
        encoders = list(self._encoders.items())  # the worker may change the dict meanwhile
        return {
            "encoded": self.encoded,
            "skipped": self.skipped,
            "convert_ms": round(self.convert_seconds / n * 1000, 2),
            "encode_ms": round(self.encode_seconds / n * 1000, 2),
            "codecs": sorted(self.wanted),
            "bytes": {c: e.bytes for c, e in encoders},
            "keyframes": {c: e.keyframes for c, e in encoders},
        }

    def _take(self) -> tuple[np.ndarray, int, set[VideoCodec], set[VideoCodec]] | None:
        with self._cond:
            while self._pending is None and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            assert self._pending is not None
            picture, pts = self._pending
            self._pending = None
            codecs = set(self.wanted)
            now = time.monotonic()
            forced = {
                c
                for c in self._keyframe_requests & codecs
                if now - self._last_forced.get(c, -1e9) >= KEYFRAME_MIN_INTERVAL
            }
            self._keyframe_requests -= forced
            for codec in forced:
                self._last_forced[codec] = now
        return picture, pts, codecs, forced

    def _run(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            picture, pts, codecs, forced = job
            for codec in set(self._encoders) - codecs:
                del self._encoders[codec]
            if not codecs:
                continue
            try:
                started = time.perf_counter()
                frame = rgb_to_yuv(picture)
                converted = time.perf_counter()
                for codec in sorted(codecs):
                    encoder = self._encoders.get(codec)
                    if encoder is None:
                        encoder = self._encoders[codec] = video_encoder(codec, self.fps)
                    packets = encoder.encode(frame, pts, keyframe=codec in forced)
                    if packets:
                        self.loop.call_soon_threadsafe(self.deliver, self.name, codec, packets)
                self.convert_seconds += converted - started
                self.encode_seconds += time.perf_counter() - converted
                self.encoded += 1
            except RuntimeError:
                # Loop closed under us: the server is shutting down.
                return
            except Exception:
                log.exception("video track %r: encoding a picture failed; skipped", self.name)


class AudioPipeline:
    """One audio track: paced samples in, contiguous 20 ms Opus packets out (on the loop).

    Samples are kept on the hub timeline: a paced frame that starts later than the
    audio sent so far is preceded by silence, and silence is also sent in real time
    while the pacer has nothing, so the viewer's audio clock never stops.
    """

    def __init__(
        self, name: str, channels: int, deliver: Callable[[str, list[av.Packet]], None]
    ) -> None:
        """Prepare the pipeline of track `name` with `channels` channels."""
        self.name = name
        self.channels = channels
        self.deliver = deliver
        self.active = False
        self.packets = 0
        self.silence_samples = 0
        self.trimmed_samples = 0
        self._encoder: OpusEncoder | None = None
        self._chunks: list[np.ndarray] = []
        self._held = 0
        self._start: int | None = None

    @property
    def end(self) -> int | None:
        """Hub time (ticks) just after the last sample taken in, or None before any."""
        return None if self._start is None else self._start + self._held

    def set_active(self, active: bool) -> None:
        """Start or stop producing packets; a restart begins at the next paced frame."""
        if active != self.active:
            self.active = active
            self._chunks, self._held, self._start = [], 0, None

    def push(self, samples: np.ndarray, pts: int) -> None:
        """Take `(channels, n)` int16 samples whose first one is at hub time `pts`."""
        if not self.active:
            return
        end = self.end
        if end is None:
            self._start = pts
        elif pts > end:
            self.fill_silence(pts)
        elif pts < end:
            # Real-time silence already covered the start of this slice.
            cut = min(end - pts, samples.shape[1])
            self.trimmed_samples += cut
            samples = samples[:, cut:]
        if samples.shape[1]:
            self._append(samples)

    def fill_silence(self, until: int) -> None:
        """Append silence up to hub time `until` (a long gap restarts the timeline)."""
        end = self.end
        if not self.active or end is None or until <= end:
            return
        missing = until - end
        if missing > MAX_SILENCE:
            self._chunks, self._held, self._start = [], 0, until
            return
        self.silence_samples += missing
        self._append(np.zeros((self.channels, missing), dtype=np.int16))

    def _append(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._held += samples.shape[1]
        if self._held < OPUS_FRAME:
            return
        held = np.concatenate(self._chunks, axis=1) if len(self._chunks) > 1 else self._chunks[0]
        whole = self._held - self._held % OPUS_FRAME
        if self._encoder is None:
            self._encoder = OpusEncoder(self.channels)
        assert self._start is not None
        packets: list[av.Packet] = []
        for offset in range(0, whole, OPUS_FRAME):
            packets += self._encoder.encode(held[:, offset : offset + OPUS_FRAME], self._start)
            self._start += OPUS_FRAME
        rest = held[:, whole:]
        self._chunks = [rest] if rest.shape[1] else []
        self._held = rest.shape[1]
        self.packets += len(packets)
        if packets:
            self.deliver(self.name, packets)

    def stats(self) -> dict[str, Any]:
        """Counters of this track."""
        return {
            "packets": self.packets,
            "silence_samples": self.silence_samples,
            "trimmed_samples": self.trimmed_samples,
        }


class MediaHub:
    """Fan-out from the session's pacer to every viewer's outbound tracks; one per session.

    Viewers' tracks `subscribe` by track name (and, for video, codec); the hub encodes a
    video track only for codecs someone subscribed to, and an audio track only while
    someone listens. It also records which viewer holds each input track.
    """

    def __init__(
        self, session: Session, video_codec: VideoCodec = "vp8", fps: float = 30.0
    ) -> None:
        """Serve `session`'s output tracks.

        Args:
            session: The session whose pacer feeds the hub.
            video_codec: The codec offered first to viewers ("vp8" or "h264"); VP8 stays
                available as a fallback because the official Python client offers no H.264.
            fps: The frame rate encoder rate control assumes.
        """
        if video_codec not in ("vp8", "h264"):
            raise ValueError(f"video_codec must be 'vp8' or 'h264', got {video_codec!r}")
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
        self._offset = TIMELINE_START
        self._last_pts: int | None = None
        self._end = TIMELINE_START
        self._clock: tuple[int, float] | None = None
        self.frames = 0

    # lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Attach to the session's pacer and start the encoder threads (on the server loop)."""
        if self._remove_sink is not None:
            return
        loop = asyncio.get_running_loop()
        for name in self.video_tracks:
            pipeline = VideoPipeline(name, self.fps, loop, self._deliver_video)
            pipeline.start()
            self._video[name] = pipeline
        for name, channels in self.audio_channels.items():
            self._audio[name] = AudioPipeline(name, channels, self._deliver_audio)
        self._remove_sink = self.session.add_sink(self._on_frame)
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

    # subscriptions ---------------------------------------------------------

    def subscribe(self, track: Subscriber) -> None:
        """Start feeding `track`; a video subscriber gets a keyframe promptly."""
        if track.name not in self._video and track.name not in self._audio:
            raise ValueError(f"no output track {track.name!r} in this session")
        self._subscribers.setdefault((track.name, track.codec), set()).add(track)
        self._update(track.name)
        if track.kind == "video" and track.codec is not None:
            self.request_keyframe(track.name, track.codec)

    def unsubscribe(self, track: Subscriber) -> None:
        """Stop feeding `track` (no-op if it is not subscribed)."""
        subscribers = self._subscribers.get((track.name, track.codec))
        if subscribers is not None:
            subscribers.discard(track)
            self._update(track.name)

    def request_keyframe(self, name: str, codec: VideoCodec) -> None:
        """Ask for a keyframe on video track `name` in `codec` (PLI, FIR, a viewer joining)."""
        pipeline = self._video.get(name)
        if pipeline is not None:
            pipeline.request_keyframe(codec)

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
        self.frames += 1
        video_pts = pts * 15 // 8
        for name, picture in paced.video.items():
            pipeline = self._video.get(name)
            if pipeline is not None and pipeline.wanted:
                pipeline.submit(picture, video_pts)
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

    def _deliver_video(self, name: str, codec: VideoCodec, packets: list[av.Packet]) -> None:
        for track in list(self._subscribers.get((name, codec), ())):
            for packet in packets:
                track.push(packet)

    def _deliver_audio(self, name: str, packets: list[av.Packet]) -> None:
        for track in list(self._subscribers.get((name, None), ())):
            for packet in packets:
                track.push(packet)

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
        }
