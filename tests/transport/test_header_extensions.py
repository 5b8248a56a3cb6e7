"""playout-delay is answered when offered and written on every video packet, min = max = 0;
abs-send-time is stamped when a packet leaves the pacer.

The client is a real aiortc peer whose offer gets the extmap line libwebrtc clients
write; every decrypted RTP packet its transport receives is kept as bytes and its
extension block read back by id.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiortc import clock
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RtpPacket

from reactor_runtime.transport.header_extensions import (
    ABS_SEND_TIME_URI,
    PLAYOUT_DELAY_LIMIT_MS,
    PLAYOUT_DELAY_URI,
    SenderExtensionMap,
    decode_playout_delay,
    encode_playout_delay,
    rewrite_extension,
    unpack_header_extensions,
)
from reactor_runtime.transport.pacing import PacedTransport, Pacer

OFFERED_ID = 12  # Chromium's id for it; above 14 would need the two-byte form


def offer_playout_delay(offer: str, extension_id: int = OFFERED_ID) -> str:
    """`offer` with playout-delay offered on its video section, as libwebrtc writes it."""
    head, video, *rest = re.split(r"(?=^m=)", offer, flags=re.M)
    line = f"a=extmap:{extension_id} {PLAYOUT_DELAY_URI}\r\n"
    assert video.startswith("m=video")
    return head + video.replace("a=mid:", line + "a=mid:", 1) + "".join(rest)


def record_rtp(client: Any) -> list[bytes]:
    """Every RTP packet (decrypted bytes) the client's transport receives from now on."""
    transport = next(t for t in client.pc.getTransceivers()).receiver.transport
    packets: list[bytes] = []
    handle = transport._handle_rtp_data

    async def record(data: bytes, arrival_time_ms: int) -> None:
        packets.append(data)
        await handle(data, arrival_time_ms)

    transport._handle_rtp_data = record
    return packets


def extensions(data: bytes) -> dict[int, bytes]:
    """The extension block of an RTP packet read straight from its bytes, by id."""
    if not data[0] & 0x10:
        return {}
    start = 12 + 4 * (data[0] & 0x0F)
    profile = int.from_bytes(data[start : start + 2], "big")
    words = int.from_bytes(data[start + 2 : start + 4], "big")
    block = data[start + 4 : start + 4 + 4 * words]
    return dict(unpack_header_extensions(profile, block))


async def watch_offering_playout_delay(client: Any, peer: Any, frames: int) -> list[bytes]:
    """Connect `client`, whose offer carries playout-delay, to `peer`; its RTP packets.

    Asserts the answer carries the extension back, and returns once `frames` video
    frames were decoded (the packets keep being recorded after).
    """
    offer = offer_playout_delay(await client.offer())
    answer = await peer.answer(offer, client.mapping)
    assert f"a=extmap:{OFFERED_ID} {PLAYOUT_DELAY_URI}" in answer
    packets = record_rtp(client)
    await client.accept(answer)
    await client.wait_frames("main_video", frames)
    return packets


async def test_an_offered_playout_delay_is_answered_and_every_video_packet_carries_0_0(
    make_peer, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    packets = await watch_offering_playout_delay(client, make_peer(), 10)
    assert len(packets) >= 10
    assert all(decode_playout_delay(extensions(p)[OFFERED_ID]) == (0, 0) for p in packets)


async def test_a_viewer_that_also_hears_audio_gets_only_the_loss_floor_so_lip_sync_keeps_room(
    make_peer, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"), ("main_audio", "audio")), labels=())
    peer = make_peer()
    packets = await watch_offering_playout_delay(client, peer, 5)
    assert packets and all(OFFERED_ID not in extensions(p) for p in packets), "none written"

    # Receiver reports that show 5 % loss: the floor rises, with no maximum.
    track = peer.outbound["main_video"]
    track._on_loss(0, 1000)
    track._on_loss(50, 2000)
    assert track.floor.floor_ms is not None and track.stats()["playout_floor_raised"] == 1
    mark = len(packets)
    await wait_until(lambda: any(OFFERED_ID in extensions(p) for p in packets[mark:]))
    stamped = [extensions(p)[OFFERED_ID] for p in packets[mark:] if OFFERED_ID in extensions(p)]
    assert decode_playout_delay(stamped[-1]) == (track.floor.floor_ms, PLAYOUT_DELAY_LIMIT_MS)


async def test_playout_delay_zero_asks_a_viewer_with_audio_to_show_frames_at_once_too(
    make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"), ("main_audio", "audio")), labels=())
    packets = await watch_offering_playout_delay(client, make_peer(playout_delay="zero"), 5)
    video = [p for p in packets if OFFERED_ID in extensions(p)]
    assert len(video) >= 5
    assert all(decode_playout_delay(extensions(p)[OFFERED_ID]) == (0, 0) for p in video)


async def test_playout_delay_off_answers_no_extension_even_when_offered(make_peer, make_client):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    offer = offer_playout_delay(await client.offer())
    answer = await make_peer(playout_delay="off").answer(offer, client.mapping)
    assert PLAYOUT_DELAY_URI not in answer


async def test_an_unknown_playout_delay_is_refused_by_name(make_peer):
    with pytest.raises(
        ValueError, match=r"playout_delay: expected one of auto, zero, off, got 'x'"
    ):
        make_peer(playout_delay="x")


async def test_a_client_that_does_not_offer_playout_delay_gets_none(make_peer, make_client):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    answer = await make_peer().answer(await client.offer(), client.mapping)
    assert PLAYOUT_DELAY_URI not in answer


def test_the_value_is_min_and_max_in_10_ms_units_of_12_bits():
    assert encode_playout_delay(0, 0) == b"\x00\x00\x00"
    assert decode_playout_delay(encode_playout_delay(100, 40950)) == (100, 40950)
    with pytest.raises(ValueError, match=r"max_ms: expected 0\.\.40950 ms"):
        encode_playout_delay(0, 50_000)
    with pytest.raises(ValueError, match="min_ms 20 is above max_ms 10"):
        encode_playout_delay(20, 10)


def stamped_packet(*ids: tuple[str, int]) -> bytes:
    """An RTP packet serialized by aiortc with mid, abs-send-time 0x123456 and playout-delay."""
    parameters = RTCRtpParameters(
        headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in ids]
    )
    extension_map = SenderExtensionMap()
    extension_map.enable_playout((0, 0))
    extension_map.configure(parameters)
    packet = RtpPacket(payload_type=96, sequence_number=7, timestamp=90_000)
    packet.extensions.mid = "0"
    packet.extensions.abs_send_time = 0x123456
    packet.payload = bytes(range(40))
    return packet.serialize(extension_map)


@pytest.mark.parametrize("abs_id", [3, 20])  # 20: the two-byte header form
def test_abs_send_time_is_rewritten_in_place_and_nothing_else_moves(abs_id):
    mid_uri = "urn:ietf:params:rtp-hdrext:sdes:mid"
    data = stamped_packet((mid_uri, 1), (ABS_SEND_TIME_URI, abs_id), (PLAYOUT_DELAY_URI, 12))
    rewritten = rewrite_extension(data, abs_id, b"\xab\xcd\xef")
    assert len(rewritten) == len(data)
    before, after = extensions(data), extensions(rewritten)
    assert before[abs_id] == b"\x12\x34\x56" and after[abs_id] == b"\xab\xcd\xef"
    assert {k: v for k, v in after.items() if k != abs_id} == {
        k: v for k, v in before.items() if k != abs_id
    }
    assert RtpPacket.parse(rewritten).payload == bytes(range(40))
    assert rewrite_extension(data, 9, b"\x00\x00\x00") is data, "no such extension: unchanged"
    assert rewrite_extension(data, abs_id, b"\x00") is data, "another length: unchanged"
    plain = RtpPacket(payload_type=96, sequence_number=1, timestamp=1).serialize()
    assert rewrite_extension(plain, abs_id, b"\x00\x00\x00") is plain


async def test_a_paced_packet_carries_the_abs_send_time_of_when_it_left_the_pacer():
    sent: list[tuple[float, bytes]] = []

    class Transport:  # the DTLS transport: it would encrypt what it gets
        async def _send_rtp(self, data: bytes) -> None:
            sent.append((clock.current_ntp_time(), data))

    data = stamped_packet((ABS_SEND_TIME_URI, 3))
    pacer = Pacer(lambda: 4_000)  # 10 kbit/s paced: each packet waits ~55 ms for the last
    paced = PacedTransport(Transport(), pacer, lambda: 3)
    for _ in range(3):
        await paced._send_rtp(data)
    assert pacer.paced == 2 and paced.restamped == 3
    for ntp, packet in sent:
        stamp = int.from_bytes(extensions(packet)[3], "big")
        now = (ntp >> 14) & 0xFFFFFF
        assert (now - stamp) % (1 << 24) < 2**18 * 0.005, "stamped within 5 ms of its send"
    stamps = [int.from_bytes(extensions(p)[3], "big") for _, p in sent]
    assert (stamps[-1] - stamps[0]) % (1 << 24) > 2**18 * 0.08, "the waits show"
