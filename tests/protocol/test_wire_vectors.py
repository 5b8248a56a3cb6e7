"""WIRE.md §5.4: frames observed from the Python SDK 1.13.0, byte for byte."""

from reactor_runtime.protocol import (
    CommandIn,
    CommandReply,
    Ping,
    RequestSchema,
    TrackControl,
    V1Codec,
)
from reactor_runtime.protocol.reactor_wire.v1 import control_pb2, data_pb2

RESUME_MAIN_VIDEO = "10038a010c0a0a6d61696e5f766964656f"
PING = "10035200"
REQUEST_SCHEMA_CTRL_1 = "0a066374726c5f3110015a00"
PUBLISH_WEBCAM_CTRL_2 = "0a066374726c5f3210017a080a0677656263616d"
SET_PROMPT_DATA_1 = (
    "0a06646174615f31100152240a0a7365745f70726f6d707412160a140a0670726f6d7074120a1a08"
    "6120666f72657374"
)
ACK_DATA_1 = "0a06646174615f311002"


def test_resume_track_notification_decodes_to_resume_without_request_id():
    frames = V1Codec().decode("control", bytes.fromhex(RESUME_MAIN_VIDEO))
    assert frames == [TrackControl(action="resume", track="main_video", request_id=None)]


def test_ping_notification_decodes_to_ping():
    assert V1Codec().decode("control", bytes.fromhex(PING)) == [Ping()]


def test_request_schema_request_decodes_with_its_request_id():
    frames = V1Codec().decode("control", bytes.fromhex(REQUEST_SCHEMA_CTRL_1))
    assert frames == [RequestSchema(request_id="ctrl_1")]


def test_publish_track_request_decodes_to_publish_with_its_request_id():
    frames = V1Codec().decode("control", bytes.fromhex(PUBLISH_WEBCAM_CTRL_2))
    assert frames == [TrackControl(action="publish", track="webcam", request_id="ctrl_2")]


def test_v1_command_request_decodes_to_command_in():
    frames = V1Codec().decode("data", bytes.fromhex(SET_PROMPT_DATA_1))
    assert frames == [
        CommandIn(name="set_prompt", args={"prompt": "a forest"}, request_id="data_1")
    ]


def test_bodyless_ack_encodes_to_the_observed_bytes():
    frames = V1Codec().encode(CommandReply(request_id="data_1"))
    assert frames == [("data", bytes.fromhex(ACK_DATA_1))]


def test_client_vectors_reserialize_to_the_same_bytes():
    vectors = [
        (control_pb2.ControlClientMessage, RESUME_MAIN_VIDEO),
        (control_pb2.ControlClientMessage, PING),
        (control_pb2.ControlClientMessage, REQUEST_SCHEMA_CTRL_1),
        (control_pb2.ControlClientMessage, PUBLISH_WEBCAM_CTRL_2),
        (data_pb2.DataClientMessage, SET_PROMPT_DATA_1),
    ]
    for cls, hexed in vectors:
        raw = bytes.fromhex(hexed)
        assert cls.FromString(raw).SerializeToString(deterministic=True) == raw


def test_server_ack_vector_parses_as_a_payloadless_response():
    ack = data_pb2.DataServerMessage.FromString(bytes.fromhex(ACK_DATA_1))
    assert ack.request_id == "data_1"
    assert ack.kind == 2
    assert ack.WhichOneof("payload") is None
