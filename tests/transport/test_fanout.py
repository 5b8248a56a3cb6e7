"""The hub's pieces without a network: audio timeline, slow-viewer queues, encoders."""

from __future__ import annotations

import itertools

import av
import numpy as np

from reactor_runtime.transport.audio_pipeline import AudioPipeline
from reactor_runtime.transport.encoded import EncodedVideo
from reactor_runtime.transport.encoders import START_BITRATE, rgb_to_yuv
from reactor_runtime.transport.h264_encoder import H264Encoder
from reactor_runtime.transport.rate_control import ViewerEstimate
from reactor_runtime.transport.stream_policy import BASE_SHARE
from reactor_runtime.transport.tracks import AUDIO_QUEUE, VIDEO_QUEUE, OutboundTrack
from reactor_runtime.transport.vp8_encoder import Vp8Encoder


class HubSpy:
    """Stands in for MediaHub: records what a track asks of it."""

    def __init__(self) -> None:
        self.subscribed: list[OutboundTrack] = []
        self.keyframes = 0

    def subscribe(self, track: OutboundTrack) -> None:
        self.subscribed.append(track)

    def unsubscribe(self, track: OutboundTrack) -> None:
        self.subscribed.remove(track)

    def request_keyframe(
        self, name: str, codec: str, low: bool = False, fresh: bool = False
    ) -> None:
        self.keyframes += 1

    def base_layer_only(self, name: str, codec: str, viewer: object) -> bool:
        return False

    def on_low_stream(self, name: str, codec: str, viewer: object) -> bool:
        return False

    def bitrate(self, name: str, codec: str, low: bool = False) -> int:
        return 2_000_000


def packet(keyframe: bool = False, pts: int = 0) -> av.Packet:
    p = av.Packet(b"\x00" * 8)
    p.pts = pts
    p.is_keyframe = keyframe
    return p


def frame(keyframe: bool = False, pts: int = 0, tid: int = 0) -> EncodedVideo:
    return EncodedVideo(packet(keyframe, pts), tid)


def test_audio_is_cut_into_contiguous_960_sample_packets_with_gaps_filled():
    out: list[av.Packet] = []
    audio = AudioPipeline("a", 1, lambda name, packets: out.extend(packets))
    audio.set_active(True)
    tone = np.full((1, 1600), 1000, dtype=np.int16)
    audio.push(tone, 48_000)
    audio.push(tone, 49_600)
    audio.push(tone, 52_000)  # 800 samples late: silence first
    audio.push(tone, 53_000)  # overlaps what is already queued: trimmed
    assert audio.silence_samples == 800 and audio.trimmed_samples == 600
    steps = {b.pts - a.pts for a, b in itertools.pairwise(out)}
    assert steps == {960} and len(out) == (53_000 + 1600 - 48_000) // 960


def decoded_peak(packets: list[av.Packet]) -> int:
    decoder = av.CodecContext.create("libopus", "r")
    peak = 0
    for p in packets:
        for frame in decoder.decode(p):
            peak = max(peak, int(np.abs(frame.to_ndarray().astype(np.int32)).max()))
    return peak


def test_a_restarted_audio_stream_starts_without_a_click():
    out: list[av.Packet] = []
    audio = AudioPipeline("a", 1, lambda name, packets: out.extend(packets))
    t = np.arange(48_000)
    tone = (np.sin(2 * np.pi * 440 * t / 48_000) * 8000).astype(np.int16)[np.newaxis]
    audio.set_active(True)
    audio.push(tone[:, :24_000], 0)
    audio.set_active(False)
    out.clear()
    audio.set_active(True)  # a new viewer: the next packets go to a fresh decoder
    audio.push(-tone[:, 24_000:], 10 * 48_000)  # in opposite phase to where it stopped
    assert out and decoded_peak(out) < 9000
    out.clear()
    audio.fill_silence(20 * 48_000)  # a gap long enough to restart the timeline
    audio.push(tone[:, :24_000], 20 * 48_000)  # again in opposite phase
    assert out and decoded_peak(out) < 9000


def test_a_slow_viewer_drops_video_up_to_the_next_keyframe_and_oldest_audio():
    hub = HubSpy()
    video = OutboundTrack(hub, "main_video", "video")
    video.bind("vp8")
    video._set_subscribed(True)
    video.push(frame(keyframe=False))
    assert video.stats()["queued"] == 0, "a new subscriber starts at a keyframe"
    for i in range(VIDEO_QUEUE):
        video.push(frame(keyframe=i == 0, pts=i))
    video.push(frame(pts=99))  # overflow: everything queued is useless without it
    assert video.dropped == VIDEO_QUEUE and video.stats()["queued"] == 0
    assert hub.keyframes == 1
    video.push(frame(pts=100))
    video.push(frame(keyframe=True, pts=101))
    assert video.stats()["queued"] == 1

    audio = OutboundTrack(hub, "main_audio", "audio")
    for i in range(AUDIO_QUEUE + 3):
        audio.push(packet(pts=i))
    assert audio.dropped == 3 and audio._queue[0].pts == 3


def test_an_overflowing_viewer_drops_the_enhancement_layer_before_skipping_to_a_keyframe():
    hub = HubSpy()
    video = OutboundTrack(hub, "main_video", "video")
    video.bind("vp8")
    video._set_subscribed(True)
    for i in range(VIDEO_QUEUE):
        video.push(frame(keyframe=i == 0, pts=i, tid=i % 2))
    video.push(frame(pts=VIDEO_QUEUE, tid=0))  # overflow: the TID 1 frames make room
    queued = [f.packet.pts for f in video._queue]
    assert queued == [*range(0, VIDEO_QUEUE, 2), VIDEO_QUEUE]
    assert (video.layer_dropped, video.dropped, hub.keyframes) == (VIDEO_QUEUE // 2, 0, 0)
    for i in range(VIDEO_QUEUE + 1, 2 * VIDEO_QUEUE):
        video.push(frame(pts=i, tid=0))
    assert video.dropped == VIDEO_QUEUE and hub.keyframes == 1, "base frames: skip ahead"


def test_a_base_layer_only_viewer_is_sent_every_base_frame_and_no_enhancement_frame():
    hub = HubSpy()
    video = OutboundTrack(hub, "main_video", "video")
    video.bind("vp8")
    video._set_subscribed(True)
    video.forced_base_layer = True
    for i in range(6):
        video.push(frame(keyframe=i == 0, pts=i, tid=i % 2))
    assert [f.packet.pts for f in video._queue] == [0, 2, 4]
    assert video.layer_skipped == 3 and video.stats()["queued"] == 3


def test_a_base_layer_only_viewers_loss_bound_is_about_the_base_layer_it_is_sent():
    now = [0.0]
    video = OutboundTrack(HubSpy(), "main_video", "video")
    video.bind("vp8")
    video.estimate = ViewerEstimate(clock=lambda: now[0])
    video.forced_base_layer = True
    video._on_loss(0, 1000)
    now[0] = 1.0
    video._on_loss(50, 1200)  # 25 % lost
    assert video.estimate.loss_bound == round(2_000_000 * BASE_SHARE) * (1 - 0.25 / 2)


def test_720p_encoders_hit_the_start_rate_with_two_second_keyframes():
    size = (720, 1280)
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    for encoder in (Vp8Encoder(30, keyframe_seconds=2), H264Encoder(30, keyframe_seconds=2)):
        sizes, keyframes = [], []
        for i in range(75):
            frame = rgb_to_yuv(np.roll(texture, 4 * i, axis=1))
            for p in encoder.encode(frame, i * 3000, keyframe=i == 10):
                assert p.pts == i * 3000 and p.time_base.denominator == 90_000
                sizes.append(p.size)
                keyframes.append(i) if p.is_keyframe else None
        assert keyframes[:2] == [0, 10], encoder.name
        assert 70 in keyframes, f"{encoder.name}: a keyframe every 2 s of frames"
        rate = sum(sizes) * 8 / 2.5
        assert 0.5 * START_BITRATE < rate < 1.6 * START_BITRATE, (
            encoder.name,
            rate,
        )


def test_rgb_to_yuv_reads_in_place_with_the_same_result_as_from_a_copy():
    rng = np.random.default_rng(3)
    batch = rng.integers(0, 256, (2, 250, 250, 3), dtype=np.uint8)
    pictures = [
        rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8),  # aligned: read in place
        rng.integers(0, 256, (721, 1281, 3), dtype=np.uint8),  # odd: last row/column cut
        batch[1],  # a view that starts unaligned: copied
        rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)[:, :, :3],  # strided pixels
    ]
    for rgb in pictures:
        height, width = rgb.shape[0] & ~1, rgb.shape[1] & ~1
        copy = np.ascontiguousarray(rgb[:height, :width])
        expected = av.VideoFrame.from_ndarray(copy, format="rgb24").reformat(format="yuv420p")
        frame = rgb_to_yuv(rgb)
        assert frame.format.name == "yuv420p" and (frame.height, frame.width) == (height, width)
        assert np.array_equal(frame.to_ndarray(), expected.to_ndarray())
