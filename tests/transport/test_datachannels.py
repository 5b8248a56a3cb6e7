"""Data channels over real aiortc peers: v0 JSON, v1 protobuf, hostile frames."""

from __future__ import annotations

import json

from google.protobuf.struct_pb2 import Struct

from reactor_runtime.protocol import ModelOut
from reactor_runtime.protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
    track_pb2,
)
from reactor_runtime.transport.datachannel import WEBRTC_STRING

REQUEST = common_pb2.MESSAGE_KIND_REQUEST
RESPONSE = common_pb2.MESSAGE_KIND_RESPONSE
NOTIFICATION = common_pb2.MESSAGE_KIND_NOTIFICATION


def v0(scope: str, kind: str, data: dict | None = None) -> str:
    return json.dumps({"scope": scope, "data": {"type": kind, "data": data or {}}})


def command(rid: str, name: str, **args) -> bytes:
    data = Struct()
    data.update(args)
    return data_pb2.DataClientMessage(
        request_id=rid, kind=REQUEST, command=model_pb2.Command(type=name, data=data)
    ).SerializeToString()


def control(rid: str, **payload) -> bytes:
    kind = REQUEST if rid else NOTIFICATION
    return control_pb2.ControlClientMessage(
        request_id=rid, kind=kind, **payload
    ).SerializeToString()


async def data_reply(client) -> data_pb2.DataServerMessage:
    return data_pb2.DataServerMessage.FromString(await client.next_message("data"))


async def control_reply(client) -> control_pb2.ControlServerMessage:
    return control_pb2.ControlServerMessage.FromString(await client.next_message("control"))


async def test_v0_commands_dispatch_and_replies_come_back_as_json(make_peer, make_client):
    client = make_client()
    await client.connect(make_peer(family="v0"))
    await client.wait_open()
    data = client.channels["data"]

    data.send(v0("application", "set_level", {"value": 7}))
    reply = json.loads(await client.next_message())
    assert reply == {
        "scope": "application",
        "data": {"type": "echoed", "data": {"text": "level 7"}},
    }

    data.send(v0("runtime", "ping"))
    data.send(v0("runtime", "requestCapabilities"))
    caps = json.loads(await client.next_message())
    assert caps["scope"] == "runtime" and caps["data"]["type"] == "modelCapabilities"
    commands = {c["name"]: c for c in caps["data"]["data"]["commands"]}
    assert set(commands) == {"set_level", "say", "stall_for", "refuse"}
    assert all(isinstance(c["description"], str) for c in commands.values())
    assert {"name": "webcam", "kind": "video", "direction": "sendonly"} in caps["data"]["data"][
        "tracks"
    ]

    data.send(v0("application", "say", {"text": "hello"}))
    broadcast = json.loads(await client.next_message())
    assert broadcast["data"] == {"type": "echoed", "data": {"text": "hello"}}


async def test_v1_commands_schema_and_track_control_over_data_and_control(
    session, make_peer, make_client
):
    client = make_client(labels=("data", "control"))
    peer = make_peer(family=None)
    await client.connect(peer)
    await client.wait_open()
    data, ctrl = client.channels["data"], client.channels["control"]
    # The Python SDK's first frames: resume_track and ping notifications (no reply).
    ctrl.send(bytes.fromhex("10038a010c0a0a6d61696e5f766964656f"))
    ctrl.send(bytes.fromhex("10035200"))

    data.send(command("data_1", "set_level", value=9))
    reply = await data_reply(client)
    assert (reply.request_id, reply.kind) == ("data_1", RESPONSE)
    assert reply.message.type == "echoed" and dict(reply.message.data)["text"] == "level 9"

    data.send(command("data_2", "refuse"))
    reply = await data_reply(client)
    assert reply.request_id == "data_2" and (reply.error.code, reply.error.message) == (
        "nope",
        "not today",
    )

    data.send(command("data_3", "say", text="hi"))
    replies = [await data_reply(client), await data_reply(client)]
    ack = next(r for r in replies if r.request_id == "data_3")
    note = next(r for r in replies if r.request_id == "")
    assert ack.WhichOneof("payload") is None and ack.kind == RESPONSE
    assert note.kind == NOTIFICATION and note.message.type == "echoed"

    ctrl.send(control("ctrl_1", request_schema=platform_pb2.RequestSchema()))
    schema = await control_reply(client)
    assert schema.request_id == "ctrl_1" and schema.model_schema.openapi["openapi"] == "3.1.0"

    ctrl.send(control("ctrl_2", publish_track=track_pb2.PublishTrack(name="webcam")))
    published = await control_reply(client)
    assert published.request_id == "ctrl_2" and published.publish_track.name == "webcam"
    assert peer.hub.input_owner("webcam") == "viewer-1"

    ctrl.send(control("ctrl_3", publish_track=track_pb2.PublishTrack(name="bogus")))
    refused = await control_reply(client)
    assert refused.request_id == "ctrl_3" and refused.error.code == "publish_refused"

    ctrl.send(control("ctrl_4", request_clip=platform_pb2.RequestClip(duration_seconds=3)))
    clip = await control_reply(client)
    assert clip.request_id == "ctrl_4" and clip.clip_failed.reason == "recording not supported"
    assert peer.router.latch.version == "v1"


async def test_messages_wait_for_the_codec_and_go_out_in_order_once_it_is_known(
    make_peer, make_client, wait_until
):
    client = make_client(labels=("data",))
    peer = make_peer(family=None)
    await client.connect(peer)
    await client.wait_open()
    assert peer.router.send(ModelOut("echoed", {"text": "early"})) is False
    # A binary frame means v1; an empty envelope asks for nothing.
    client.channels["data"].send(data_pb2.DataClientMessage(kind=NOTIFICATION).SerializeToString())
    await wait_until(lambda: peer.router.latch.version == "v1")
    assert peer.router.send(ModelOut("echoed", {"text": "late"})) is True
    # The early message was held, not lost: it goes out first once the codec is fixed.
    early = await data_reply(client)
    assert early.message.type == "echoed" and dict(early.message.data) == {"text": "early"}
    late = await data_reply(client)
    assert late.message.type == "echoed" and dict(late.message.data) == {"text": "late"}


async def test_garbage_utf8_and_a_failing_handler_do_not_kill_the_connection(
    make_peer, make_client, wait_until
):
    client = make_client()
    peer = make_peer(family="v0")
    await client.connect(peer)
    await client.wait_open()
    await client.wait_frames("main_video", 3)

    def boom(_frame):
        raise RuntimeError("a handler that fails")

    peer.router.channels["data"].on("message", boom)
    stream = client.channels["data"].id
    (await client.pc.sctp._send(stream, WEBRTC_STRING, b'{"scope": "\xff\xfe'),)
    client.channels["data"].send(v0("application", "set_level", {"value": 3}))

    reply = json.loads(await client.next_message())
    assert reply["data"]["data"] == {"text": "level 3"}
    await wait_until(lambda: peer.router.malformed >= 1)
    seen = len(client.frames["main_video"])
    await client.wait_frames("main_video", seen + 10)
    assert peer.state == "connected"
    client.channels["data"].send(v0("application", "set_level", {"value": 4}))
    assert json.loads(await client.next_message())["data"]["data"] == {"text": "level 4"}
