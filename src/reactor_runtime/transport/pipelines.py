"""The per-track halves of the hub: a video encoder thread and an Opus packetizer.

`VideoPipeline` turns pictures into `EncodedVideo` frames (the packet and its VP8
temporal layer) once per wanted codec on its own thread;
`AudioPipeline` turns paced samples into contiguous 20 ms Opus packets on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import numpy as np

from .encoded import EncodedVideo
from .encoders import VIDEO_CODECS, VideoCodec, VideoEncoder, check_bitrates, rgb_to_yuv
from .h264_encoder import H264Encoder
from .ladder import Ladder, scaled_size
from .layer_policy import LayerPolicy
from .opus import OPUS_FRAME, OpusEncoder
from .rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE, StreamRate
from .vp8_encoder import TEMPORAL_LAYERS, Vp8Encoder

log = logging.getLogger(__name__)

KEYFRAME_MIN_INTERVAL = 0.25
"""Seconds between two forced keyframes of one stream; later requests wait, none is lost.
Also the window in which a viewer's PLI is answered by a keyframe it was just sent
(`OutboundTrack.remote_keyframe_request`): ~one round trip plus a frame, so one keyframe
serves every viewer that asked for it, and a PLI storm on a congested link does not
become a keyframe storm."""
MAX_SILENCE = 48_000
"""Longest run of silence sent in one go (ticks); a longer gap is a timestamp jump."""


def video_encoder(
    codec: VideoCodec,
    fps: float = 30.0,
    min_bitrate: int = DEFAULT_MIN_BITRATE,
    max_bitrate: int = DEFAULT_MAX_BITRATE,
    temporal_layers: int = TEMPORAL_LAYERS,
) -> VideoEncoder:
    """A fresh encoder for `codec` ("vp8" or "h264") working within the given rates.

    `temporal_layers` (1 or 2) applies to VP8; H.264 is always one layer.
    """
    if codec == "vp8":
        return Vp8Encoder(fps, min_bitrate, max_bitrate, temporal_layers=temporal_layers)
    if codec == "h264":
        return H264Encoder(fps, min_bitrate, max_bitrate)
    raise ValueError(f"unknown video codec {codec!r}; expected one of {VIDEO_CODECS}")


class VideoPipeline:
    """One video track: latest picture in, packets per wanted codec out, on its own thread.

    When the encoder is still busy with the previous picture, a newer one replaces the
    waiting one (counted in `skipped`): the stream stays live instead of falling behind.
    Before each picture, each codec's encoder takes the rate its `StreamRate` decides,
    and the picture is scaled to the step of that codec's `Ladder` for that rate.
    """

    def __init__(
        self,
        name: str,
        fps: float,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[str, VideoCodec, list[EncodedVideo]], None],
        min_bitrate: int = DEFAULT_MIN_BITRATE,
        max_bitrate: int = DEFAULT_MAX_BITRATE,
        temporal_layers: int = TEMPORAL_LAYERS,
    ) -> None:
        """Prepare the pipeline of track `name`; `deliver` runs on `loop`.

        `temporal_layers` (1 or 2) is the VP8 encoder's (`vp8_encoder.TEMPORAL_LAYERS`).

        Raises:
            ValueError: the bit rate range is empty (the message names the bounds).
        """
        check_bitrates(min_bitrate, max_bitrate)
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.temporal_layers = temporal_layers
        self.rates: dict[VideoCodec, StreamRate] = {}
        """Each codec's rate decision (the hub adds its viewers' estimates to it)."""
        self.ladders: dict[VideoCodec, Ladder] = {}
        """Each codec's resolution ladder step."""
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
        self._pending: tuple[np.ndarray, int, bytes | None] | None = None
        self._keyframe_requests: set[VideoCodec] = set()
        self._last_forced: dict[VideoCodec, float] = {}
        self.keyframe_requests: dict[VideoCodec, int] = {}
        """Keyframe requests received per codec (viewers joining, PLI/FIR, overflows)."""
        self.keyframes_forced: dict[VideoCodec, int] = {}
        """Keyframes produced for those requests; pending requests share one."""
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

    def submit(self, picture: np.ndarray, pts: int, metadata: bytes | None = None) -> None:
        """Hand over one `(H, W, 3)` RGB picture presented at `pts` (1/90000 s).

        `metadata`, the model's for this picture, goes with its `EncodedVideo`s.
        """
        with self._cond:
            if self._pending is not None:
                self.skipped += 1
            self._pending = (picture, pts, metadata)
            self._cond.notify()

    def request_keyframe(self, codec: VideoCodec) -> None:
        """Make a coming picture of `codec` a keyframe (at most one per 0.25 s)."""
        with self._cond:
            self.keyframe_requests[codec] = self.keyframe_requests.get(codec, 0) + 1
            self._keyframe_requests.add(codec)

    def rate(self, codec: VideoCodec) -> StreamRate:
        """The rate decision of `codec`'s stream (made on first use).

        A layered VP8 stream's decision sends far slower viewers the base layer only
        (`layer_policy`).
        """
        rate = self.rates.get(codec)
        if rate is None:
            layered = codec == "vp8" and self.temporal_layers > 1
            rate = self.rates[codec] = StreamRate(layers=LayerPolicy() if layered else None)
        return rate

    def base_layer_only(self, codec: VideoCodec, viewer: object) -> bool:
        """Whether the viewer with estimate `viewer` gets only `codec`'s base layer."""
        rate = self.rates.get(codec)
        return rate is not None and rate.layers is not None and rate.layers.is_base_only(viewer)

    def bitrate(self, codec: VideoCodec) -> int | None:
        """The rate `codec`'s encoder works to (bit/s), None before it opened."""
        encoder = self._encoders.get(codec)
        return None if encoder is None else encoder.bitrate

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
            "keyframe_requests": dict(self.keyframe_requests),
            "keyframes_forced": dict(self.keyframes_forced),
            "bitrate": {c: e.bitrate for c, e in encoders},
            "rate_changes": {c: e.rate_changes for c, e in encoders},
            "rate": {c: r.stats() for c, r in list(self.rates.items())},
            "layers": {c: r.layers.stats() for c, r in list(self.rates.items()) if r.layers},
            "ladder_steps": {c: ladder.steps for c, ladder in list(self.ladders.items())},
            "scale": {c: ladder.scale for c, ladder in list(self.ladders.items())},
        }

    def _take(
        self,
    ) -> tuple[np.ndarray, int, bytes | None, set[VideoCodec], set[VideoCodec]] | None:
        with self._cond:
            while self._pending is None and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            assert self._pending is not None
            picture, pts, metadata = self._pending
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
                self.keyframes_forced[codec] = self.keyframes_forced.get(codec, 0) + 1
        return picture, pts, metadata, codecs, forced

    def _run(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            picture, pts, metadata, codecs, forced = job
            for codec in set(self._encoders) - codecs:
                del self._encoders[codec]
                self.ladders.pop(codec, None)
            if not codecs:
                continue
            try:
                started = time.perf_counter()
                frame = rgb_to_yuv(picture)
                converted = time.perf_counter()
                sized = {(frame.width, frame.height): frame}
                for codec in sorted(codecs):
                    encoder = self._encoders.get(codec)
                    if encoder is None:
                        encoder = self._encoders[codec] = video_encoder(
                            codec,
                            self.fps,
                            self.min_bitrate,
                            self.max_bitrate,
                            self.temporal_layers,
                        )
                    self._follow_rate(codec, encoder)
                    size = self._ladder_size(codec, encoder, frame.width, frame.height)
                    if size not in sized:
                        sized[size] = frame.reformat(width=size[0], height=size[1])
                    packets = encoder.encode(sized[size], pts, keyframe=codec in forced)
                    if packets:
                        frames = [EncodedVideo(p, encoder.temporal_id, metadata) for p in packets]
                        self.loop.call_soon_threadsafe(self.deliver, self.name, codec, frames)
                self.convert_seconds += converted - started
                self.encode_seconds += time.perf_counter() - converted
                self.encoded += 1
            except RuntimeError:
                # Loop closed under us: the server is shutting down.
                return
            except Exception:
                log.exception("video track %r: encoding a picture failed; skipped", self.name)

    def _ladder_size(
        self, codec: VideoCodec, encoder: VideoEncoder, width: int, height: int
    ) -> tuple[int, int]:
        if encoder.bitrate is None:
            return width, height
        ladder = self.ladders.get(codec)
        if ladder is None:
            ladder = self.ladders[codec] = Ladder()
        return scaled_size(width, height, ladder.update(encoder.bitrate, width, height))

    def _follow_rate(self, codec: VideoCodec, encoder: VideoEncoder) -> None:
        rate = self.rates.get(codec)
        context = encoder.context
        if rate is None or context is None or encoder.bitrate is None:
            return
        low, high = encoder.bounds(context.width, context.height)
        wanted = rate.decide(encoder.bitrate, low, high)
        if wanted is not None:
            encoder.set_bitrate(wanted)


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
            self._restart(None)

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
            self._restart(until)
            return
        self.silence_samples += missing
        self._append(np.zeros((self.channels, missing), dtype=np.int16))

    def _restart(self, start: int | None) -> None:
        # A fresh encoder too: Opus predicts from the previous stream, and its state
        # from before the gap decodes as a full-scale click on the new stream.
        self._chunks, self._held, self._start = [], 0, start
        self._encoder = None

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
