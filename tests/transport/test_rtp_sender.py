"""Loss recovery and feedback through the bent aiortc sender, between real aiortc peers.

The client is an aiortc viewer; its receiver sends real NACK and PLI packets over the
loopback connection, and every RTP packet it receives is recorded on its way in.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from aiortc import rtcrtpsender
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    pack_remb_fci,
)

from reactor_runtime.transport import MediaHub, ViewerPeer
from reactor_runtime.transport.pacing import MAX_DELAY, PacedTransport, Pacer
from reactor_runtime.transport.packet_history import PacketHistory
from reactor_runtime.transport.packetizer import Vp8Packetizer
from reactor_runtime.transport.pipelines import KEYFRAME_MIN_INTERVAL
from reactor_runtime.transport.rtp_sender import SenderBridge, install_packetizer


class Recorder:
    """Every RTP packet a client's video receiver gets: (arrival, payload type, seq, payload)."""

    def __init__(self, client: Any) -> None:
        transceiver = next(t for t in client.pc.getTransceivers() if t.kind == "video")
        self.receiver = transceiver.receiver
        self.packets: list[tuple[float, int, int, bytes]] = []
        handle = self.receiver._handle_rtp_packet

        async def record(packet: Any, arrival_time_ms: int) -> None:
            self.packets.append(
                (time.monotonic(), packet.payload_type, packet.sequence_number, packet.payload)
            )
            self.ssrc = self.ssrc or packet.ssrc
            await handle(packet, arrival_time_ms)

        self.ssrc: int | None = None
        self.receiver._handle_rtp_packet = record

    def media(self) -> list[tuple[float, int, int, bytes]]:
        first_type = self.packets[0][1]
        return [p for p in self.packets if p[1] == first_type]

    def resent(self) -> set[int]:
        """Original sequence numbers of the RTX packets received."""
        first_type = self.packets[0][1]
        return {int.from_bytes(p[3][:2], "big") for p in self.packets if p[1] != first_type}

    async def nack(self, lost: list[int]) -> None:
        await self.receiver._send_rtcp_nack(self.ssrc, lost)

    async def pli(self) -> None:
        await self.receiver._send_rtcp_pli(self.ssrc)


@pytest.fixture
async def textured_hub(make_textured_hub):
    return await make_textured_hub()


async def connect(client: Any, hub: MediaHub, viewer_id: str = "viewer-1") -> ViewerPeer:
    peer = ViewerPeer(hub.session, hub, viewer_id=viewer_id, family="v0")
    offer = await client.offer()
    recorder = client.recorder = Recorder(client)
    answer = await peer.answer(offer, client.mapping)
    await client.accept(answer)
    assert recorder is not None
    return peer


async def test_a_nack_for_a_packet_900_ms_old_is_answered(textured_hub, make_client, wait_until):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = await connect(client, textured_hub)
    try:
        recorder = client.recorder
        await wait_until(lambda: len(recorder.packets) > 10, timeout=10)
        arrived, _, seq, _ = recorder.media()[-1]
        await wait_until(lambda: time.monotonic() - arrived >= 0.9, timeout=2)
        later = sum(1 for p in recorder.media() if p[0] > arrived)
        assert later > 128, f"only {later} packets since: aiortc's own history would do"
        await recorder.nack([seq])
        await wait_until(lambda: seq in recorder.resent(), timeout=2)
        bridge = peer.outbound["main_video"].bridge
        assert bridge.retransmitted >= 1 and bridge.missed == 0
        assert bridge.pacer.paced > 0, "a keyframe's packets leave paced, not in one burst"
    finally:
        await peer.close("test over")


async def test_on_a_lossy_path_each_resend_goes_twice(textured_hub, make_client, wait_until):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = await connect(client, textured_hub)
    try:
        recorder = client.recorder
        await wait_until(lambda: len(recorder.packets) > 10, timeout=10)
        track = peer.outbound["main_video"]
        track.estimate.fraction_lost = 0.05  # what its receiver reports said
        seq = recorder.media()[-1][2]
        await recorder.nack([seq])

        def copies() -> int:
            first_type = recorder.packets[0][1]
            return sum(
                1
                for p in recorder.packets
                if p[1] != first_type and int.from_bytes(p[3][:2], "big") == seq
            )

        await wait_until(lambda: copies() == 2, timeout=2)
        assert track.bridge.repeated == 1 and track.bridge.retransmitted == 1
    finally:
        await peer.close("test over")


async def test_a_burst_of_nacks_past_the_budget_asks_for_a_keyframe_instead(
    textured_hub, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = await connect(client, textured_hub)
    try:
        recorder = client.recorder
        await wait_until(lambda: len(recorder.packets) > 150, timeout=10)
        bridge = peer.outbound["main_video"].bridge
        forced = textured_hub.stats()["video"]["main_video"]["keyframes_forced"].get("vp8", 0)
        # Every packet so far reported lost at once, as a collapsed queue would.
        await recorder.nack([p[2] for p in recorder.media()])
        await wait_until(lambda: bridge.budget.tripped > 0, timeout=2)
        assert 0 < bridge.retransmitted < len(recorder.media())
        await wait_until(
            lambda: (
                textured_hub.stats()["video"]["main_video"]["keyframes_forced"].get("vp8", 0)
                > forced
            ),
            timeout=3,
        )
    finally:
        await peer.close("test over")


async def test_a_nack_across_the_65535_to_0_wrap_is_answered(
    hub, make_peer, make_client, wait_until, monkeypatch
):
    monkeypatch.setattr(rtcrtpsender, "random_sequence_number", lambda: 65530)
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = make_peer()
    offer = await client.offer()
    recorder = Recorder(client)
    await client.accept(await peer.answer(offer, client.mapping))
    seen = lambda: {p[2] for p in recorder.packets}  # noqa: E731
    await wait_until(lambda: {65535, 0, 1} <= seen(), timeout=10)
    # One NACK item: pid 65535 and bit 0 of its bitmask (seq 0), as libwebrtc writes it.
    await recorder.nack([65535, 65536])
    await wait_until(lambda: {65535, 0} <= recorder.resent(), timeout=2)
    assert peer.outbound["main_video"].bridge.missed == 0


async def test_two_plis_from_two_viewers_within_the_window_give_one_keyframe(
    hub, make_peer, make_client, wait_until
):
    clients = [make_client(outputs=(("main_video", "video"),), labels=()) for _ in range(2)]
    recorders, peers = [], []
    for n, client in enumerate(clients):
        peer = make_peer(f"viewer-{n}")
        offer = await client.offer()
        recorders.append(Recorder(client))
        await client.accept(await peer.answer(offer, client.mapping))
        peers.append(peer)
    for client in clients:
        await client.wait_frames("main_video", 5)
    pipeline = hub._video["main_video"]
    # The joins' keyframes are made; the periodic one is a minute away (KEYFRAME_SECONDS).
    since = time.monotonic()
    await wait_until(lambda: time.monotonic() - since > KEYFRAME_MIN_INTERVAL + 0.05)
    forced = pipeline.keyframes_forced.get("vp8", 0)
    keyframes = pipeline.stats()["keyframes"]["vp8"]

    asked = time.monotonic()
    await recorders[0].pli()
    await wait_until(lambda: pipeline.keyframes_forced.get("vp8", 0) == forced + 1, timeout=2)
    second = peers[1].outbound["main_video"]
    await wait_until(lambda: (second._last_keyframe or 0) > asked, timeout=2)
    await recorders[1].pli()
    await wait_until(lambda: peers[1].outbound["main_video"].bridge.keyframe_requests == 1)
    await asyncio.sleep(KEYFRAME_MIN_INTERVAL + 0.1)  # a second keyframe would be made by now

    assert pipeline.keyframes_forced.get("vp8", 0) == forced + 1
    assert pipeline.stats()["keyframes"]["vp8"] == keyframes + 1
    shared = [p.outbound["main_video"].keyframe_requests_shared for p in peers]
    assert shared == [0, 1]


def test_the_history_keeps_packets_by_full_sequence_number_for_its_time_and_count():
    now = [0.0]
    history = PacketHistory(seconds=1.0, max_packets=300, clock=lambda: now[0])

    class Packet:
        def __init__(self, seq: int) -> None:
            self.sequence_number = seq

    for n in range(200):
        now[0] = n * 0.005
        history[n % 128] = Packet((65500 + n) % 65536)  # aiortc's key, ignored
    assert history.get(65500).sequence_number == 65500, "not overwritten by seq % 128"
    assert history.get(65536 + 10).sequence_number == 10, "NACKed numbers wrap at 65536"
    now[0] = 1.004
    assert history.get(65500) is None and history.get(65501) is not None
    for n in range(200, 600):
        history[0] = Packet((65500 + n) % 65536)
    assert len(history) == 300


def test_a_packet_is_resent_at_most_once_per_round_trip():
    now = [0.0]
    history = PacketHistory(clock=lambda: now[0])
    assert history.claim_resend(65536 + 7, interval=0.08)
    now[0] = 0.05
    assert not history.claim_resend(7, interval=0.08), "a repeated NACK: already on its way"
    now[0] = 0.081
    assert history.claim_resend(7, interval=0.08), "a round trip later: the resend was lost"


async def test_a_viewers_remb_and_heavy_loss_lower_the_encoder_rate_in_place(
    textured_hub, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = await connect(client, textured_hub)
    try:
        recorder = client.recorder
        # The test speaks for the client: its own estimator and reports would interleave.
        recorder.receiver._RTCRtpReceiver__remote_bitrate_estimator = None
        await wait_until(lambda: recorder.ssrc is not None, timeout=10)
        recorder.receiver._RTCRtpReceiver__rtcp_task.cancel()
        pipeline = textured_hub._video["main_video"]
        await wait_until(lambda: pipeline.bitrate("vp8") == 2_500_000, timeout=5)
        forced = pipeline.keyframes_forced.get("vp8", 0)
        rtcp_ssrc = recorder.receiver._RTCRtpReceiver__rtcp_ssrc

        remb = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0)
        remb.fci = pack_remb_fci(1_000_000, [recorder.ssrc])
        await recorder.receiver._send_rtcp(remb)
        await wait_until(lambda: pipeline.bitrate("vp8") == 1_000_000, timeout=3)

        # Two reports a second apart: 50 of 200 packets lost (25 %) in between.
        bridge = peer.outbound["main_video"].bridge
        for lost, highest in ((0, 1000), (50, 1200)):
            block = RtcpReceiverInfo(
                ssrc=recorder.ssrc,
                fraction_lost=0,
                packets_lost=lost,
                highest_sequence=highest,
                jitter=0,
                lsr=0,
                dlsr=0,
            )
            await recorder.receiver._send_rtcp(RtcpRrPacket(ssrc=rtcp_ssrc, reports=[block]))
            await wait_until(lambda: bridge.fraction_lost is not None, timeout=2)
            if not lost:
                since = time.monotonic()
                await wait_until(lambda: time.monotonic() - since > 1.05, timeout=2)  # noqa: B023
        await wait_until(lambda: pipeline.bitrate("vp8") == 875_000, timeout=3)

        track = peer.stats()["tracks"]["main_video"]
        assert track["rate"]["remb"] == 1_000_000 and track["rate"]["fraction_lost"] == 0.25
        assert pipeline.keyframes_forced.get("vp8", 0) == forced, "no keyframe for a rate"
        stats = textured_hub.stats()
        assert stats["video"]["main_video"]["rate_changes"]["vp8"] == 2
        assert stats["loss"]["rembs"] >= 1
    finally:
        await peer.close("test over")


def test_the_pacer_spreads_a_burst_at_two_and_a_half_times_the_rate_and_bounds_the_wait():
    now = [0.0]
    rate = [1_000_000]
    pacer = Pacer(lambda: rate[0], clock=lambda: now[0])
    delays = [pacer.delay(1250) for _ in range(6)]  # 10 kbit each, paced at 2.5 Mbit/s
    assert delays[:2] == [0.0, 0.0], "the first packets leave at once (5 ms of burst)"
    assert delays[2:] == pytest.approx([0.008, 0.012, 0.016, 0.020])
    now[0] = 2.0
    assert pacer.delay(1250) == 0.0, "an idle pacer holds nothing back"
    big = [pacer.delay(25_000) for _ in range(4)]  # 0.2 Mbit each: 80 ms at the pace
    assert big == pytest.approx([0.0, 0.084, 0.164, MAX_DELAY])
    assert pacer.overflows == 1
    rate[0] = None
    assert pacer.delay(125_000) == 0.0, "no rate yet: not paced"


def test_the_pacer_never_holds_a_stream_below_what_it_actually_sends():
    now = [0.0]
    pacer = Pacer(lambda: 100_000, clock=lambda: now[0])  # paced at 250 kbit/s
    for n in range(100):  # but 1.2 Mbit/s really comes out: 10 kB frames at 15 fps
        now[0] = n / 15
        pacer.produced(10_000)
        waits = [pacer.delay(1000) for _ in range(10)]
    assert waits[-1] < 1 / 15, "the pace follows the output: no backlog builds"


async def test_our_packetizer_replaces_aiortcs_and_writes_tl0picidx_and_tid(
    textured_hub, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = await connect(client, textured_hub)
    try:
        sender: Any = peer.outbound["main_video"].bridge.sender
        assert isinstance(sender._RTCRtpSender__encoder, Vp8Packetizer)
        await client.wait_frames("main_video", 6)
        starts = [
            VpxPayloadDescriptor.parse(p[3])[0]
            for p in client.recorder.media()
            if p[3][0] & 0x10  # S: a frame's first packet
        ]
        assert len(starts) >= 6 and all(d.tid == (0, 1) for d in starts), "one sequence"
        for a, b in itertools.pairwise(starts):
            assert b.picture_id == (a.picture_id + 1) % 32768
            assert b.tl0picidx == (a.tl0picidx + 1) % 256  # type: ignore[operator]
    finally:
        await peer.close("test over")


def test_a_packetizer_goes_where_aiortc_keeps_its_encoder_object_or_is_refused():
    sender: Any = rtcrtpsender.RTCRtpSender.__new__(rtcrtpsender.RTCRtpSender)
    sender._RTCRtpSender__encoder = None
    install_packetizer(sender, packetizer := Vp8Packetizer())
    assert sender._RTCRtpSender__encoder is packetizer
    with pytest.raises(RuntimeError, match=r"_RTCRtpSender__encoder is already set"):
        install_packetizer(sender, Vp8Packetizer())
    with pytest.raises(RuntimeError, match=r"no _RTCRtpSender__encoder.*rtp_sender\.py"):
        install_packetizer(object(), Vp8Packetizer())  # type: ignore[arg-type]


def test_an_aiortc_without_the_private_names_the_bridge_needs_is_refused_by_name():
    bridge = SenderBridge(object(), on_keyframe_request=lambda: None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match=r"_RTCRtpSender__rtp_history.*rtp_sender\.py"):
        bridge.install()


async def test_rtp_waits_in_the_pacer_and_rtcp_does_not():
    sent: list[bytes] = []

    class Transport:
        name = "dtls"

        async def _send_rtp(self, data: bytes) -> None:
            sent.append(data)

    pacer = Pacer(lambda: 80_000)  # 200 kbit/s: 1250 bytes take 50 ms
    paced = PacedTransport(Transport(), pacer)
    assert paced.name == "dtls", "everything else is the transport's"
    rtp, rtcp = bytes([0x80, 96]) + bytes(1248), bytes([0x80, 200]) + bytes(26)
    for data in (rtp, rtp, rtcp):
        await paced._send_rtp(data)
    assert pacer.paced == 1 and sent == [rtp, rtp, rtcp]
    started = time.monotonic()
    await paced._send_rtp(rtcp)
    assert time.monotonic() - started < 0.02, "a report does not wait behind media"
