"""playout-delay is answered when offered and written on every video packet, min = max = 0.

The client is a real aiortc peer whose offer gets the extmap line libwebrtc clients
write; every decrypted RTP packet its transport receives is kept as bytes and its
extension block read back by id.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from reactor_runtime.transport.header_extensions import (
    PLAYOUT_DELAY_URI,
    decode_playout_delay,
    encode_playout_delay,
    unpack_header_extensions,
)

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


async def test_an_offered_playout_delay_is_answered_and_every_video_packet_carries_0_0(
    make_peer, make_client, wait_until
):
    client = make_client(outputs=(("main_video", "video"),), labels=())
    peer = make_peer()
    offer = offer_playout_delay(await client.offer())
    answer = await peer.answer(offer, client.mapping)
    assert f"a=extmap:{OFFERED_ID} {PLAYOUT_DELAY_URI}" in answer
    packets = record_rtp(client)
    await client.accept(answer)
    await client.wait_frames("main_video", 10)
    assert len(packets) >= 10
    assert all(decode_playout_delay(extensions(p)[OFFERED_ID]) == (0, 0) for p in packets)


async def test_a_viewer_that_also_hears_audio_gets_no_playout_delay_so_lip_sync_keeps_its_room(
    make_peer, make_client
):
    client = make_client(outputs=(("main_video", "video"), ("main_audio", "audio")), labels=())
    offer = offer_playout_delay(await client.offer())
    answer = await make_peer().answer(offer, client.mapping)
    assert PLAYOUT_DELAY_URI not in answer


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
