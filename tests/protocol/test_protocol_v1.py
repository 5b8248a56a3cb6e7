"""V1Codec: protobuf envelopes on `data` and `control` (WIRE.md §5.2, §5.3)."""

import pytest
from google.protobuf.struct_pb2 import Struct

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
    RequestClip,
    RequestSchema,
    RuntimeNotice,
    Schema,
    SessionEnded,
    TrackControl,
    UnsupportedRequest,
    V1Codec,
)
from reactor_runtime.protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
    track_pb2,
)

REQUEST = common_pb2.MESSAGE_KIND_REQUEST
RESPONSE = common_pb2.MESSAGE_KIND_RESPONSE
NOTIFICATION = common_pb2.MESSAGE_KIND_NOTIFICATION


def command(name, args, rid="", kind=REQUEST):
    data = Struct()
    data.update(args)
    msg = data_pb2.DataClientMessage(
        request_id=rid, kind=kind, command=model_pb2.Command(type=name, data=data)
    )
    return msg.SerializeToString()


def control(rid="", kind=NOTIFICATION, **payload):
    return control_pb2.ControlClientMessage(
        request_id=rid, kind=kind, **payload
    ).SerializeToString()


def one(frames, label):
    assert len(frames) == 1
    got_label, frame = frames[0]
    assert got_label == label
    assert isinstance(frame, bytes)
    cls = data_pb2.DataServerMessage if label == "data" else control_pb2.ControlServerMessage
    return cls.FromString(frame)


# ---------------------------------------------------------------- data channel


def test_command_arguments_coerce_integral_doubles_to_int():
    frames = V1Codec().decode(
        "data",
        command(
            "go", {"n": 3, "x": 0.5, "big": 1e300, "nested": {"k": [1, 2.5, None, True]}}, "d1"
        ),
    )
    [cmd] = frames
    assert cmd == CommandIn(
        name="go",
        args={"n": 3, "x": 0.5, "big": 1e300, "nested": {"k": [1, 2.5, None, True]}},
        request_id="d1",
    )
    assert type(cmd.args["n"]) is int
    assert type(cmd.args["big"]) is float


def test_command_notification_expects_no_reply():
    [cmd] = V1Codec().decode("data", command("go", {}, rid="", kind=NOTIFICATION))
    assert cmd.request_id is None


def test_command_request_with_empty_id_expects_no_reply():
    [cmd] = V1Codec().decode("data", command("go", {}, rid="", kind=REQUEST))
    assert cmd.request_id is None


def test_command_notification_with_a_stray_id_still_expects_no_reply():
    [cmd] = V1Codec().decode("data", command("go", {}, rid="x", kind=NOTIFICATION))
    assert cmd.request_id is None


def test_reply_message_is_a_correlated_response_on_data():
    reply = one(V1Codec().encode(CommandReply("data_7", message=("done", {"n": 2}))), "data")
    assert (reply.request_id, reply.kind) == ("data_7", RESPONSE)
    assert reply.message.type == "done"
    assert dict(reply.message.data) == {"n": 2.0}


def test_reply_error_is_a_correlated_response_on_data():
    reply = one(V1Codec().encode(CommandReply("data_8", error=("invalid_command", "no"))), "data")
    assert (reply.request_id, reply.kind) == ("data_8", RESPONSE)
    assert (reply.error.code, reply.error.message) == ("invalid_command", "no")


def test_bare_ack_response_has_no_payload():
    reply = one(V1Codec().encode(CommandReply("data_9")), "data")
    assert (reply.request_id, reply.kind) == ("data_9", RESPONSE)
    assert reply.WhichOneof("payload") is None


def test_uncorrelated_reply_message_is_a_notification_and_bare_ack_sends_nothing():
    reply = one(V1Codec().encode(CommandReply(None, message=("m", {}))), "data")
    assert (reply.request_id, reply.kind) == ("", NOTIFICATION)
    assert V1Codec().encode(CommandReply(None)) == []


def test_model_output_is_a_notification_with_empty_request_id_on_data():
    out = one(V1Codec().encode(ModelOut(type="progress", data={"step": 3})), "data")
    assert (out.request_id, out.kind) == ("", NOTIFICATION)
    assert out.message.type == "progress"
    assert out.message.data["step"] == 3


def test_runtime_notice_is_an_uncorrelated_error_on_data():
    out = one(V1Codec().encode(RuntimeNotice("internal_error", "run() crashed")), "data")
    assert (out.request_id, out.kind) == ("", NOTIFICATION)
    assert (out.error.code, out.error.message) == ("internal_error", "run() crashed")


def test_data_request_with_unknown_payload_is_unsupported():
    # Field 30: an unknown payload member, as a newer SDK's RequestStep would be.
    frame = data_pb2.DataClientMessage(request_id="data_3", kind=REQUEST).SerializeToString()
    frame += bytes([0xF2, 0x01, 0x00])
    [req] = V1Codec().decode("data", frame)
    assert isinstance(req, UnsupportedRequest)
    assert req.request_id == "data_3"
    assert "30" in req.what
    reply = one(V1Codec().encode(CommandReply("data_3", error=("unsupported", req.what))), "data")
    assert reply.error.code == "unsupported"


# ---------------------------------------------------------------- control channel


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"ping": platform_pb2.Ping()}, Ping()),
        ({"resume_track": track_pb2.ResumeTrack(name="v")}, TrackControl("resume", "v")),
        ({"pause_track": track_pb2.PauseTrack(name="v")}, TrackControl("pause", "v")),
        (
            {"unpublish_track": track_pb2.UnpublishTrack(name="cam")},
            TrackControl("unpublish", "cam"),
        ),
    ],
)
def test_control_notifications_decode_without_request_id(payload, expected):
    assert V1Codec().decode("control", control(**payload)) == [expected]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"request_clip": platform_pb2.RequestClip()},
        {"error": common_pb2.Error(code="x")},
    ],
)
def test_control_notifications_needing_nothing_decode_to_nothing(payload):
    assert V1Codec().decode("control", control(**payload)) == []


def test_file_uploaded_decodes_to_a_notice_even_when_sent_as_a_request():
    done = platform_pb2.FileUploaded(upload_id="u", name="a.png", mime_type="image/png", size=4)
    expected = [FileUploaded("u", "a.png", "image/png", 4)]
    assert V1Codec().decode("control", control(file_uploaded=done)) == expected
    assert V1Codec().decode("control", control("ctrl_3", REQUEST, file_uploaded=done)) == expected


def test_a_command_names_its_uploads_by_parameter():
    ref = model_pb2.UploadReference(upload_id="u1", name="a.png", mime_type="image/png", size=4)
    sent = model_pb2.Command(type="set_overlay", uploads={"image": ref})
    frame = data_pb2.DataClientMessage(request_id="data_1", kind=REQUEST, command=sent)
    [got] = V1Codec().decode("data", frame.SerializeToString())
    assert got == CommandIn("set_overlay", {}, "data_1", uploads={"image": "u1"})


def test_field_19_telemetry_notification_decodes_to_nothing():
    frame = control() + bytes([0x9A, 0x01, 0x03, 0x0A, 0x01, 0x41])
    assert V1Codec().decode("control", frame) == []


def test_field_19_request_with_an_id_is_unsupported_and_answered_on_control():
    codec = V1Codec()
    frame = control("ctrl_9", REQUEST) + bytes([0x9A, 0x01, 0x00])
    [req] = codec.decode("control", frame)
    assert req == UnsupportedRequest("ctrl_9", "control request with unknown payload field 19")
    reply = one(codec.encode(CommandReply("ctrl_9", error=("unsupported", req.what))), "control")
    assert (reply.request_id, reply.kind, reply.error.code) == ("ctrl_9", RESPONSE, "unsupported")


def test_control_request_reply_without_error_is_refused():
    codec = V1Codec()
    codec.decode("control", control("ctrl_4", REQUEST))
    with pytest.raises(ValueError, match="control"):
        codec.encode(CommandReply("ctrl_4"))


def test_schema_request_is_answered_with_a_correlated_model_schema_struct():
    codec = V1Codec()
    assert codec.decode(
        "control", control("ctrl_1", REQUEST, request_schema=platform_pb2.RequestSchema())
    ) == [RequestSchema("ctrl_1")]
    openapi = {"openapi": "3.1.0", "info": {"title": "demo", "version": "0.1"}, "paths": {}}
    reply = one(codec.encode(Schema("ctrl_1", openapi)), "control")
    assert (reply.request_id, reply.kind) == ("ctrl_1", RESPONSE)
    assert reply.WhichOneof("payload") == "model_schema"
    assert reply.model_schema.openapi["info"]["title"] == "demo"


def test_empty_schema_still_sets_the_payload():
    reply = one(V1Codec().encode(Schema("ctrl_1", {})), "control")
    assert reply.WhichOneof("payload") == "model_schema"


def test_publish_reply_is_a_correlated_publish_track_response():
    reply = one(V1Codec().encode(PublishReply("ctrl_2", "webcam")), "control")
    assert (reply.request_id, reply.kind) == ("ctrl_2", RESPONSE)
    assert reply.WhichOneof("payload") == "publish_track"
    assert reply.publish_track.name == "webcam"


def test_refused_publish_is_a_correlated_error():
    reply = one(
        V1Codec().encode(PublishReply("ctrl_3", "nope", ("publish_refused", "no"))), "control"
    )
    assert (reply.request_id, reply.kind) == ("ctrl_3", RESPONSE)
    assert reply.error.code == "publish_refused"


def test_clip_and_recording_requests_decode_to_request_clip():
    codec = V1Codec()
    clip = control("ctrl_5", REQUEST, request_clip=platform_pb2.RequestClip(duration_seconds=4.5))
    assert codec.decode("control", clip) == [RequestClip("ctrl_5", "clip", 4.5)]
    rec = control("ctrl_6", REQUEST, request_recording=platform_pb2.RequestRecording())
    assert codec.decode("control", rec) == [RequestClip("ctrl_6", "recording")]


def test_clip_failed_is_a_correlated_control_response():
    reply = one(V1Codec().encode(ClipFailed("ctrl_5", "recording disabled")), "control")
    assert (reply.request_id, reply.kind) == ("ctrl_5", RESPONSE)
    assert reply.clip_failed.reason == "recording disabled"


def test_session_ended_is_a_control_notification():
    out = one(V1Codec().encode(SessionEnded("stopped by operator")), "control")
    assert (out.request_id, out.kind) == ("", NOTIFICATION)
    assert out.session_ended.reason == "stopped by operator"


def test_capabilities_have_no_v1_frame():
    assert V1Codec().encode(Capabilities(commands=[{"name": "x", "description": ""}])) == []


@pytest.mark.parametrize(
    "msg",
    [
        Schema("ctrl_1", {}),
        Schema(None, {"a": 1}),
        PublishReply("ctrl_2", ""),
        PublishReply("ctrl_2", "x", ("publish_refused", "")),
        ClipFailed("ctrl_3", ""),
        SessionEnded(""),
    ],
)
def test_every_control_frame_sets_a_payload(msg):
    assert one(V1Codec().encode(msg), "control").WhichOneof("payload") is not None


# ---------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("label", "frame"),
    [
        ("data", b"\xff\xff\xff"),
        ("control", b"\x0a\x05ab"),
        ("control", b"\x0a\x02\xff\xfe"),
        ("data", "a text frame"),
        ("stats", b""),
    ],
)
def test_garbage_decodes_to_malformed(label, frame):
    [out] = V1Codec().decode(label, frame)
    assert isinstance(out, Malformed)


def test_empty_frame_is_an_empty_notification_and_decodes_to_nothing():
    assert V1Codec().decode("control", b"") == []
    assert V1Codec().decode("data", b"") == []


# ---------------------------------------------------------------- outbound guards


def test_oversized_frame_raises_naming_its_size():
    with pytest.raises(FrameTooLargeError, match=str(MAX_MESSAGE_SIZE)):
        V1Codec().encode(ModelOut(type="blob", data={"b": "x" * MAX_MESSAGE_SIZE}))


def test_data_a_struct_cannot_carry_raises_value_error():
    with pytest.raises(ValueError, match="ModelOut"):
        V1Codec().encode(ModelOut(type="t", data={"x": object()}))


def test_reply_with_message_and_error_is_rejected():
    with pytest.raises(ValueError):
        CommandReply("r", message=("m", {}), error=("e", "e"))
