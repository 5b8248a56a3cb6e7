"""Our .proto files match the WIRE.md §5.1 tables: names, numbers, oneof `payload`."""

import pytest
from google.protobuf.descriptor import FieldDescriptor

from reactor_runtime.protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
    track_pb2,
)

ENVELOPES = {
    data_pb2.DataClientMessage: {10: "command", 40: "error"},
    data_pb2.DataServerMessage: {10: "message", 40: "error"},
    control_pb2.ControlClientMessage: {
        10: "ping",
        11: "request_schema",
        12: "file_uploaded",
        13: "request_clip",
        14: "request_recording",
        15: "publish_track",
        16: "pause_track",
        17: "resume_track",
        18: "unpublish_track",
        40: "error",
    },
    control_pb2.ControlServerMessage: {
        10: "model_schema",
        11: "clip_ready",
        12: "clip_failed",
        13: "moderation",
        14: "publish_track",
        15: "session_ended",
        40: "error",
    },
}

LEAVES = {
    common_pb2.Error: {1: "code", 2: "message"},
    model_pb2.UploadReference: {1: "upload_id", 2: "name", 3: "mime_type", 4: "size"},
    model_pb2.Command: {1: "type", 2: "data", 3: "uploads"},
    model_pb2.ModelMessage: {1: "type", 2: "data"},
    platform_pb2.Ping: {},
    platform_pb2.RequestSchema: {},
    platform_pb2.RequestRecording: {},
    platform_pb2.ModelSchema: {1: "openapi"},
    platform_pb2.FileUploaded: {1: "upload_id", 2: "name", 3: "mime_type", 4: "size"},
    platform_pb2.RequestClip: {1: "duration_seconds"},
    platform_pb2.ClipReady: {
        1: "session_id",
        2: "kind",
        3: "start_marker",
        4: "end_marker",
        5: "now_marker",
        6: "predicted_ready_at_ms",
        7: "playlist_url",
    },
    platform_pb2.ClipFailed: {1: "reason"},
    platform_pb2.Moderation: {
        1: "action",
        2: "input_kind",
        3: "command",
        4: "categories",
        5: "message",
    },
    platform_pb2.SessionEnded: {1: "reason"},
    track_pb2.PublishTrack: {1: "name"},
    track_pb2.PauseTrack: {1: "name"},
    track_pb2.ResumeTrack: {1: "name"},
    track_pb2.UnpublishTrack: {1: "name"},
    track_pb2.PublishTrackResponse: {1: "name"},
}


def _fields(cls):
    return {f.number: f.name for f in cls.DESCRIPTOR.fields}


@pytest.mark.parametrize("cls", list(ENVELOPES), ids=lambda c: c.__name__)
def test_envelopes_have_request_id_kind_and_the_payload_oneof(cls):
    desc = cls.DESCRIPTOR
    assert desc.full_name == f"reactor_wire.v1.{desc.name}"
    assert _fields(cls) == {1: "request_id", 2: "kind", **ENVELOPES[cls]}
    assert [o.name for o in desc.oneofs] == ["payload"]
    assert {f.number for f in desc.oneofs_by_name["payload"].fields} == set(ENVELOPES[cls])


@pytest.mark.parametrize("cls", list(LEAVES), ids=lambda c: c.__name__)
def test_leaf_messages_have_the_documented_field_numbers(cls):
    assert cls.DESCRIPTOR.full_name == f"reactor_wire.v1.{cls.DESCRIPTOR.name}"
    assert _fields(cls) == LEAVES[cls]


def test_message_kind_enum_has_the_documented_numbers():
    assert dict(common_pb2.MessageKind.items()) == {
        "MESSAGE_KIND_UNSPECIFIED": 0,
        "MESSAGE_KIND_REQUEST": 1,
        "MESSAGE_KIND_RESPONSE": 2,
        "MESSAGE_KIND_NOTIFICATION": 3,
    }


def test_publish_track_reply_member_is_publish_track_response():
    member = control_pb2.ControlServerMessage.DESCRIPTOR.fields_by_name["publish_track"]
    assert member.message_type.name == "PublishTrackResponse"


def test_moderation_categories_is_repeated_and_sizes_are_int64():
    categories = platform_pb2.Moderation.DESCRIPTOR.fields_by_name["categories"]
    assert categories.is_repeated
    for cls in (model_pb2.UploadReference, platform_pb2.FileUploaded):
        assert cls.DESCRIPTOR.fields_by_name["size"].type == FieldDescriptor.TYPE_INT64


def test_proto_files_live_in_the_reactor_wire_v1_package():
    for module in (common_pb2, control_pb2, data_pb2, model_pb2, platform_pb2, track_pb2):
        name = module.DESCRIPTOR.name
        assert name.startswith("reactor_wire/v1/") and name.endswith(".proto")
        assert module.DESCRIPTOR.package == "reactor_wire.v1"
