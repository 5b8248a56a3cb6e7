"""Our video encoders' common ground: one `av.VideoFrame` in, `av.Packet`s out.

aiortc's own encoders are tuned for video calls: x264 at the "medium" preset, VP8
capped at 1.5 Mbit/s, keyframes every ~100 s, and the encoder rebuilt (with a
keyframe) whenever the receiver's bandwidth estimate moves by 10 %. A model's output
deserves better pictures at low latency, so the `MediaHub` encodes with these classes
and hands finished packets to aiortc, which then only packetizes them.

`VideoEncoder` is the shared part (rate bounds scaled to the picture, in-place rate
changes, reopening on a size change); `vp8_encoder.Vp8Encoder` and
`h264_encoder.H264Encoder` configure libav for their codec, `pipelines.video_encoder`
picks one, and Opus is `opus`.

Packets carry the presentation time of their frame in the frame's `time_base`
(1/90000 for video, 1/48000 for audio); they are shared read-only by every viewer.
"""

from __future__ import annotations

import fractions
import logging
import os
from typing import Literal, TypeAlias

import av
import numpy as np

from .rate_control import DEFAULT_MAX_BITRATE, DEFAULT_MIN_BITRATE

log = logging.getLogger(__name__)

VideoCodec: TypeAlias = Literal["vp8", "h264"]
VIDEO_CODECS: tuple[VideoCodec, ...] = ("vp8", "h264")

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
AUDIO_RATE = 48_000

REFERENCE_PIXELS = 1280 * 720
CEILING_BITRATE = 8_000_000
"""Highest rate at 720p, other sizes scaled by pixel count: ~9 Mbit/s gives ~41 dB
luma PSNR on a textured 720p pattern (FACTS.md); more buys little."""
START_BITRATE = 2_500_000
"""Rate at 720p (scaled by pixel count) before any viewer feedback: libwebrtc's top
VP8 rate at 720p, and what most links carry; REMB then moves it (`rate_control`)."""
KEYFRAME_SECONDS = 60.0
"""Longest gap between two keyframes: a backstop for a viewer that never asks for one.
Keyframes come when a viewer joins, asks (PLI/FIR; libwebrtc repeats its request every
~200 ms while its decoder is stuck) or the ladder changes size. A periodic one costs
more than its bits: at 720p libvpx sends it and the next two frames at 5-10 times an
average frame, a burst that fills a capped link's queue, and Chromium's estimate reads
that as congestion and cuts REMB. Behind a 2 Mbit/s cap, one every 2 s held the stream
at 1.1 Mbit/s, none at 1.7 (same tree, same minutes; bench/README.md "network")."""


def scaled_bitrate(rate: int, width: int, height: int) -> int:
    """`rate` (meant for 720p) scaled to a `width` x `height` picture by pixel count."""
    return int(rate * (width * height) / REFERENCE_PIXELS)


def check_bitrates(min_bitrate: int, max_bitrate: int) -> None:
    """Raise ValueError naming the bound unless 0 < `min_bitrate` <= `max_bitrate`."""
    if not 0 < min_bitrate <= max_bitrate:
        raise ValueError(
            f"min_bitrate/max_bitrate: expected 0 < min_bitrate <= max_bitrate (bit/s), "
            f"got {min_bitrate} and {max_bitrate}"
        )


def encoder_threads(width: int, height: int) -> int:
    """Threads for one encoder: one per two spare cores above VGA, else one.

    Measured at 720p on 2 cores with a viewer decoding on the same machine: libvpx with
    2 threads fell to 31 ms per frame (20 fps) against 10 ms with 1 thread, because its
    threads wait on each other when the cores are busy elsewhere.
    """
    if width * height <= 640 * 480:
        return 1
    return max(1, min(4, (os.cpu_count() or 1) // 2 - 1))


_SWS_THREADS = 2 if (os.cpu_count() or 1) > 2 else 1
"""swscale's own threads take ~30 % off the 4.4 ms a 720p conversion costs on an idle
machine; on a busy one they only contend."""


def rgb_to_yuv(rgb: np.ndarray) -> av.VideoFrame:
    """Convert one `(H, W, 3)` uint8 RGB picture to a yuv420p frame, once for all codecs.

    4:2:0 needs even sizes (x264 refuses odd ones), so an odd last row or column is
    dropped rather than padded: padding would show as a border on the viewer's screen.
    """
    height, width = rgb.shape[0] & ~1, rgb.shape[1] & ~1
    if (height, width) != rgb.shape[:2]:
        rgb = rgb[:height, :width]
    if rgb.strides[1:] == (3, 1) and rgb.strides[0] % 16 == 0 and rgb.ctypes.data % 16 == 0:
        # swscale reads the array in place: no 2.7 MB copy (~0.6 ms) per 720p picture.
        # Rows and start 16-byte aligned, as swscale wants them (else it warns and
        # takes a slower path): then the result is the same as from a copy.
        frame = av.VideoFrame.from_numpy_buffer(rgb, format="rgb24")
    else:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return frame.reformat(format="yuv420p", threads=_SWS_THREADS)


class VideoEncoder:
    """A libav video encoder kept open across frames and rebuilt when the size changes.

    Its rate starts at `START_BITRATE` (scaled to the size) and follows `set_bitrate`
    in place, without a keyframe, within `min_bitrate` and the size's ceiling
    (`CEILING_BITRATE` scaled, at most `max_bitrate`). A size change reopens it (one
    keyframe) at the rate it had. `encode` and `set_bitrate` are called from one
    worker thread only.
    """

    codec_name: str = ""
    name: VideoCodec

    def __init__(
        self,
        fps: float = 30.0,
        min_bitrate: int = DEFAULT_MIN_BITRATE,
        max_bitrate: int = DEFAULT_MAX_BITRATE,
        keyframe_seconds: float = KEYFRAME_SECONDS,
    ) -> None:
        """Prepare an encoder; the libav context opens on the first frame (its size).

        `keyframe_seconds` is the longest gap between two keyframes (`KEYFRAME_SECONDS`).
        """
        check_bitrates(min_bitrate, max_bitrate)
        if not keyframe_seconds > 0:
            raise ValueError(f"keyframe_seconds: expected > 0, got {keyframe_seconds}")
        self.fps = fps
        self.keyframe_seconds = keyframe_seconds
        self.min_bitrate = min_bitrate
        self.max_bitrate = max_bitrate
        self.context: av.VideoCodecContext | None = None
        self.bitrate: int | None = None
        """The rate worked to (bit/s); None before the first frame."""
        self.ceiling = max_bitrate
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.rate_changes = 0
        """Rate changes applied in place (never with a keyframe)."""
        self.rate_refused = 0
        """Rate changes this encoder could not apply in place (it kept its rate)."""
        self.temporal_id = 0
        """Temporal layer (0 = base) of the packets the last `encode` returned."""

    def bounds(self, width: int, height: int) -> tuple[int, int]:
        """The lowest and highest rate (bit/s) for a `width` x `height` picture."""
        ceiling = scaled_bitrate(CEILING_BITRATE, width, height)
        return self.min_bitrate, max(self.min_bitrate, min(self.max_bitrate, ceiling))

    def set_bitrate(self, bitrate: int) -> bool:
        """Work to `bitrate` bit/s (clamped to `bounds`) from the next frame; no keyframe.

        Returns:
            True if the rate changed.
        """
        context = self.context
        if context is None:
            return False
        low, high = self.bounds(context.width, context.height)
        bitrate = max(low, min(high, int(bitrate)))
        if bitrate == self.bitrate:
            return False
        if not self._change_rate(context, bitrate):
            self.rate_refused += 1
            return False
        self.bitrate = bitrate
        self.rate_changes += 1
        return True

    def reopen(self) -> None:
        """Start afresh from the next frame: a new context at the current rate.

        The next frame is a keyframe and the rate control starts with an empty buffer.
        After a long stretch at a high rate libvpx keeps the credit its CBR buffer
        saved, and spends it right after a cut (seen: a 2 Mbit/s link overrun for
        0.4 s after a cut to 1.3 Mbit/s and a keyframe); a restart that costs a
        keyframe anyway may as well start clean.
        """
        self.context = None

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one yuv420p frame presented at `pts` (1/90000 s).

        Returns:
            The packets (normally exactly one), stamped with `pts` and `VIDEO_TIME_BASE`.
        """
        context = self.context
        if context is None or (context.width, context.height) != (frame.width, frame.height):
            context = self.context = self._open(frame.width, frame.height)
            keyframe = True
        temporal_id = self._next_temporal_id(keyframe)
        frame.pts = self.frames
        frame.time_base = context.time_base
        kinds = av.video.frame.PictureType
        frame.pict_type = kinds.I if keyframe else kinds.NONE
        packets = context.encode(frame)
        self.frames += 1
        for packet in packets:
            # Zero-latency settings mean no reordering: each packet is this frame's.
            packet.pts = pts
            packet.dts = pts
            packet.time_base = VIDEO_TIME_BASE
            self.bytes += packet.size
            if packet.is_keyframe:
                self.keyframes += 1
                temporal_id = 0
        self.temporal_id = temporal_id
        return packets

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        low, high = self.bounds(width, height)
        start = self.bitrate or scaled_bitrate(START_BITRATE, width, height)
        self.bitrate = max(low, min(high, start))
        self.ceiling = high
        context = av.CodecContext.create(self.codec_name, "w")
        context.width = width
        context.height = height
        context.pix_fmt = "yuv420p"
        # Frame-count timestamps: rate control sees a steady frame rate even though the
        # wire timestamps (set on the packets) follow the media clock.
        fps = fractions.Fraction(round(self.fps * 1000), 1000)
        context.framerate = fps
        context.time_base = 1 / fps
        context.bit_rate = self.bitrate
        context.gop_size = max(1, round(self.fps * self.keyframe_seconds))
        context.thread_count = encoder_threads(width, height)
        self._configure(context)
        context.open()
        self._opened(context)
        log.debug(
            "%s encoder opened at %dx%d, %.2f Mbit/s (ceiling %.2f)",
            self.name,
            width,
            height,
            self.bitrate / 1e6,
            high / 1e6,
        )
        return context

    def _configure(self, context: av.VideoCodecContext) -> None:
        raise NotImplementedError

    def _next_temporal_id(self, keyframe: bool) -> int:
        """The temporal layer of the frame about to be encoded (`keyframe`: forced)."""
        return 0

    def _opened(self, context: av.VideoCodecContext) -> None:
        """Called once the context is open."""

    def _change_rate(self, context: av.VideoCodecContext, bitrate: int) -> bool:
        raise NotImplementedError
