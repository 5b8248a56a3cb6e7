"""Decoding hostile input never raises: it yields vocabulary (often `Malformed`)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from reactor_runtime.protocol import (
    CodecLatch,
    CommandIn,
    CommandReply,
    Malformed,
    ModelOut,
    V0Codec,
    V1Codec,
    sniff_frame,
)
from reactor_runtime.protocol.reactor_wire.v1 import common_pb2, data_pb2, model_pb2
from reactor_runtime.protocol.vocabulary import Inbound

LABELS = st.sampled_from(["data", "control", "other", ""])
INBOUND_TYPES = Inbound.__args__

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def _check(frames):
    assert isinstance(frames, list)
    assert all(isinstance(f, INBOUND_TYPES) for f in frames)


@settings(max_examples=400)
@given(label=LABELS, frame=st.binary(max_size=512) | st.text(max_size=512))
def test_arbitrary_frames_never_raise_from_either_codec(label, frame):
    _check(V0Codec().decode(label, frame))
    _check(V1Codec().decode(label, frame))
    sniff_frame(frame)
    CodecLatch().on_frame(frame)


@settings(max_examples=300)
@given(label=LABELS, value=json_values)
def test_arbitrary_json_never_raises_from_v0(label, value):
    _check(V0Codec().decode(label, json.dumps(value)))


@settings(max_examples=300)
@given(
    scope=st.sampled_from(["application", "runtime", "x", None]),
    kind=st.text(max_size=20) | st.sampled_from(["ping", "publishTrack", "requestSchema"]),
    data=json_values,
    request_id=st.none() | st.text(max_size=8) | st.integers(),
)
def test_near_valid_envelopes_never_raise_from_v0(scope, kind, data, request_id):
    envelope = {"scope": scope, "data": {"type": kind, "data": data}, "request_id": request_id}
    _check(V0Codec().decode("data", json.dumps(envelope)))


json_objects = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@settings(max_examples=200)
@given(name=st.text(max_size=20), args=json_objects)
def test_model_output_round_trips_through_v0(name, args):
    label, frame = V0Codec().encode(ModelOut(type=name, data=args))[0]
    envelope = {"scope": "application", "data": json.loads(frame)["data"]}
    [cmd] = V0Codec().decode(label, json.dumps(envelope))
    if name:
        assert cmd == CommandIn(name=name, args=args)


v1_json_objects = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**53), max_value=2**53)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    ),
    max_size=5,
)


@settings(max_examples=200)
@given(name=st.text(max_size=20), args=v1_json_objects, rid=st.text(min_size=1, max_size=10))
def test_command_arguments_round_trip_through_v1(name, args, rid):
    reply = V1Codec().encode(CommandReply(request_id=rid, message=(name, args)))
    [(label, frame)] = reply
    server = data_pb2.DataServerMessage.FromString(frame)
    client = data_pb2.DataClientMessage(
        request_id=rid,
        kind=common_pb2.MESSAGE_KIND_REQUEST,
        command=model_pb2.Command(type=server.message.type, data=server.message.data),
    )
    [cmd] = V1Codec().decode(label, client.SerializeToString())
    assert cmd == CommandIn(name=name, args=args, request_id=rid)


def test_deeply_nested_struct_decodes_to_malformed_not_recursion_error():
    inner = b""
    for _ in range(300):
        # Value{struct_value: Struct{fields: {"k": inner}}}
        entry = b"\x0a\x01k" + b"\x12" + _varint(len(inner)) + inner
        struct = b"\x0a" + _varint(len(entry)) + entry
        inner = b"\x2a" + _varint(len(struct)) + struct
    args = b"\x0a\x01k\x12" + _varint(len(inner)) + inner
    data = b"\x0a" + _varint(len(args)) + args
    command = b"\x0a\x01x\x12" + _varint(len(data)) + data
    frame = b"\x0a\x01r\x10\x01\x52" + _varint(len(command)) + command
    [out] = V1Codec().decode("data", frame)
    assert isinstance(out, Malformed)


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)
