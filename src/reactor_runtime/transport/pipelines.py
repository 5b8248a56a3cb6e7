"""The video half of the hub's per-track work: one encoder thread per video track.

`VideoPipeline` turns pictures into `EncodedVideo` frames (the packet, its VP8
temporal layer and its stream) once per wanted codec on its own thread, and once more
per codec with viewers far below the others (its `low_stream`). The audio half is
`audio_pipeline`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .encoded import EncodedVideo
from .encoders import VIDEO_CODECS, VideoCodec, VideoEncoder, check_bitrates, rgb_to_yuv
from .h264_encoder import H264Encoder
from .ladder import Ladder, scaled_size
from .low_stream import LowStreams
from .rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE, StreamRate
from .stream_policy import StreamPolicy
from .vp8_encoder import TEMPORAL_LAYERS, Vp8Encoder

log = logging.getLogger(__name__)

KEYFRAME_MIN_INTERVAL = 0.25
"""Seconds between two forced keyframes of one stream; later requests wait, none is lost.
Also the window in which a viewer's PLI is answered by a keyframe it was just sent
(`OutboundTrack.remote_keyframe_request`): ~one round trip plus a frame, so one keyframe
serves every viewer that asked for it, and a PLI storm on a congested link does not
become a keyframe storm."""


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


_Job = tuple[
    np.ndarray, int, bytes | None, set[VideoCodec], set[tuple[VideoCodec, bool]], set[VideoCodec]
]
"""A picture to encode: (picture, pts, metadata, codecs, forced streams, fresh codecs)."""


class VideoPipeline:
    """One video track: latest picture in, packets per wanted codec out, on its own thread.

    When the encoder is still busy with the previous picture, a newer one replaces the
    waiting one (counted in `skipped`): the stream stays live instead of falling behind.
    Before each picture, each codec's encoder takes the rate its `StreamRate` decides,
    and the picture is scaled to the step of that codec's `Ladder` for that rate.
    A codec with viewers down (`stream_policy`) is also encoded on its low stream
    (`low_stream`), and both streams' frames of one picture are delivered together,
    so a viewer switching streams at a keyframe never gets two frames of one picture.
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
        low_stream: bool = True,
    ) -> None:
        """Prepare the pipeline of track `name`; `deliver` runs on `loop`.

        `temporal_layers` (1 or 2) is the VP8 encoder's (`vp8_encoder.TEMPORAL_LAYERS`).
        `low_stream` False sends far slower viewers of a layered VP8 stream its base
        layer only instead of a low stream (and H.264 ones the one stream).

        Raises:
            ValueError: the bit rate range is empty (the message names the bounds).
        """
        check_bitrates(min_bitrate, max_bitrate)
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.temporal_layers = temporal_layers
        self.low_stream = low_stream
        self.low = LowStreams(self._make_encoder)
        """Each codec's low stream, while viewers are down to it."""
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
        self._keyframe_requests: set[tuple[VideoCodec, bool]] = set()
        self._fresh: set[VideoCodec] = set()
        self._last_forced: dict[tuple[VideoCodec, bool], float] = {}
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

    def request_keyframe(self, codec: VideoCodec, low: bool = False, fresh: bool = False) -> None:
        """Make a coming picture of `codec`'s main (or `low`) stream a keyframe.

        At most one per stream per `KEYFRAME_MIN_INTERVAL`. `fresh`: the main stream's
        encoder is reopened for it (`VideoEncoder.reopen`).
        """
        with self._cond:
            if fresh and not low:
                self._fresh.add(codec)
            if not low:
                self.keyframe_requests[codec] = self.keyframe_requests.get(codec, 0) + 1
            self._keyframe_requests.add((codec, low))

    def rate(self, codec: VideoCodec) -> StreamRate:
        """The rate decision of `codec`'s stream (made on first use).

        Its `StreamPolicy` sends far slower viewers down: to the low stream, or with
        that turned off, to the base layer of a layered VP8 stream.
        """
        rate = self.rates.get(codec)
        if rate is None:
            layered = codec == "vp8" and self.temporal_layers > 1
            policy = StreamPolicy(self.low_stream) if self.low_stream or layered else None
            rate = self.rates[codec] = StreamRate(layers=policy)
        return rate

    def base_layer_only(self, codec: VideoCodec, viewer: object) -> bool:
        """Whether the viewer with estimate `viewer` gets only `codec`'s base layer."""
        rate = self.rates.get(codec)
        return rate is not None and rate.layers is not None and rate.layers.is_base_only(viewer)

    def on_low_stream(self, codec: VideoCodec, viewer: object) -> bool:
        """Whether the viewer with estimate `viewer` is to get `codec`'s low stream."""
        rate = self.rates.get(codec)
        return rate is not None and rate.layers is not None and rate.layers.on_low_stream(viewer)

    def bitrate(self, codec: VideoCodec, low: bool = False) -> int | None:
        """The rate `codec`'s main (or `low`) encoder works to (bit/s), None if not open."""
        if low:
            stream = self.low.streams.get(codec)
            return None if stream is None else stream.encoder.bitrate
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
            **self.low.stats(),
        }

    def _take(
        self,
    ) -> _Job | None:
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
                s
                for s in self._keyframe_requests
                if s[0] in codecs and now - self._last_forced.get(s, -1e9) >= KEYFRAME_MIN_INTERVAL
            }
            self._keyframe_requests -= forced
            fresh = {c for c in self._fresh if (c, False) in forced}
            self._fresh -= fresh
            for stream in forced:
                self._last_forced[stream] = now
                codec, low = stream
                if not low:
                    self.keyframes_forced[codec] = self.keyframes_forced.get(codec, 0) + 1
        return picture, pts, metadata, codecs, forced, fresh

    def _run(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            picture, pts, metadata, codecs, forced, fresh = job
            for codec in set(self._encoders) - codecs:
                del self._encoders[codec]
                self.ladders.pop(codec, None)
                self.low.drop(codec)
            if not codecs:
                continue
            try:
                started = time.perf_counter()
                frame = rgb_to_yuv(picture)
                converted = time.perf_counter()
                low_before = self.low.encode_seconds
                sized = {(frame.width, frame.height): frame}
                for codec in sorted(codecs):
                    encoder = self._encoders.get(codec)
                    if encoder is None:
                        encoder = self._encoders[codec] = self._make_encoder(codec)
                    self._follow_rate(codec, encoder)
                    if codec in fresh:
                        encoder.reopen()
                    size = self._ladder_size(
                        codec, encoder, frame.width, frame.height, (codec, False) in forced
                    )
                    if size not in sized:
                        sized[size] = frame.reformat(width=size[0], height=size[1])
                    packets = encoder.encode(sized[size], pts, keyframe=(codec, False) in forced)
                    frames = [EncodedVideo(p, encoder.temporal_id, metadata) for p in packets]
                    if codec in self.low.streams:
                        if any(f.is_keyframe for f in frames):
                            self.low.main_keyframe(codec)
                        key = (codec, True) in forced
                        frames += self.low.encode(codec, frame, sized, pts, key, metadata)
                    if frames:
                        self.loop.call_soon_threadsafe(self.deliver, self.name, codec, frames)
                self.convert_seconds += converted - started
                low_seconds = self.low.encode_seconds - low_before
                self.encode_seconds += time.perf_counter() - converted - low_seconds
                self.encoded += 1
            except RuntimeError:
                # Loop closed under us: the server is shutting down.
                return
            except Exception:
                log.exception("video track %r: encoding a picture failed; skipped", self.name)

    def _ladder_size(
        self, codec: VideoCodec, encoder: VideoEncoder, width: int, height: int, keyframe: bool
    ) -> tuple[int, int]:
        if encoder.bitrate is None:
            return width, height
        ladder = self.ladders.get(codec)
        if ladder is None:
            ladder = self.ladders[codec] = Ladder()
        scale = ladder.update(encoder.bitrate, width, height, keyframe)
        return scaled_size(width, height, scale)

    def _make_encoder(self, codec: VideoCodec) -> VideoEncoder:
        return video_encoder(
            codec, self.fps, self.min_bitrate, self.max_bitrate, self.temporal_layers
        )

    def _follow_rate(self, codec: VideoCodec, encoder: VideoEncoder) -> None:
        rate = self.rates.get(codec)
        context = encoder.context
        if rate is None or context is None or encoder.bitrate is None:
            return
        low, high = encoder.bounds(context.width, context.height)
        wanted = rate.decide(encoder.bitrate, low, high)
        if wanted is not None:
            encoder.set_bitrate(wanted)
        policy = rate.layers
        if policy is not None and policy.low_stream:
            main_key, low_key = self.low.update(codec, policy.down, rate.viewers)
            if main_key:
                self.request_keyframe(codec)
            if low_key:
                self.request_keyframe(codec, low=True)
