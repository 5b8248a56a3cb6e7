"""Which viewers go down (low stream, or base layer only), and what they then receive."""

from __future__ import annotations

import itertools
import time
from typing import Any

import av
import pytest
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci
from transport.fake_clock import Clock

from reactor_runtime.server.metrics import rate_metrics
from reactor_runtime.transport import MediaHub, ViewerPeer
from reactor_runtime.transport.rate_control import StreamRate, ViewerEstimate
from reactor_runtime.transport.stream_policy import HOLD_SECONDS, StreamPolicy


def test_a_viewer_far_below_the_others_gets_the_base_layer_and_bounds_the_stream():
    clock = Clock()
    policy = StreamPolicy(low_stream=False, clock=clock)
    assert policy.decide({"a": 5_000_000, "b": 4_000_000}) == 4_000_000
    assert not policy.down, "close estimates: everyone gets the full stream"
    # b can take 1 Mbit/s: the stream follows a, bounded so b's base layer (60 %) fits.
    assert policy.decide({"a": 5_000_000, "b": 1_000_000}) == 1_666_666
    assert policy.is_base_only("b") and not policy.is_base_only("a")
    assert policy.decide({"a": 1_200_000, "b": 1_000_000}) == 1_200_000
    assert policy.is_base_only("b"), "held: a switch waits HOLD_SECONDS"
    clock.now += HOLD_SECONDS
    assert policy.decide({"a": 1_200_000, "b": 1_000_000}) == 1_000_000
    assert not policy.down and policy.stats() == {
        "low_stream": 0,
        "base_layer_only": 0,
        "switches_down": 1,
        "switches_up": 1,
    }


def test_the_hysteresis_band_keeps_a_wavering_viewer_where_it_is():
    clock = Clock()
    policy = StreamPolicy(low_stream=False, clock=clock)
    policy.decide({"a": 5_000_000, "b": 2_900_000})  # 0.58 of a: down
    for estimate in (3_100_000, 3_900_000, 3_100_000):  # 0.62-0.78: inside the band
        clock.now += HOLD_SECONDS
        policy.decide({"a": 5_000_000, "b": estimate})
        assert policy.is_base_only("b"), estimate
    clock.now += HOLD_SECONDS
    policy.decide({"a": 5_000_000, "b": 4_100_000})  # 0.82: back up
    assert not policy.down and policy.switches_down == 1


def test_a_lone_or_departed_viewer_is_never_left_on_the_base_layer():
    clock = Clock()
    policy = StreamPolicy(low_stream=False, clock=clock)
    policy.decide({"a": 5_000_000, "b": 500_000})
    assert policy.is_base_only("b")
    policy.decide({"a": 5_000_000})
    assert not policy.down
    assert policy.decide({"a": None}) is None
    with pytest.raises(ValueError, match=r"weak_ratio/recover_ratio.*got 0\.9 and 0\.8"):
        StreamPolicy(weak_ratio=0.9, recover_ratio=0.8)


def test_a_stream_rate_with_layers_follows_the_others_not_the_weak_viewer():
    strong, weak = ViewerEstimate(), ViewerEstimate()
    strong.on_remb(6_000_000)
    weak.on_remb(900_000)
    plain, layered = StreamRate(), StreamRate(layers=StreamPolicy(low_stream=False))
    for rate in (plain, layered):
        rate.add(strong)
        rate.add(weak)
    assert plain.decide(2_500_000, 300_000, 8_000_000) == 900_000
    assert layered.decide(2_500_000, 300_000, 8_000_000) == 1_500_000
    assert layered.layers.is_base_only(weak)
    media = {"video": {"main_video": {"layers": {"vp8": layered.layers.stats()}}}}
    exported = {
        (s.name, tuple(s.labels.values())): s.value
        for family in rate_metrics(media)
        for s in family.samples
    }
    assert exported[("reactor_video_base_layer_viewers", ("main_video", "vp8"))] == 1
    assert exported[("reactor_video_layer_switches_total", ("main_video", "vp8", "down"))] == 1


class Frames:
    """The VP8 frames one aiortc viewer receives, reassembled from its RTP packets."""

    def __init__(self, client: Any) -> None:
        receiver = next(t for t in client.pc.getTransceivers() if t.kind == "video").receiver
        self.receiver = receiver
        self.ssrc: int | None = None
        self.frames: list[tuple[tuple[int, int], bytes]] = []  # (picture id, TL0PICIDX)
        self.pt: int | None = None
        self._parts: list[bytes] = []
        self._ids = (0, 0)
        handle = receiver._handle_rtp_packet

        async def record(packet: Any, arrival_time_ms: int) -> None:
            self.pt = self.pt or packet.payload_type
            self.ssrc = self.ssrc or packet.ssrc
            if packet.payload_type == self.pt:
                descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
                if descriptor.partition_start and self._parts:
                    self.frames.append((self._ids, b"".join(self._parts)))
                    self._parts = []
                if descriptor.partition_start:
                    self._ids = (descriptor.picture_id or 0, descriptor.tl0picidx or 0)
                self._parts.append(data)
            await handle(packet, arrival_time_ms)

        receiver._handle_rtp_packet = record

    async def remb(self, bitrate: int) -> None:
        """Tell the sender this viewer can take `bitrate` bit/s (a REMB)."""
        assert self.ssrc is not None
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=self.receiver._RTCRtpReceiver__rtcp_ssrc, media_ssrc=0
        )
        packet.fci = pack_remb_fci(bitrate, [self.ssrc])
        await self.receiver._send_rtcp(packet)

    def decode(self) -> tuple[int, int]:
        """Frames decoded and decoding errors, from the first keyframe on."""
        decoder = av.CodecContext.create("vp8", "r")
        frames = [f for _, f in self.frames]
        start = next(i for i, f in enumerate(frames) if not f[0] & 1)  # VP8 key: P bit 0
        decoded = errors = 0
        for data in frames[start:]:
            try:
                decoded += len(decoder.decode(av.Packet(data)))
            except av.FFmpegError:
                errors += 1
        return decoded, errors


async def viewer(client: Any, hub: MediaHub, viewer_id: str) -> tuple[ViewerPeer, Frames]:
    peer = ViewerPeer(hub.session, hub, viewer_id=viewer_id, family="v0")
    offer = await client.offer()
    frames = Frames(client)
    # The test speaks for the viewer: aiortc's own estimate would interleave its REMBs.
    frames.receiver._RTCRtpReceiver__remote_bitrate_estimator = None
    await client.accept(await peer.answer(offer, client.mapping))
    return peer, frames


async def test_a_viewer_far_below_another_gets_half_the_frames_and_decodes_them_all(
    make_textured_hub, make_client, wait_until
):
    hub = await make_textured_hub(low_stream=False)
    full_client = make_client(outputs=(("main_video", "video"),), labels=())
    base_client = make_client(outputs=(("main_video", "video"),), labels=())
    full_peer, full = await viewer(full_client, hub, "viewer-full")
    base_peer, base = await viewer(base_client, hub, "viewer-base")
    try:
        await wait_until(lambda: full.ssrc is not None and base.ssrc is not None, timeout=10)
        await full.remb(6_000_000)
        await base.remb(800_000)
        await wait_until(lambda: base_peer.outbound["main_video"].base_layer_only, timeout=3)
        pipeline = hub._video["main_video"]
        # The stream follows the other viewer, bounded so the base layer fits 0.8 Mbit/s.
        await wait_until(lambda: pipeline.bitrate("vp8") == 1_333_333, timeout=3)
        counts = len(full_client.frames["main_video"]), len(base_client.frames["main_video"])
        since = time.monotonic()
        await wait_until(lambda: time.monotonic() - since >= 2.0, timeout=3)
        got_full = len(full_client.frames["main_video"]) - counts[0]
        got_base = len(base_client.frames["main_video"]) - counts[1]
        elapsed = time.monotonic() - since
        assert got_full / elapsed >= 24, f"the full viewer: {got_full / elapsed:.1f} fps"
        assert 0.4 < got_base / got_full < 0.6, (got_base, got_full)
        for frames in (full.frames, base.frames):  # one sequence each, whatever it skips
            for (a, _), (b, _) in itertools.pairwise(frames):
                assert b == ((a[0] + 1) % 32768, (a[1] + 1) % 256)
        decoded, errors = base.decode()
        assert errors == 0 and decoded >= len(base.frames) - 1
        layers = hub.stats()["video"]["main_video"]["layers"]["vp8"]
        assert layers == {
            "low_stream": 0,
            "base_layer_only": 1,
            "switches_down": 1,
            "switches_up": 0,
        }
        track = base_peer.stats()["tracks"]["main_video"]
        assert track["base_layer_only"] and track["layer_skipped"] >= got_base - 2
    finally:
        await full_peer.close("test over")
        await base_peer.close("test over")


async def test_layering_and_the_low_stream_can_be_turned_off_per_hub(
    session, make_textured_hub, make_client
):
    with pytest.raises(ValueError, match="temporal_layers: expected 1 or 2, got 3"):
        MediaHub(session, temporal_layers=3)
    hub = await make_textured_hub(temporal_layers=1, low_stream=False)
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer, _ = await viewer(client, hub, "viewer-1")
    try:
        await client.wait_frames("main_video", 3)
        pipeline = hub._video["main_video"]
        assert pipeline._encoders["vp8"].temporal_layers == 1
        assert pipeline.rates["vp8"].layers is None
        assert hub.stats()["video"]["main_video"]["layers"] == {}
    finally:
        await peer.close("test over")
