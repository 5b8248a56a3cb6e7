"""`H264Encoder`: libx264 for viewers that only take H.264 (constrained baseline)."""

from __future__ import annotations

import av

from .encoders import VideoCodec, VideoEncoder


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
