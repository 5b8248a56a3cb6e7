"""Wire v1: protobuf `reactor_wire.v1` frames on `data` and `control` (Python SDK, WIRE.md §5).

Correlation rules (§5.2): a frame expects a reply only when its kind is REQUEST and its
`request_id` is non-empty; the reply copies the id, has kind RESPONSE and goes out on the
channel the request came in on. Notifications are never answered. Every control response
sets a payload; on `data` a response without payload is a valid acknowledgement.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.message import Message as ProtoMessage

from reactor_runtime.protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
    track_pb2,
)
from reactor_runtime.protocol.structs import dict_to_struct, struct_to_dict
from reactor_runtime.protocol.vocabulary import (
    Capabilities,
    ClipFailed,
    CommandIn,
    CommandReply,
    FileUploaded,
    Frame,
    FrameMetadataOut,
    Inbound,
    Malformed,
    ModelOut,
    Outbound,
    Ping,
    PublishReply,
    RequestClip,
    RequestSchema,
    RuntimeNotice,
    Schema,
    SessionEnded,
    TrackAction,
    TrackControl,
    UnsupportedRequest,
    check_frame_size,
)

DATA_LABEL = "data"
CONTROL_LABEL = "control"

REQUEST = common_pb2.MESSAGE_KIND_REQUEST
RESPONSE = common_pb2.MESSAGE_KIND_RESPONSE
NOTIFICATION = common_pb2.MESSAGE_KIND_NOTIFICATION

_TRACK_PAYLOADS: dict[str, TrackAction] = {
    "publish_track": "publish",
    "pause_track": "pause",
    "resume_track": "resume",
    "unpublish_track": "unpublish",
}
# Bounds the memory a peer can pin by sending unanswered unsupported control requests.
_MAX_PENDING_CONTROL_IDS = 256


class V1Codec:
    """Translate between v1 protobuf frames and the internal vocabulary.

    One instance per connection: it remembers which unsupported requests arrived on
    `control`, so that their `CommandReply` error goes back on `control`.
    """

    version = "v1"

    def __init__(self) -> None:
        """Create a codec with no pending control requests."""
        self._control_ids: OrderedDict[str, None] = OrderedDict()

    def decode(self, label: str, frame: str | bytes) -> list[Inbound]:
        """Decode one inbound frame.

        Args:
            label: The data channel label, `data` or `control`.
            frame: One serialized `DataClientMessage` or `ControlClientMessage`.

        Returns:
            Zero or more inbound messages: `[]` for notifications that need no action
            (client telemetry, unknown payloads); `Malformed` for text frames, unknown
            labels and undecodable bytes. This never raises.
        """
        if isinstance(frame, str):
            return [Malformed(f"v1 frames are binary; got a text frame on {label!r}")]
        if label == DATA_LABEL:
            envelope: ProtoMessage = data_pb2.DataClientMessage()
        elif label == CONTROL_LABEL:
            envelope = control_pb2.ControlClientMessage()
        else:
            return [Malformed(f"v1 frame on unknown channel {label!r}")]
        try:
            envelope.ParseFromString(bytes(frame))
        except (DecodeError, ValueError, RecursionError) as exc:
            return [Malformed(f"v1 frame on {label!r} is not a valid envelope: {exc}")]
        if label == DATA_LABEL:
            return self._decode_data(envelope)
        return self._decode_control(envelope)

    def encode(self, msg: Outbound) -> list[Frame]:
        """Encode one outbound message into binary frames.

        Returns:
            `(label, bytes)` pairs; `[]` when v1 has no frame for `msg` (`Capabilities`,
            an uncorrelated bare acknowledgement).

        Raises:
            ValueError: The data cannot be carried as a protobuf Struct, a `CommandReply`
                to a control request has no error, or a frame would exceed the peer's
                max-message-size (`FrameTooLargeError`).
        """
        what = type(msg).__name__
        return [
            check_frame_size((label, envelope.SerializeToString()), what)
            for label, envelope in self._envelopes(msg, what)
        ]

    def refusal(
        self, label: str, frame: str | bytes, error: tuple[str, str], max_request_id: int
    ) -> list[Frame]:
        """The error reply to a frame refused before decoding, if it is a request.

        Only the envelope's first two fields are read (`peek_request_id`), so this costs
        the same for any frame size.

        Returns:
            One error frame on `label` when the frame is a REQUEST with a request id of
            at most `max_request_id` characters; `[]` otherwise.
        """
        if isinstance(frame, str) or label not in (DATA_LABEL, CONTROL_LABEL):
            return []
        # Tag, length (<= 3 bytes), the id, tag and kind: the rest is never looked at.
        rid = peek_request_id(bytes(frame[: max_request_id + 8]), max_request_id)
        if rid is None:
            return []
        if label == DATA_LABEL:
            envelope: ProtoMessage = _data(rid, error=_error(error))
        else:
            envelope = _control(rid, error=_error(error))
        return [check_frame_size((label, envelope.SerializeToString()), "refusal")]

    # ------------------------------------------------------------------ decoding

    def _decode_data(self, envelope: Any) -> list[Inbound]:
        rid = _request_id(envelope)
        if envelope.WhichOneof("payload") == "command":
            command = envelope.command
            args = struct_to_dict(command.data)
            uploads = {param: ref.upload_id for param, ref in command.uploads.items()}
            return [CommandIn(name=command.type, args=args, request_id=rid, uploads=uploads)]
        return self._unhandled(DATA_LABEL, envelope, rid)

    def _decode_control(self, envelope: Any) -> list[Inbound]:
        rid = _request_id(envelope)
        payload = envelope.WhichOneof("payload")
        if payload == "ping":
            return [Ping()]
        if payload == "request_schema":
            return [RequestSchema(request_id=rid)]
        if payload == "file_uploaded":
            # A notification (WIRE.md §5.3): never answered, even when sent as a request.
            done = envelope.file_uploaded
            return [FileUploaded(done.upload_id, done.name, done.mime_type, done.size)]
        if payload in _TRACK_PAYLOADS:
            name = getattr(envelope, payload).name
            return [TrackControl(action=_TRACK_PAYLOADS[payload], track=name, request_id=rid)]
        # A clip nobody waits for is not worth producing.
        if payload == "request_clip" and rid is not None:
            seconds = envelope.request_clip.duration_seconds
            return [RequestClip(request_id=rid, kind="clip", duration_seconds=seconds)]
        if payload == "request_recording" and rid is not None:
            return [RequestClip(request_id=rid, kind="recording")]
        if payload in ("request_clip", "request_recording"):
            return []
        return self._unhandled(CONTROL_LABEL, envelope, rid)

    def _unhandled(self, label: str, envelope: Any, rid: str | None) -> list[Inbound]:
        if rid is None:
            return []
        what = f"{label} {_describe_payload(envelope)}"
        if label == CONTROL_LABEL:
            self._control_ids[rid] = None
            while len(self._control_ids) > _MAX_PENDING_CONTROL_IDS:
                self._control_ids.popitem(last=False)
        return [UnsupportedRequest(request_id=rid, what=what)]

    # ------------------------------------------------------------------ encoding

    def _envelopes(self, msg: Outbound, what: str) -> list[tuple[str, ProtoMessage]]:
        match msg:
            case CommandReply():
                return self._command_reply(msg, what)
            case ModelOut(type=kind, data=data):
                return [(DATA_LABEL, _data(None, message=_model_message(kind, data, what)))]
            case Capabilities() | FrameMetadataOut():
                return []
            case Schema(request_id=rid, openapi=openapi):
                schema = platform_pb2.ModelSchema(openapi=dict_to_struct(openapi, what))
                return [(CONTROL_LABEL, _control(rid, model_schema=schema))]
            case PublishReply(request_id=rid, name=name, error=error):
                if error is not None:
                    return [(CONTROL_LABEL, _control(rid, error=_error(error)))]
                published = track_pb2.PublishTrackResponse(name=name)
                return [(CONTROL_LABEL, _control(rid, publish_track=published))]
            case ClipFailed(request_id=rid, reason=reason):
                failed = platform_pb2.ClipFailed(reason=reason)
                return [(CONTROL_LABEL, _control(rid, clip_failed=failed))]
            case SessionEnded(reason=reason):
                ended = platform_pb2.SessionEnded(reason=reason)
                return [(CONTROL_LABEL, _control(None, session_ended=ended))]
            case RuntimeNotice(code=code, message=message):
                # The SDK turns an uncorrelated error on `data` into a global error event.
                return [(DATA_LABEL, _data(None, error=_error((code, message))))]
        raise TypeError(f"V1Codec cannot encode {type(msg).__name__}")

    def _command_reply(self, reply: CommandReply, what: str) -> list[tuple[str, ProtoMessage]]:
        rid = reply.request_id
        message = None if reply.message is None else _model_message(*reply.message, what)
        error = None if reply.error is None else _error(reply.error)
        if rid is not None and rid in self._control_ids:
            del self._control_ids[rid]
            if error is None:
                raise ValueError(
                    f"request {rid!r} came in on control, where a reply must be an error; "
                    "answer an UnsupportedRequest with CommandReply(request_id, error=(...))"
                )
            return [(CONTROL_LABEL, _control(rid, error=error))]
        if rid is None and message is None and error is None:
            return []
        if message is not None:
            return [(DATA_LABEL, _data(rid, message=message))]
        if error is not None:
            return [(DATA_LABEL, _data(rid, error=error))]
        return [(DATA_LABEL, _data(rid))]


def peek_request_id(frame: bytes, max_length: int) -> str | None:
    """The request id of a serialized v1 REQUEST envelope, read from its first fields.

    protobuf writes fields in number order, so a request starts with field 1
    (`request_id`, length-delimited) then field 2 (`kind`, varint). Returns None when
    the frame does not start that way, is not a REQUEST, or its id is longer than
    `max_length` characters or not UTF-8.
    """
    length, pos = _varint(frame, 1) if frame[:1] == b"\x0a" else (None, 0)
    if length is None or length == 0 or length > max_length:
        return None
    end = pos + length
    if frame[end : end + 1] != b"\x10":
        return None
    kind, _ = _varint(frame, end + 1)
    if kind != REQUEST:
        return None
    try:
        return frame[pos:end].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _varint(data: bytes, pos: int) -> tuple[int | None, int]:
    value = shift = 0
    while pos < len(data) and shift < 35:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None, pos


def _request_id(envelope: Any) -> str | None:
    """Return the id owed a reply, or None when the frame is not a correlated request."""
    if envelope.kind == REQUEST and envelope.request_id:
        return str(envelope.request_id)
    return None


def _describe_payload(envelope: Any) -> str:
    payload = envelope.WhichOneof("payload")
    if payload is not None:
        return f"{payload!r} request"
    numbers = _unknown_field_numbers(envelope)
    if numbers:
        return f"request with unknown payload field {', '.join(map(str, numbers))}"
    return "request without payload"


def _unknown_field_numbers(envelope: Any) -> list[int]:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # pragma: no cover - very old protobuf runtimes
        return []
    return sorted({field.field_number for field in UnknownFieldSet(envelope)})


def _kind(rid: str | None) -> int:
    return NOTIFICATION if rid is None else RESPONSE


def _data(rid: str | None, **payload: Any) -> data_pb2.DataServerMessage:
    return data_pb2.DataServerMessage(request_id=rid or "", kind=_kind(rid), **payload)


def _control(rid: str | None, **payload: Any) -> control_pb2.ControlServerMessage:
    return control_pb2.ControlServerMessage(request_id=rid or "", kind=_kind(rid), **payload)


def _model_message(kind: str, data: dict[str, Any], what: str) -> model_pb2.ModelMessage:
    return model_pb2.ModelMessage(type=kind, data=dict_to_struct(data, what))


def _error(error: tuple[str, str]) -> common_pb2.Error:
    return common_pb2.Error(code=error[0], message=error[1])
