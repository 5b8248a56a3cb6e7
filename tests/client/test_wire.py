"""The client's v1 frames match the official Python SDK's bytes (WIRE.md §5.4)."""

from __future__ import annotations

from reactor_runtime.client.wire import ClientCodec, Notice, Reply
from reactor_runtime.protocol import CommandReply, ModelOut, PublishReply, Schema, SessionEnded
from reactor_runtime.protocol.v1 import V1Codec


def test_requests_are_byte_identical_to_the_official_sdk():
    codec = ClientCodec()
    assert codec.request_schema() == ("ctrl_1", bytes.fromhex("0a066374726c5f3110015a00"))
    assert codec.publish_track("webcam") == (
        "ctrl_2",
        bytes.fromhex("0a066374726c5f3210017a080a0677656263616d"),
    )
    assert codec.command("set_prompt", {"prompt": "a forest"}) == (
        "data_1",
        bytes.fromhex(
            "0a06646174615f31100152240a0a7365745f70726f6d707412160a140a0670726f6d7074"
            "120a1a086120666f72657374"
        ),
    )


def test_notifications_are_byte_identical_to_the_official_sdk():
    assert ClientCodec.track_notice("resume_track", "main_video") == bytes.fromhex(
        "10038a010c0a0a6d61696e5f766964656f"
    )
    assert ClientCodec.ping() == bytes.fromhex("10035200")


def test_a_bodyless_ack_decodes_as_an_ack_reply():
    assert ClientCodec.decode("data", bytes.fromhex("0a06646174615f311002")) == Reply(
        "data_1", "ack"
    )


def test_what_the_server_codec_sends_decodes_back():
    server = V1Codec()
    [(label, frame)] = server.encode(CommandReply("data_3", message=("echoed", {"n": 3})))
    assert ClientCodec.decode(label, frame) == Reply("data_3", "message", ("echoed", {"n": 3}))
    [(label, frame)] = server.encode(CommandReply("data_4", error=("refused", "no")))
    assert ClientCodec.decode(label, frame) == Reply("data_4", "error", ("refused", "no"))
    [(label, frame)] = server.encode(ModelOut("tick", {"frame": 30}))
    assert ClientCodec.decode(label, frame) == Notice("message", ("tick", {"frame": 30}))
    [(label, frame)] = server.encode(Schema("ctrl_1", {"openapi": "3.1.0"}))
    assert label == "control"
    assert ClientCodec.decode(label, frame) == Reply("ctrl_1", "schema", {"openapi": "3.1.0"})
    [(label, frame)] = server.encode(PublishReply("ctrl_2", "webcam"))
    assert ClientCodec.decode(label, frame) == Reply("ctrl_2", "published", "webcam")
    [(label, frame)] = server.encode(SessionEnded("bye"))
    assert ClientCodec.decode(label, frame) == Notice("session_ended", "bye")


def test_garbage_text_and_unknown_channels_decode_to_none():
    assert ClientCodec.decode("data", b"\xff\xff\xff") is None
    assert ClientCodec.decode("data", '{"scope": "application"}') is None
    assert ClientCodec.decode("other", b"") is None
