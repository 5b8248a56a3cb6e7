"""The low stream: a second, smaller encode for a viewer far below the others."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import av
import numpy as np

from reactor_runtime.server.metrics import media_metrics
from reactor_runtime.transport import MediaHub, ViewerPeer
from reactor_runtime.transport.encoded import EncodedVideo
from reactor_runtime.transport.low_stream import LowStreams
from reactor_runtime.transport.pipelines import VideoPipeline
from reactor_runtime.transport.rate_control import ViewerEstimate
from reactor_runtime.transport.stream_policy import StreamPolicy
from reactor_runtime.transport.vp8_encoder import Vp8Encoder


def test_a_viewer_far_below_the_others_goes_to_the_low_stream_and_no_longer_bounds_the_main():
    now = [100.0]
    policy = StreamPolicy(clock=lambda: now[0])
    assert policy.decide({"a": 5_000_000, "b": 1_000_000}) == 5_000_000
    assert policy.on_low_stream("b") and not policy.is_base_only("b")
    assert not policy.on_low_stream("a")
    now[0] += 2.0
    assert policy.decide({"a": 1_100_000, "b": 1_000_000}) == 1_000_000
    assert not policy.down
    assert policy.stats() == {
        "low_stream": 0,
        "base_layer_only": 0,
        "switches_down": 1,
        "switches_up": 1,
    }


def test_a_low_stream_lives_while_a_viewer_is_on_it_or_one_back_up_awaits_a_main_keyframe():
    streams = LowStreams(lambda codec: Vp8Encoder())
    everyone = {"a", "b", "c"}
    assert streams.update("vp8", {"a"}, everyone) == (False, False), "new: starts at a key"
    assert streams.update("vp8", {"a", "b"}, everyone) == (False, True), "b joins: a key"
    assert streams.update("vp8", {"b"}, everyone) == (True, False), "a back up: a main key"
    assert streams.update("vp8", set(), everyone) == (True, False)
    assert "vp8" in streams.streams, "kept until the main stream's keyframe"
    streams.main_keyframe("vp8")
    streams.update("vp8", set(), everyone)
    assert not streams.streams and streams.made == {"vp8": 1}
    streams.update("vp8", {"c"}, everyone)
    assert streams.update("vp8", set(), {"a", "b"}) == (False, False), "c left: no main key"
    assert not streams.streams and streams.made == {"vp8": 2}


def textured(n: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:720, 0:1280]
    wave = 127 + 50 * np.sin((x + 3 * n) / 6.0) * np.cos(y / 9.0) + rng.normal(0, 6, x.shape)
    return np.repeat(wave.clip(0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def size_of(frame: EncodedVideo) -> tuple[int, int]:
    decoder = av.CodecContext.create("vp8", "r")
    (picture,) = decoder.decode(av.Packet(bytes(frame.packet)))
    return picture.width, picture.height


async def test_the_low_stream_encodes_the_same_pictures_smaller_only_while_a_viewer_is_on_it(
    wait_until,
):
    deliveries: list[list[EncodedVideo]] = []
    pipeline = VideoPipeline(
        "v", 30, asyncio.get_running_loop(), lambda _n, _c, frames: deliveries.append(frames)
    )
    strong, weak = ViewerEstimate(), ViewerEstimate()
    strong.on_remb(6_000_000)
    weak.on_remb(500_000)
    rate = pipeline.rate("vp8")
    rate.add(strong)
    rate.add(weak)
    assert isinstance(rate.layers, StreamPolicy)
    rate.layers.hold_seconds = 0.5
    pipeline.set_wanted({"vp8"})
    pipeline.start()
    pictures = [textured(n) for n in range(8)]

    async def feed() -> None:
        for n in itertools.count():
            pipeline.submit(pictures[n % 8], n * 3000)
            await asyncio.sleep(1 / 30)

    feeder = asyncio.ensure_future(feed())
    try:
        await wait_until(lambda: any(f.low for d in deliveries for f in d), timeout=3)
        assert pipeline.on_low_stream("vp8", weak) and not pipeline.on_low_stream("vp8", strong)
        first = next(f for d in deliveries for f in d if f.low)
        assert first.is_keyframe and size_of(first) == (640, 360), "360p carries 0.5 Mbit/s"
        assert pipeline.bitrate("vp8", low=True) == 500_000
        # The main stream follows the strong viewer only: up from its start rate.
        await wait_until(lambda: pipeline.bitrate("vp8") == 6_000_000, timeout=3)
        both = [d for d in deliveries if any(f.low for f in d)]
        assert all(len({f.packet.pts for f in d}) == 1 and not d[0].low for d in both), (
            "each picture's main frame and low frame are delivered together, main first"
        )
        weak.on_remb(6_000_000)
        await wait_until(lambda: not pipeline.low.streams, timeout=3)
        stats = pipeline.stats()
        assert stats["low_made"] == {"vp8": 1} and stats["low_keyframes"] == {"vp8": 1}
        assert stats["low_encode_ms"] > 0 and stats["layers"]["vp8"]["switches_up"] == 1
        exported = {
            (s.name, tuple(s.labels.values())): s.value
            for family in media_metrics({"video": {"v": stats}})
            for s in family.samples
        }
        assert exported[("reactor_video_low_keyframes_total", ("v", "vp8"))] == 1
        assert exported[("reactor_video_picture_ms", ("v", "encode_low"))] > 0
        last_low = max(i for i, d in enumerate(deliveries) if any(f.low for f in d))
        assert any(f.is_keyframe for d in deliveries[last_low:] for f in d if not f.low), (
            "the low stream ends only once the main stream made the keyframe to switch at"
        )
    finally:
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
        pipeline.stop()


async def connect(client: Any, hub: MediaHub, viewer_id: str) -> ViewerPeer:
    peer = ViewerPeer(hub.session, hub, viewer_id=viewer_id, family="v0")
    offer = await client.offer()
    receiver = next(t for t in client.pc.getTransceivers() if t.kind == "video").receiver
    # The test speaks for the viewer: aiortc's own estimate would send its REMBs.
    receiver._RTCRtpReceiver__remote_bitrate_estimator = None
    await client.accept(await peer.answer(offer, client.mapping))
    return peer


async def test_a_viewer_far_below_another_gets_a_smaller_picture_at_full_rate_and_comes_back(
    make_textured_hub, make_client, wait_until
):
    hub = await make_textured_hub()
    high_client = make_client(outputs=(("main_video", "video"),), labels=())
    low_client = make_client(outputs=(("main_video", "video"),), labels=())
    high_peer = await connect(high_client, hub, "viewer-high")
    low_peer = await connect(low_client, hub, "viewer-low")
    high, low = high_peer.outbound["main_video"], low_peer.outbound["main_video"]
    high_frames, low_frames = high_client.frames["main_video"], low_client.frames["main_video"]
    try:
        await high_client.wait_frames("main_video", 3)
        await low_client.wait_frames("main_video", 3)
        high.estimate.on_remb(6_000_000)
        low.estimate.on_remb(500_000)
        await wait_until(lambda: low.low and low_frames[-1].width == 640, timeout=5)
        counts = len(high_frames), len(low_frames)
        since = time.monotonic()
        await wait_until(lambda: time.monotonic() - since >= 2.0, timeout=3)
        elapsed = time.monotonic() - since
        got_high, got_low = len(high_frames) - counts[0], len(low_frames) - counts[1]
        assert got_low / elapsed >= 24, f"the low viewer: {got_low / elapsed:.1f} fps"
        assert got_high / elapsed >= 20, f"the high viewer: {got_high / elapsed:.1f} fps"
        assert {(f.width, f.height) for f in low_frames[counts[1] :]} == {(640, 360)}
        assert {(f.width, f.height) for f in high_frames[counts[0] :]} == {(1280, 720)}
        assert not high.low and hub.bitrate("main_video", "vp8") == 6_000_000
        assert hub.bitrate("main_video", "vp8", low=True) == 500_000
        low.estimate.on_remb(6_000_000)
        await wait_until(lambda: not low.low and low_frames[-1].width == 1280, timeout=5)
        pts = [f.pts for f in low_frames]
        assert all(b > a for a, b in itertools.pairwise(pts)), "one picture, one frame"
        assert low.stats()["stream_switches"] == {"down": 1, "up": 1}
        video = hub.stats()["video"]["main_video"]
        assert video["layers"]["vp8"]["switches_down"] == 1 and video["low_made"] == {"vp8": 1}
    finally:
        await high_peer.close("test over")
        await low_peer.close("test over")
