"""Our video encoders: one `av.VideoFrame` in, `av.Packet`s out (Opus: `opus`).

aiortc's own encoders are tuned for video calls: x264 at the "medium" preset, VP8
capped at 1.5 Mbit/s, keyframes every ~100 s, and the encoder rebuilt (with a
keyframe) whenever the receiver's bandwidth estimate moves by 10 %. A model's output
deserves better pictures at low latency, so the `MediaHub` encodes with these classes
and hands finished packets to aiortc, which then only packetizes them.

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

from .libvpx_rate import LibvpxRate, layer_targets
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
KEYFRAME_SECONDS = 2.0
"""Longest gap between two keyframes. A viewer whose decoder is stuck and whose
keyframe request went unanswered (the PLI or the keyframe lost, loss NACK could not
repair) recovers within this; more often costs bits (a keyframe is ~3 frames)."""
TEMPORAL_LAYERS = 2
"""VP8 temporal layers: frames alternate base (TID 0, every other frame, referenced by
the next ones) and enhancement (TID 1, referenced by none), so a viewer that cannot
take the full rate is sent the base layer alone, at half the frame rate, from the same
encode and without a keyframe (FACTS.md: ~62 % of the bits). 1 turns layering off."""
BASE_LAYER_SHARE = 0.6
"""Share of the rate libvpx gives the base layer with two layers (libwebrtc's split)."""
CPU_USED = -8
"""libvpx speed without layers (-16 fastest): ~4.7 ms per 720p frame here."""
LAYERED_CPU_USED = -6
"""libvpx speed with temporal layers (libwebrtc's desktop VP8 setting): at -7 and -8 the
layered encoder lost its rate control on a moving noise picture (100 kB frames, 21
Mbit/s for a 2.5 Mbit/s target), at -6 it keeps it, for ~0.3 ms more per 720p frame."""
AUTO_KEYFRAME_FACTOR = 4
"""libvpx's own keyframe interval, in units of `KEYFRAME_SECONDS`: a safety net only.
`Vp8Encoder` forces its periodic keyframes itself, because only a forced keyframe
restarts FFmpeg's temporal layer pattern (one libvpx placed itself would leave the
next frames' layer ids out of step with what we tell the packetizer)."""


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
    ) -> None:
        """Prepare an encoder; the libav context opens on the first frame (its size)."""
        check_bitrates(min_bitrate, max_bitrate)
        self.fps = fps
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
        context.gop_size = max(1, round(self.fps * KEYFRAME_SECONDS))
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


class Vp8Encoder(VideoEncoder):
    """libvpx VP8 in real-time mode, constant bit rate scaled to the picture size.

    With `temporal_layers=2` (the default) it encodes in error-resilient mode with
    FFmpeg's two-layer pattern (`ts_layering_mode=2`): base (TID 0) and enhancement
    (TID 1) frames alternate from each keyframe on; a base frame references only the
    previous base frame, and no frame references an enhancement frame, so the base
    layer decodes alone. `temporal_id` says which layer the last frame was in.
    """

    codec_name = "libvpx"
    name: VideoCodec = "vp8"

    def __init__(
        self,
        fps: float = 30.0,
        min_bitrate: int = DEFAULT_MIN_BITRATE,
        max_bitrate: int = DEFAULT_MAX_BITRATE,
        cpu_used: int | None = None,
        temporal_layers: int = TEMPORAL_LAYERS,
    ) -> None:
        """Prepare a VP8 encoder; `cpu_used` trades quality for speed (-16 fastest).

        `cpu_used` defaults to `LAYERED_CPU_USED` with layers, else `CPU_USED`.

        Raises:
            ValueError: `temporal_layers` is not 1 or 2 (the message says which).
        """
        if temporal_layers not in (1, 2):
            raise ValueError(f"temporal_layers: expected 1 or 2, got {temporal_layers}")
        super().__init__(fps, min_bitrate, max_bitrate)
        if cpu_used is None:
            cpu_used = LAYERED_CPU_USED if temporal_layers > 1 else CPU_USED
        self.cpu_used = cpu_used
        self.temporal_layers = temporal_layers
        self.layer_shares: tuple[float, ...] = (
            (BASE_LAYER_SHARE, 1.0) if temporal_layers == 2 else (1.0,)
        )
        """Cumulative share of the rate up to each layer (libvpx's `ts_target_bitrate`)."""
        self.gop = max(1, round(fps * KEYFRAME_SECONDS))
        self._rate: LibvpxRate | None = None
        self._layer_index = 0
        self._since_keyframe = 0

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one frame (see `VideoEncoder.encode`); a keyframe every `gop` frames."""
        if self._since_keyframe >= self.gop - 1:
            keyframe = True
        packets = super().encode(frame, pts, keyframe)
        if any(p.is_keyframe for p in packets):
            self._since_keyframe = 0
        else:
            self._since_keyframe += 1
        return packets

    def _next_temporal_id(self, keyframe: bool) -> int:
        # Mirrors FFmpeg's libvpxenc: a forced keyframe restarts the pattern, and every
        # encode call advances it (tests/transport/test_encoders.py checks it against
        # the decoder: the base layer alone decodes without an error).
        if self.temporal_layers == 1:
            return 0
        if keyframe:
            self._layer_index = 0
        temporal_id = self._layer_index % 2
        self._layer_index += 1
        return temporal_id

    def _opened(self, context: av.VideoCodecContext) -> None:
        self._layer_index = 0
        self._rate = LibvpxRate.attach(context, self.layer_shares)

    def _change_rate(self, context: av.VideoCodecContext, bitrate: int) -> bool:
        if self._rate is None:
            return False
        self._rate.set(bitrate)
        return True

    def _configure(self, context: av.VideoCodecContext) -> None:
        rate = str(context.bit_rate)
        context.qmin = 2
        context.qmax = 56
        context.gop_size = self.gop * AUTO_KEYFRAME_FACTOR
        options = {
            "deadline": "realtime",
            "cpu-used": str(self.cpu_used),
            "lag-in-frames": "0",
            # minrate = maxrate = bit_rate selects CBR, as libwebrtc runs VP8; a one
            # second buffer lets keyframes overshoot without starving the next frames.
            "minrate": rate,
            "maxrate": rate,
            "bufsize": rate,
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            # A keyframe may take at most 3x an average frame, so it does not stall
            # the stream for several frame times at the receiver.
            "max-intra-rate": "300",
            "static-thresh": "1",
            "noise-sensitivity": "0",
        }
        if self.temporal_layers == 2:
            targets = ",".join(str(k) for k in layer_targets(context.bit_rate, self.layer_shares))
            # Without error resilience the base layer alone does not decode (FACTS.md).
            options["error-resilient"] = "default"
            # ts_layering_mode last: it sets the pattern over what came before it.
            options["ts-parameters"] = (
                f"ts_number_layers=2:ts_target_bitrate={targets}:ts_layering_mode=2"
            )
        context.options = options


class H264Encoder(VideoEncoder):
    """libx264 `ultrafast` + `zerolatency` (constrained baseline, no B-frames).

    Opened with its VBV at the size's ceiling, then given its working rate: x264
    follows a `bit_rate` lowered below the rate it opened at, in place and without a
    keyframe (FACTS.md), so every later rate fits under that ceiling.
    """

    codec_name = "libx264"
    name: VideoCodec = "h264"

    def _configure(self, context: av.VideoCodecContext) -> None:
        context.bit_rate = self.ceiling
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            # A forced keyframe must be an IDR with SPS/PPS, or a viewer that joins
            # mid-stream cannot start decoding from it.
            "forced-idr": "1",
            "maxrate": str(self.ceiling),
            # An eighth of a second at the ceiling: a burst above the working rate
            # stays short (measured: 2.5 Mbit/s under an 8 Mbit/s ceiling, 1 s means
            # 2.5x the rate in the first second, 1/8 s means 1.3x).
            "bufsize": str(self.ceiling // 8),
            "x264-params": "repeat-headers=1:scenecut=0",
        }

    def _opened(self, context: av.VideoCodecContext) -> None:
        context.bit_rate = self.bitrate

    def _change_rate(self, context: av.VideoCodecContext, bitrate: int) -> bool:
        context.bit_rate = bitrate
        return True


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
