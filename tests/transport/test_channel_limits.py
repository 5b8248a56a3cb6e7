"""Data-channel limits over real aiortc peers: size, rate, error replies, backlogs."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import pytest
from aiortc.rtcsctptransport import WEBRTC_BINARY, DataChunk
from google.protobuf.struct_pb2 import Struct

from reactor_runtime.protocol import ModelOut
from reactor_runtime.protocol.reactor_wire.v1 import common_pb2, data_pb2, model_pb2
from reactor_runtime.transport.limits import ChannelLimits, TokenBucket

REQUEST = common_pb2.MESSAGE_KIND_REQUEST


def command(rid: str, name: str, **args) -> bytes:
    data = Struct()
    data.update(args)
    return data_pb2.DataClientMessage(
        request_id=rid, kind=REQUEST, command=model_pb2.Command(type=name, data=data)
    ).SerializeToString()


async def reply(client, timeout: float = 5.0) -> data_pb2.DataServerMessage:
    return data_pb2.DataServerMessage.FromString(await client.next_message("data", timeout))


async def connected(make_peer, make_client, limits: ChannelLimits, family: str = "v1"):
    client = make_client(labels=("data", "control") if family == "v1" else ("data",))
    peer = make_peer(family=family, channel_limits=limits)
    await client.connect(peer)
    await client.wait_open()
    return client, peer


def test_a_token_bucket_starts_full_and_refills_at_its_rate():
    bucket = TokenBucket(rate=1000.0, burst=3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(5), "never more than the burst"


def test_limits_that_could_never_admit_a_maximal_message_are_refused():
    with pytest.raises(ValueError, match=r"byte_burst: expected >= max_message_bytes"):
        ChannelLimits(max_message_bytes=1000, byte_burst=999)
    with pytest.raises(ValueError, match="frames_per_second: expected > 0"):
        ChannelLimits(frames_per_second=0)


async def test_an_oversized_request_is_answered_with_an_error_naming_the_limit(
    make_peer, make_client
):
    limits = ChannelLimits(max_message_bytes=1000, byte_burst=4000)
    client, peer = await connected(make_peer, make_client, limits)
    data = client.channels["data"]
    data.send(command("big", "set_level", value=3, pad="x" * 2000))
    refused = await reply(client)
    assert refused.request_id == "big" and refused.error.code == "message_too_large"
    assert "over the limit of 1000 bytes (max_message_bytes)" in refused.error.message
    data.send(command("small", "set_level", value=3))
    answered = await reply(client)
    assert answered.request_id == "small" and answered.message.type == "echoed"
    assert peer.router.counters.refused == {"too_large": 1}


async def test_a_flood_is_refused_past_the_rate_and_its_error_replies_are_capped(
    make_peer, make_client, wait_until
):
    limits = ChannelLimits(
        frames_per_second=2, frame_burst=5, error_replies_per_second=1, error_reply_burst=8
    )
    client, peer = await connected(make_peer, make_client, limits)
    for i in range(40):
        client.channels["data"].send(command(f"f{i}", "no_such_command"))
    counters = peer.router.counters
    await wait_until(lambda: sum(counters.refused.values()) >= 35)
    errors = [(await reply(client)).error for _ in range(8)]
    # The first five were dispatched (and are unknown); three refusals fit the reply burst.
    assert Counter(e.code for e in errors) == {"invalid_command": 5, "rate_limited": 3}
    assert all("frames_per_second" in e.message for e in errors if e.code == "rate_limited")
    with pytest.raises(asyncio.TimeoutError):
        await reply(client, timeout=0.3)
    assert counters.refused["rate_limited"] >= 35
    assert counters.dropped["error_reply_rate"] >= 30
    assert peer.state == "connected"


async def test_v0_frames_over_a_limit_are_dropped_without_reply_and_counted(
    make_peer, make_client, wait_until
):
    limits = ChannelLimits(max_message_bytes=500, byte_burst=500)
    client, peer = await connected(make_peer, make_client, limits, family="v0")
    envelope = {"scope": "application", "data": {"type": "say", "data": {"text": "y" * 600}}}
    client.channels["data"].send(json.dumps(envelope))
    await wait_until(lambda: peer.router.counters.dropped["unanswered"] == 1)
    assert peer.router.counters.refused == {"too_large": 1}
    with pytest.raises(asyncio.TimeoutError):
        await client.next_message(timeout=0.3)


async def test_errors_quoting_client_input_are_cut_and_long_request_ids_get_no_reply(
    make_peer, make_client
):
    limits = ChannelLimits(max_error_text=100, max_request_id=16)
    client, peer = await connected(make_peer, make_client, limits)
    data = client.channels["data"]
    data.send(command("q" * 17, "set_level", value=1))
    data.send(command("long-name", "n" * 5000))
    error = (await reply(client)).error
    assert error.code == "invalid_command"
    assert len(error.message) < 200 and error.message.endswith("more characters)")
    assert peer.router.counters.refused == {"request_id_too_long": 1}


async def test_nothing_is_queued_past_the_outbound_backlog_of_a_client_that_does_not_read(
    make_peer, make_client, wait_until
):
    limits = ChannelLimits(max_buffered_bytes=20_000)
    client, peer = await connected(make_peer, make_client, limits)
    sctp = client.pc.sctp
    receive = sctp._receive_chunk

    async def deaf(chunk):
        if not isinstance(chunk, DataChunk):
            await receive(chunk)

    sctp._receive_chunk = deaf
    channel = peer.router.channels["data"]
    highest = 0
    for _ in range(200):
        peer.router.send(ModelOut("echoed", {"text": "z" * 4000}))
        highest = max(highest, channel.bufferedAmount)
        await asyncio.sleep(0)
    assert peer.router.counters.dropped["outbound_backlog"] > 100
    assert highest <= limits.max_buffered_bytes


async def test_sctp_chunks_past_the_backlog_are_refused_unacknowledged(
    make_peer, make_client, wait_until
):
    limits = ChannelLimits(
        max_message_bytes=4_000,
        byte_burst=4_000,
        max_sctp_backlog=20_000,
        sctp_bytes_per_second=1e9,
    )
    client, peer = await connected(make_peer, make_client, limits)
    server_sctp = peer.pc.sctp
    window = server_sctp._advertised_rwnd
    # A message far over max-message-size, sent past the client's own size check.
    stream = client.channels["data"].id
    await client.pc.sctp._send(stream, WEBRTC_BINARY, b"\x00" * 200_000)
    counters = peer.router.counters
    await wait_until(lambda: counters.dropped["sctp_backlog"] > 20, timeout=10)
    held = window - server_sctp._advertised_rwnd
    assert 20_000 < held <= 2 * 20_000
    seen = len(client.frames["main_video"])
    await client.wait_frames("main_video", seen + 10)
    assert peer.state == "connected"


async def test_a_connection_over_its_sctp_byte_rate_is_slowed_down_not_cut(
    make_peer, make_client, wait_until
):
    rate = 40_000
    limits = ChannelLimits(
        max_message_bytes=10_000,
        byte_burst=20_000,
        bytes_per_second=1e9,
        frames_per_second=1e9,
        max_sctp_backlog=20_000,
        sctp_bytes_per_second=rate,
    )
    client, peer = await connected(make_peer, make_client, limits)
    started = time.monotonic()
    for _ in range(6):  # 60 kB at once: three times the burst
        client.channels["data"].send(b"\x80" * 10_000)
    router = peer.router
    await wait_until(lambda: router.received == 6, timeout=15)
    elapsed = time.monotonic() - started
    assert router.counters.dropped["sctp_rate"] > 0
    assert elapsed >= (60_000 - 20_000) / rate * 0.9, "the sender was slowed to the rate"
    assert peer.state == "connected" and router.malformed == 6
