"""Our video and audio encoders: one `av.VideoFrame`/`av.AudioFrame` in, `av.Packet`s out.

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

log = logging.getLogger(__name__)

VideoCodec: TypeAlias = Literal["vp8", "h264"]
VIDEO_CODECS: tuple[VideoCodec, ...] = ("vp8", "h264")

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48_000)
AUDIO_RATE = 48_000
OPUS_FRAME = 960
"""Samples per Opus packet: 20 ms at 48 kHz."""

REFERENCE_PIXELS = 1280 * 720
REFERENCE_BITRATE = 8_000_000
"""Target bit rate at 720p; other sizes scale by pixel count (FACTS.md: ~9 Mbit/s gives
~41 dB luma PSNR on a textured 720p pattern)."""
MIN_BITRATE = 600_000
MAX_BITRATE = 20_000_000
KEYFRAME_SECONDS = 2.0
"""Longest gap between two keyframes. A viewer whose decoder is stuck and whose
keyframe request went unanswered (the PLI or the keyframe lost, loss NACK could not
repair) recovers within this; more often costs bits (a keyframe is ~3 frames)."""
OPUS_EXPECTED_LOSS = 10
"""Loss (percent) libopus prepares its in-band FEC for; the clients offer
`useinbandfec=1` and libwebrtc's NetEq decodes a lost packet from the next one's FEC.
libopus adds the redundancy in its SILK and hybrid modes (speech-like content)."""


def target_bitrate(width: int, height: int) -> int:
    """Bits per second for a `width` x `height` stream: 8 Mbit/s at 720p, scaled by area."""
    scaled = REFERENCE_BITRATE * (width * height) / REFERENCE_PIXELS
    return int(min(MAX_BITRATE, max(MIN_BITRATE, scaled)))


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

    `encode` is called from one worker thread only.
    """

    codec_name: str = ""
    name: VideoCodec

    def __init__(self, fps: float = 30.0) -> None:
        """Prepare an encoder; the libav context opens on the first frame (its size)."""
        self.fps = fps
        self.context: av.VideoCodecContext | None = None
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0

    def encode(self, frame: av.VideoFrame, pts: int, keyframe: bool = False) -> list[av.Packet]:
        """Encode one yuv420p frame presented at `pts` (1/90000 s).

        Returns:
            The packets (normally exactly one), stamped with `pts` and `VIDEO_TIME_BASE`.
        """
        context = self.context
        if context is None or (context.width, context.height) != (frame.width, frame.height):
            context = self.context = self._open(frame.width, frame.height)
            keyframe = True
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
        return packets

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        context = av.CodecContext.create(self.codec_name, "w")
        context.width = width
        context.height = height
        context.pix_fmt = "yuv420p"
        # Frame-count timestamps: rate control sees a steady frame rate even though the
        # wire timestamps (set on the packets) follow the media clock.
        fps = fractions.Fraction(round(self.fps * 1000), 1000)
        context.framerate = fps
        context.time_base = 1 / fps
        context.bit_rate = target_bitrate(width, height)
        context.gop_size = max(1, round(self.fps * KEYFRAME_SECONDS))
        context.thread_count = encoder_threads(width, height)
        self._configure(context)
        context.open()
        log.debug(
            "%s encoder opened at %dx%d, %.1f Mbit/s",
            self.name,
            width,
            height,
            context.bit_rate / 1e6,
        )
        return context

    def _configure(self, context: av.VideoCodecContext) -> None:
        raise NotImplementedError


class Vp8Encoder(VideoEncoder):
    """libvpx VP8 in real-time mode, constant bit rate scaled to the picture size."""

    codec_name = "libvpx"
    name: VideoCodec = "vp8"

    def __init__(self, fps: float = 30.0, cpu_used: int = -8) -> None:
        """Prepare a VP8 encoder; `cpu_used` trades quality for speed (-16 fastest)."""
        super().__init__(fps)
        self.cpu_used = cpu_used

    def _configure(self, context: av.VideoCodecContext) -> None:
        rate = str(context.bit_rate)
        context.qmin = 2
        context.qmax = 56
        context.options = {
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


class H264Encoder(VideoEncoder):
    """libx264 `ultrafast` + `zerolatency` (constrained baseline, no B-frames)."""

    codec_name = "libx264"
    name: VideoCodec = "h264"

    def _configure(self, context: av.VideoCodecContext) -> None:
        rate = context.bit_rate
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            # A forced keyframe must be an IDR with SPS/PPS, or a viewer that joins
            # mid-stream cannot start decoding from it.
            "forced-idr": "1",
            "maxrate": str(int(rate * 1.2)),
            "bufsize": str(rate),
            "x264-params": "repeat-headers=1:scenecut=0",
        }


def video_encoder(codec: VideoCodec, fps: float = 30.0) -> VideoEncoder:
    """A fresh encoder for `codec` ("vp8" or "h264")."""
    if codec == "vp8":
        return Vp8Encoder(fps)
    if codec == "h264":
        return H264Encoder(fps)
    raise ValueError(f"unknown video codec {codec!r}; expected one of {VIDEO_CODECS}")


class OpusEncoder:
    """libopus at 48 kHz: 960-sample int16 frames in, one packet each out.

    Mono tracks are sent as mono Opus (every Opus decoder, including a stereo one,
    plays it), stereo as stereo.
    """

    def __init__(self, channels: int) -> None:
        """Open an encoder for `channels` (1 or 2) channels."""
        if channels not in (1, 2):
            raise ValueError(f"Opus carries 1 or 2 channels here, got {channels}")
        self.channels = channels
        self.layout = "mono" if channels == 1 else "stereo"
        context = av.CodecContext.create("libopus", "w")
        context.sample_rate = AUDIO_RATE
        context.format = "s16"
        context.layout = self.layout
        context.bit_rate = 64_000 * channels
        context.time_base = AUDIO_TIME_BASE
        # "audio" (not aiortc's "voip"): model output is music and effects as often as speech.
        context.options = {
            "application": "audio",
            "fec": "1",
            "packet_loss": str(OPUS_EXPECTED_LOSS),
        }
        context.open()
        self.context = context

    def encode(self, samples: np.ndarray, pts: int) -> list[av.Packet]:
        """Encode `(channels, 960)` int16 samples whose first sample is at `pts` (1/48000 s).

        Returns:
            The packets. Their pts is libopus's, i.e. shifted back by the encoder's
            look-ahead, so that the RTP timestamp labels the audio actually decoded.
        """
        interleaved = np.ascontiguousarray(samples.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=self.layout)
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = AUDIO_TIME_BASE
        packets = self.context.encode(frame)
        for packet in packets:
            packet.time_base = AUDIO_TIME_BASE
        return packets
