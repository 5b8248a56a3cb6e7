"""Our encoders alone: options libav accepted, rate changes in place (no keyframe)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from reactor_runtime.transport.encoders import (
    CEILING_BITRATE,
    START_BITRATE,
    rgb_to_yuv,
    scaled_bitrate,
)
from reactor_runtime.transport.h264_encoder import H264Encoder
from reactor_runtime.transport.libvpx_rate import LibvpxRate
from reactor_runtime.transport.opus import OpusEncoder
from reactor_runtime.transport.pipelines import video_encoder
from reactor_runtime.transport.vp8_encoder import Vp8Encoder


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
    rate = LibvpxRate.attach(vp8.context, vp8.layer_shares)
    assert rate is not None and rate.kbps * 1000 == vp8.bitrate
    rate.set(300_000)
    assert rate.kbps == 300
    assert rate.layer_kbps == [180, 300], "each layer's target follows the total"
    wrong = LibvpxRate.attach(vp8.context, (0.5, 1.0))
    assert wrong is None, "layer targets other than the opened ones are refused"
    h264 = H264Encoder(30.0)
    h264.encode(textured(320, 180, 1)[0], 0)
    assert LibvpxRate.attach(h264.context) is None, "an x264 context is refused, not read"


def test_the_vp8_base_layer_decodes_alone_without_an_error_through_forced_keyframes():
    encoder = Vp8Encoder(30.0, keyframe_seconds=2.0)
    frames: list[tuple[int, int, bytes]] = []
    for i, picture in enumerate(textured(320, 180, 75)):
        # A forced keyframe on an enhancement slot, then the periodic one 2 s later.
        for packet in encoder.encode(picture, i * 3000, keyframe=i == 3):
            frames.append((i, encoder.temporal_id, bytes(packet)))
            assert encoder.temporal_id == 0 or not packet.is_keyframe
    tids = [tid for _, tid, _ in frames]
    assert tids[:7] == [0, 1, 0, 0, 1, 0, 1], "keyframes restart the pattern at TID 0"
    assert tids[62:66] == [1, 0, 1, 0] and encoder.keyframes == 3, "periodic: frame 63"

    def decode(layers: set[int]) -> tuple[dict[int, np.ndarray], int]:
        decoder = av.CodecContext.create("vp8", "r")
        pictures, errors = {}, 0
        for i, tid, data in frames:
            if tid in layers:
                try:
                    for frame in decoder.decode(av.Packet(data)):
                        pictures[i] = frame.to_ndarray(format="gray")
                except av.FFmpegError:
                    errors += 1
        return pictures, errors

    full, full_errors = decode({0, 1})
    base, base_errors = decode({0})
    assert (full_errors, base_errors) == (0, 0)
    assert len(base) == tids.count(0) and 35 <= len(base) <= 40
    assert all(np.array_equal(full[i], base[i]) for i in base), "the same pictures"


def test_a_layered_rate_change_moves_every_layer_without_a_keyframe():
    encoder = Vp8Encoder(30.0, min_bitrate=100_000)
    sizes = {0: 0, 1: 0}
    for i, picture in enumerate(textured(640, 360, 40)):
        if i == 10:
            assert encoder.set_bitrate(400_000)
        for packet in encoder.encode(picture, i * 3000):
            assert not packet.is_keyframe or i == 0, "a rate change never costs a keyframe"
            if i >= 20:
                sizes[encoder.temporal_id] += packet.size
    assert encoder._rate is not None and encoder._rate.layer_kbps == [240, 400]
    rate = (sizes[0] + sizes[1]) * 8 * 30 / 20
    assert 0.6 * 400_000 < rate < 1.3 * 400_000, rate
    assert 0.45 < sizes[0] / (sizes[0] + sizes[1]) < 0.8, sizes


@pytest.mark.parametrize("codec", ["vp8", "h264"])
def test_a_reopened_encoder_starts_with_a_keyframe_at_the_rate_it_was_cut_to(codec):
    encoder = video_encoder(codec, 30.0, min_bitrate=100_000)
    pictures = textured(640, 360, 30)
    keyframes: list[int] = []
    for i, picture in enumerate(pictures):
        if i == 15:
            assert encoder.set_bitrate(300_000)
            encoder.reopen()
        for packet in encoder.encode(picture, i * 3000):
            if packet.is_keyframe:
                keyframes.append(i)
    assert keyframes == [0, 15], codec
    assert encoder.bitrate == 300_000
