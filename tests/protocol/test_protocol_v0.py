"""V0Codec: the JS SDK's JSON envelope (WIRE.md §4) plus our browser page's extension."""

import json

import pytest

from reactor_runtime.protocol import (
    MAX_MESSAGE_SIZE,
    Capabilities,
    ClipFailed,
    CommandIn,
    CommandReply,
    FileUploaded,
    FrameTooLargeError,
    Malformed,
    ModelOut,
    Ping,
    PublishReply,
    RequestCapabilities,
    RequestSchema,
    RuntimeNotice,
    Schema,
    SessionEnded,
    TrackControl,
    UnsupportedRequest,
    V0Codec,
)

codec = V0Codec()


def decode(obj):
    return codec.decode("data", json.dumps(obj))


def encode_one(msg):
    frames = codec.encode(msg)
    assert len(frames) == 1
    label, frame = frames[0]
    assert label == "data"
    assert isinstance(frame, str)
    return json.loads(frame)


# ---------------------------------------------------------------- decoding


def test_application_envelope_dispatches_command_with_its_arguments():
    frame = '{"scope":"application","data":{"type":"set_prompt","data":{"prompt":"a forest"}}}'
    assert codec.decode("data", frame) == [
        CommandIn(name="set_prompt", args={"prompt": "a forest"}, request_id=None)
    ]


def test_application_envelope_may_carry_a_request_id_for_our_page():
    frames = decode(
        {"scope": "application", "request_id": "r1", "data": {"type": "go", "data": {"n": 3}}}
    )
    assert frames == [CommandIn(name="go", args={"n": 3}, request_id="r1")]


def test_command_without_inner_data_gets_empty_arguments():
    assert decode({"scope": "application", "data": {"type": "reset"}}) == [
        CommandIn(name="reset", args={})
    ]


def test_binary_frame_holding_utf8_json_decodes_like_text():
    frame = json.dumps({"scope": "application", "data": {"type": "x", "data": {}}}).encode()
    assert codec.decode("data", frame) == [CommandIn(name="x", args={})]


@pytest.mark.parametrize(
    ("runtime_type", "expected"),
    [
        ("ping", Ping()),
        ("requestCapabilities", RequestCapabilities()),
        ("requestSchema", RequestSchema(request_id=None)),
    ],
)
def test_runtime_envelopes_decode_to_runtime_requests(runtime_type, expected):
    assert decode({"scope": "runtime", "data": {"type": runtime_type, "data": {}}}) == [expected]


def test_request_schema_keeps_its_request_id():
    frames = decode({"scope": "runtime", "request_id": "s", "data": {"type": "requestSchema"}})
    assert frames == [RequestSchema(request_id="s")]


def test_runtime_track_controls_decode_for_our_page():
    frames = decode(
        {
            "scope": "runtime",
            "request_id": "p",
            "data": {"type": "publishTrack", "data": {"name": "cam"}},
        }
    )
    assert frames == [TrackControl(action="publish", track="cam", request_id="p")]
    frames = decode({"scope": "runtime", "data": {"type": "pauseTrack", "data": {"name": "v"}}})
    assert frames == [TrackControl(action="pause", track="v", request_id=None)]


def test_file_uploaded_decodes_to_a_notice_never_answered():
    data = {"upload_id": "u", "name": "a.png", "mime_type": "image/png", "size": 1}
    frames = decode({"scope": "runtime", "data": {"type": "fileUploaded", "data": data}})
    assert frames == [FileUploaded("u", "a.png", "image/png", 1)]


def test_a_command_names_its_uploads_by_parameter():
    ref = {"upload_id": "u1", "name": "a.png", "mime_type": "image/png", "size": 4}
    inner = {"type": "set_overlay", "data": {"opacity": 1}, "uploads": {"image": ref}}
    [command] = decode({"scope": "application", "data": inner})
    assert command == CommandIn("set_overlay", {"opacity": 1}, uploads={"image": "u1"})


def test_an_upload_reference_without_its_id_is_malformed():
    inner = {"type": "set_overlay", "data": {}, "uploads": {"image": {"name": "a.png"}}}
    [frame] = decode({"scope": "application", "data": inner})
    assert isinstance(frame, Malformed) and "data.uploads.image" in frame.reason


def test_unknown_runtime_type_is_malformed_and_never_answered():
    frames = decode({"scope": "runtime", "data": {"type": "whatever", "data": {}}})
    assert len(frames) == 1
    assert isinstance(frames[0], Malformed)
    assert "whatever" in frames[0].reason


def test_unknown_runtime_type_with_a_request_id_is_unsupported():
    frames = decode({"scope": "runtime", "request_id": "q", "data": {"type": "nope"}})
    assert frames == [UnsupportedRequest(request_id="q", what="runtime 'nope'")]


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json",
        "{",
        "[]",
        "42",
        "null",
        '"text"',
        "{}",
        '{"scope":"application"}',
        '{"scope":"application","data":[]}',
        '{"scope":"application","data":{}}',
        '{"scope":"application","data":{"type":""}}',
        '{"scope":"application","data":{"type":7,"data":{}}}',
        '{"scope":"application","data":{"type":"x","data":[1]}}',
        '{"scope":"application","data":{"type":"x","data":"s"}}',
        '{"scope":"elsewhere","data":{"type":"x","data":{}}}',
        '{"data":{"type":"x","data":{}}}',
        '{"scope":"application","request_id":5,"data":{"type":"x","data":{}}}',
        '{"scope":"runtime","data":{"type":"publishTrack","data":{}}}',
        "[" * 100_000,
        b"\xff\xfe{",
        b"\x80",
    ],
)
def test_malformed_frames_decode_to_malformed_without_raising(frame):
    frames = codec.decode("data", frame)
    assert len(frames) == 1
    assert isinstance(frames[0], Malformed)


# ---------------------------------------------------------------- encoding


def test_model_output_is_an_application_text_frame():
    assert encode_one(ModelOut(type="progress", data={"step": 3})) == {
        "scope": "application",
        "data": {"type": "progress", "data": {"step": 3}},
    }


def test_capabilities_become_model_capabilities_with_string_descriptions():
    caps = Capabilities(
        commands=[
            {"name": "set_prompt", "description": "Set the prompt", "schema": {}},
            {"name": "bare"},
            {"name": "none", "description": None},
        ],
        tracks=[{"name": "main_video", "kind": "video", "direction": "recvonly"}],
    )
    frame = encode_one(caps)
    assert frame["scope"] == "runtime"
    assert frame["data"]["type"] == "modelCapabilities"
    commands = frame["data"]["data"]["commands"]
    assert [c["name"] for c in commands] == ["set_prompt", "bare", "none"]
    assert all(isinstance(c["description"], str) for c in commands)
    assert commands[0]["schema"] == {}
    assert frame["data"]["data"]["tracks"] == caps.tracks


def test_empty_capabilities_still_carry_a_commands_list():
    assert encode_one(Capabilities())["data"]["data"]["commands"] == []


def test_reply_without_request_id_is_an_ordinary_application_message():
    frame = encode_one(CommandReply(request_id=None, message=("ok", {"v": 1})))
    assert frame == {"scope": "application", "data": {"type": "ok", "data": {"v": 1}}}


def test_error_without_request_id_is_a_runtime_command_error():
    frame = encode_one(CommandReply(request_id=None, error=("invalid_command", "bad")))
    assert frame == {
        "scope": "runtime",
        "data": {"type": "commandError", "data": {"code": "invalid_command", "message": "bad"}},
    }


def test_bare_ack_without_request_id_sends_nothing():
    assert codec.encode(CommandReply(request_id=None)) == []


def test_reply_with_request_id_is_a_runtime_command_reply():
    frame = encode_one(CommandReply(request_id="r1", message=("ok", {"v": 1})))
    assert frame == {
        "scope": "runtime",
        "data": {
            "type": "commandReply",
            "data": {
                "request_id": "r1",
                "message": {"type": "ok", "data": {"v": 1}},
                "error": None,
            },
        },
    }
    frame = encode_one(CommandReply(request_id="r2", error=("internal_error", "boom")))
    assert frame["data"]["data"] == {
        "request_id": "r2",
        "message": None,
        "error": {"code": "internal_error", "message": "boom"},
    }
    assert encode_one(CommandReply(request_id="r3"))["data"]["data"] == {
        "request_id": "r3",
        "message": None,
        "error": None,
    }


def test_runtime_notice_is_a_runtime_error_frame():
    frame = encode_one(RuntimeNotice(code="internal_error", message="run() crashed, restarting"))
    assert frame == {
        "scope": "runtime",
        "data": {
            "type": "error",
            "data": {"code": "internal_error", "message": "run() crashed, restarting"},
        },
    }


def test_session_ended_is_a_runtime_frame_with_the_reason():
    frame = encode_one(SessionEnded(reason="stopped"))
    assert frame == {
        "scope": "runtime",
        "data": {"type": "sessionEnded", "data": {"reason": "stopped"}},
    }


def test_correlated_runtime_replies_carry_the_request_id_on_the_envelope():
    schema = encode_one(Schema(request_id="s1", openapi={"openapi": "3.1.0"}))
    assert schema["request_id"] == "s1"
    assert schema["data"] == {"type": "modelSchema", "data": {"openapi": "3.1.0"}}
    published = encode_one(PublishReply(request_id="p1", name="cam"))
    assert published["request_id"] == "p1"
    assert published["data"]["data"] == {"name": "cam", "error": None}
    failed = encode_one(ClipFailed(request_id="c1", reason="no recording"))
    assert failed["data"] == {"type": "clipFailed", "data": {"reason": "no recording"}}


def test_uncorrelated_schema_has_no_request_id_key():
    assert "request_id" not in encode_one(Schema(request_id=None, openapi={}))


def test_non_ascii_text_survives_encoding():
    frame = encode_one(ModelOut(type="caption", data={"text": "forêt 🌲"}))
    assert frame["data"]["data"]["text"] == "forêt 🌲"


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {"x": float("inf")}])
def test_unserialisable_data_raises_value_error(bad):
    with pytest.raises(ValueError, match="ModelOut"):
        codec.encode(ModelOut(type="t", data=bad))


def test_frames_over_the_max_message_size_raise_naming_the_size():
    with pytest.raises(FrameTooLargeError, match=r"\d+ bytes") as info:
        codec.encode(ModelOut(type="blob", data={"b": "x" * MAX_MESSAGE_SIZE}))
    assert info.value.size > MAX_MESSAGE_SIZE
    assert isinstance(info.value, ValueError)


def test_frame_size_is_counted_in_utf8_bytes_not_characters():
    # 100k three-byte characters: under the limit in characters, over it in bytes.
    with pytest.raises(FrameTooLargeError):
        codec.encode(ModelOut(type="t", data={"s": "€" * 100_000}))


def test_frame_exactly_at_the_limit_is_allowed():
    overhead = len(codec.encode(ModelOut(type="t", data={"s": ""}))[0][1])
    frames = codec.encode(ModelOut(type="t", data={"s": "x" * (MAX_MESSAGE_SIZE - overhead)}))
    assert len(frames[0][1].encode()) == MAX_MESSAGE_SIZE
