"""Our encoders alone: options libav accepted, rate changes in place (no keyframe)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from reactor_runtime.transport.encoders import (
    CEILING_BITRATE,
    START_BITRATE,
    H264Encoder,
    OpusEncoder,
    Vp8Encoder,
    rgb_to_yuv,
    scaled_bitrate,
    video_encoder,
)
from reactor_runtime.transport.libvpx_rate import LibvpxRate


def test_opus_is_opened_with_in_band_fec_which_libopus_accepts():
    encoder = OpusEncoder(2)
    # libav removes each option it used from the dict: anything left was not understood.
    assert encoder.context.options == {}


def textured(width: int, height: int, frames: int) -> list[av.VideoFrame]:
    """A moving texture with fine detail: it needs every bit it is given."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0 : height + 64, 0 : width + 64]
    wave = 127 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + rng.normal(0, 3, x.shape)
    base = np.repeat(wave.clip(0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return [
        rgb_to_yuv(np.ascontiguousarray(base[i % 64 : i % 64 + height, 2 * i % 64 :][:, :width]))
        for i in range(frames)
    ]


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_a_rate_change_applies_in_place_without_a_keyframe(codec):
    encoder = video_encoder(codec, 30.0, min_bitrate=100_000)
    pictures = textured(640, 360, 58)  # under 2 s: no periodic keyframe
    sizes: list[int] = []
    keyframes: list[int] = []
    for i, picture in enumerate(pictures):
        if i == 20:
            start = encoder.bitrate
            assert start == scaled_bitrate(START_BITRATE, 640, 360)
            assert encoder.set_bitrate(start // 4)
        if i == 40:
            assert encoder.set_bitrate(start)
        for packet in encoder.encode(picture, i * 3000):
            sizes.append(packet.size)
            if packet.is_keyframe:
                keyframes.append(i)
    assert keyframes == [0], f"{codec}: a rate change must never cost a keyframe"
    assert encoder.rate_changes == 2 and encoder.rate_refused == 0

    def rate(frames: slice) -> float:
        chunk = sizes[frames]
        return sum(chunk) * 8 * 30 / len(chunk)

    before, lowered, raised = rate(slice(10, 20)), rate(slice(28, 40)), rate(slice(50, 58))
    assert lowered < 0.5 * before, (codec, before, lowered)
    assert raised > 2 * lowered, (codec, lowered, raised)


def test_the_rate_stays_within_the_operator_range_and_the_size_ceiling():
    encoder = Vp8Encoder(30.0, min_bitrate=200_000, max_bitrate=1_000_000)
    encoder.encode(textured(640, 360, 1)[0], 0)
    assert encoder.bounds(640, 360) == (200_000, 1_000_000)
    encoder.set_bitrate(50_000_000)
    assert encoder.bitrate == 1_000_000
    encoder.set_bitrate(1)
    assert encoder.bitrate == 200_000
    small = Vp8Encoder(30.0)
    assert small.bounds(320, 180)[1] == scaled_bitrate(CEILING_BITRATE, 320, 180)
    with pytest.raises(ValueError, match="min_bitrate/max_bitrate"):
        Vp8Encoder(30.0, min_bitrate=2_000_000, max_bitrate=1_000_000)


def test_libvpx_is_reached_through_the_checked_chain_and_nothing_else_is():
    vp8 = Vp8Encoder(30.0)
    vp8.encode(textured(320, 180, 1)[0], 0)
    rate = LibvpxRate.attach(vp8.context)
    assert rate is not None and rate.kbps * 1000 == vp8.bitrate
    rate.set(300_000)
    assert rate.kbps == 300
    h264 = H264Encoder(30.0)
    h264.encode(textured(320, 180, 1)[0], 0)
    assert LibvpxRate.attach(h264.context) is None, "an x264 context is refused, not read"
