"""A handler's reply too large for one data-channel message reaches its caller as an error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from google.protobuf.struct_pb2 import Struct

from reactor_runtime import ModelMessage, Output, ReactorModel, Video, event
from reactor_runtime.protocol import MAX_MESSAGE_SIZE
from reactor_runtime.protocol.reactor_wire.v1 import common_pb2, data_pb2, model_pb2
from reactor_runtime.session import Session

VIDEO_ONLY = (("main_video", "video"),)


class Still(Output):
    main_video: Video


class Blob(ModelMessage):
    text: str


class Talker(ReactorModel):
    output_type = Still

    def load(self, config: dict) -> None:
        pass

    async def run(self) -> None:
        await self.connected.wait()
        await self.emit(Still(main_video=np.zeros((16, 16, 3), np.uint8)))
        await self.disconnected.wait()

    @event(description="Reply with `size` characters")
    def blob(self, size: int) -> Blob:
        return Blob("x" * size)


@pytest.fixture
async def session():
    session = Session(Talker, name="talker")
    await session.start()
    try:
        yield session
    finally:
        await session.stop()


def v1_command(rid: str, size: int) -> bytes:
    data = Struct()
    data.update({"size": size})
    return data_pb2.DataClientMessage(
        request_id=rid,
        kind=common_pb2.MESSAGE_KIND_REQUEST,
        command=model_pb2.Command(type="blob", data=data),
    ).SerializeToString()


def v0_command(rid: str, size: int) -> str:
    data = {"type": "blob", "data": {"size": size}}
    return json.dumps({"scope": "application", "data": data, "request_id": rid})


async def test_an_oversized_v1_reply_becomes_an_error_naming_the_limit(make_peer, make_client):
    client = make_client(outputs=VIDEO_ONLY, labels=("data", "control"))
    peer = make_peer(family="v1")
    await client.connect(peer)
    await client.wait_open()
    client.channels["data"].send(v1_command("huge", MAX_MESSAGE_SIZE))
    reply = data_pb2.DataServerMessage.FromString(await client.next_message("data"))
    assert reply.request_id == "huge" and reply.error.code == "reply_too_large"
    assert f"limit of {MAX_MESSAGE_SIZE} bytes (MAX_MESSAGE_SIZE)" in reply.error.message
    assert peer.router.counters.dropped["reply_too_large"] == 1
    client.channels["data"].send(v1_command("small", 10))
    reply = data_pb2.DataServerMessage.FromString(await client.next_message("data"))
    assert reply.request_id == "small" and dict(reply.message.data)["text"] == "x" * 10


async def test_an_oversized_v0_reply_becomes_an_error_naming_the_limit(make_peer, make_client):
    client = make_client(outputs=VIDEO_ONLY)
    peer = make_peer(family="v0")
    await client.connect(peer)
    await client.wait_open()
    client.channels["data"].send(v0_command("huge", MAX_MESSAGE_SIZE))
    reply = json.loads(await client.next_message())
    body = reply["data"]["data"]
    assert reply["data"]["type"] == "commandReply" and body["request_id"] == "huge"
    assert body["error"]["code"] == "reply_too_large" and body["message"] is None
    assert "(MAX_MESSAGE_SIZE)" in body["error"]["message"]
    assert peer.router.counters.dropped["reply_too_large"] == 1
