"""The client side of wire v1 (WIRE.md §5): requests out, replies and notifications in.

The client speaks only v1 (protobuf on `data` and `control`), as the official Python
SDK does. Outbound frames are `DataClientMessage` / `ControlClientMessage`; inbound
ones are decoded into the small `Reply` and `Notice` records below, so the session
never touches protobuf.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from ..protocol.reactor_wire.v1 import (
    common_pb2,
    control_pb2,
    data_pb2,
    model_pb2,
    platform_pb2,
    track_pb2,
)
from ..protocol.structs import dict_to_struct, struct_to_dict

DATA = "data"
CONTROL = "control"

REQUEST = common_pb2.MESSAGE_KIND_REQUEST
RESPONSE = common_pb2.MESSAGE_KIND_RESPONSE
NOTIFICATION = common_pb2.MESSAGE_KIND_NOTIFICATION


class CommandFailed(Exception):
    """The server answered a request with an error.

    Attributes:
        code: The machine-readable code, e.g. `invalid_command`, `publish_refused`,
            `internal_error`, or a model-defined `CommandError` code.
        message: The server's explanation, verbatim.
    """

    def __init__(self, code: str, message: str) -> None:
        """Record the server's `code` and `message`."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Reply:
    """A correlated response.

    Attributes:
        request_id: The id of the request it answers.
        kind: What it carries: `message`, `error`, `ack` (data, no payload),
            `schema`, `published` or `clip_failed`.
        value: `(type, data)` for `message`, `(code, text)` for `error`, the OpenAPI
            dict for `schema`, the track name for `published`, the reason for
            `clip_failed`, None for `ack`.
    """

    request_id: str
    kind: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Notice:
    """An uncorrelated server frame.

    Attributes:
        kind: `message` (value `(type, data)`), `error` (`(code, text)`),
            `session_ended` (the reason), `moderation` (a dict) or `other` (None).
        value: As above.
    """

    kind: str
    value: Any = None


class ClientCodec:
    """Mints request ids and translates frames; one per connection."""

    def __init__(self) -> None:
        """Start both id sequences at 1 (`data_1`, `ctrl_1`), as the official SDK does."""
        self._data_ids = (f"data_{n}" for n in itertools.count(1))
        self._control_ids = (f"ctrl_{n}" for n in itertools.count(1))

    # ------------------------------------------------------------------ outbound

    def command(
        self, name: str, args: dict[str, Any], uploads: dict[str, Any] | None = None
    ) -> tuple[str, bytes]:
        """A command REQUEST on `data`; returns `(request_id, frame)`.

        `uploads` maps parameters to files uploaded for them (`FileRef`s).

        Raises:
            ValueError: `args` cannot be carried as a protobuf Struct.
        """
        rid = next(self._data_ids)
        command = model_pb2.Command(type=name, data=dict_to_struct(args, f"command {name!r}"))
        for param, ref in (uploads or {}).items():
            command.uploads[param].CopyFrom(
                model_pb2.UploadReference(
                    upload_id=ref.upload_id, name=ref.name, mime_type=ref.mime_type, size=ref.size
                )
            )
        message = data_pb2.DataClientMessage(request_id=rid, kind=REQUEST, command=command)
        return rid, message.SerializeToString()

    def request_schema(self) -> tuple[str, bytes]:
        """A `RequestSchema` REQUEST on `control`."""
        rid = next(self._control_ids)
        message = control_pb2.ControlClientMessage(
            request_id=rid, kind=REQUEST, request_schema=platform_pb2.RequestSchema()
        )
        return rid, message.SerializeToString()

    def publish_track(self, name: str) -> tuple[str, bytes]:
        """A `PublishTrack` REQUEST on `control`."""
        rid = next(self._control_ids)
        message = control_pb2.ControlClientMessage(
            request_id=rid, kind=REQUEST, publish_track=track_pb2.PublishTrack(name=name)
        )
        return rid, message.SerializeToString()

    @staticmethod
    def track_notice(action: str, name: str) -> bytes:
        """A `resume_track`, `pause_track` or `unpublish_track` NOTIFICATION on `control`."""
        payload = {
            "resume_track": track_pb2.ResumeTrack,
            "pause_track": track_pb2.PauseTrack,
            "unpublish_track": track_pb2.UnpublishTrack,
        }[action](name=name)
        message = control_pb2.ControlClientMessage(kind=NOTIFICATION, **{action: payload})
        return message.SerializeToString()

    @staticmethod
    def file_uploaded(ref: Any) -> bytes:
        """A `FileUploaded` NOTIFICATION on `control` for the `FileRef` `ref`."""
        done = platform_pb2.FileUploaded(
            upload_id=ref.upload_id, name=ref.name, mime_type=ref.mime_type, size=ref.size
        )
        message = control_pb2.ControlClientMessage(kind=NOTIFICATION, file_uploaded=done)
        return message.SerializeToString()

    @staticmethod
    def ping() -> bytes:
        """A `Ping` NOTIFICATION on `control` (liveness)."""
        message = control_pb2.ControlClientMessage(kind=NOTIFICATION, ping=platform_pb2.Ping())
        return message.SerializeToString()

    # ------------------------------------------------------------------ inbound

    @staticmethod
    def decode(label: str, frame: str | bytes) -> Reply | Notice | None:
        """Decode one server frame; None for frames this client cannot read (never raises)."""
        if isinstance(frame, str) or label not in (DATA, CONTROL):
            return None
        envelope: Any = (
            data_pb2.DataServerMessage() if label == DATA else control_pb2.ControlServerMessage()
        )
        try:
            envelope.ParseFromString(bytes(frame))
        except (DecodeError, ValueError, RecursionError):
            return None
        payload = envelope.WhichOneof("payload")
        value = _payload_value(payload, envelope)
        if envelope.kind == RESPONSE and envelope.request_id:
            kind = "ack" if payload is None else _REPLY_KINDS.get(payload, payload)
            return Reply(envelope.request_id, kind, value)
        return Notice(payload if payload in _NOTICE_KINDS else "other", value)


_REPLY_KINDS = {"model_schema": "schema", "publish_track": "published"}
_NOTICE_KINDS = ("message", "error", "session_ended", "moderation")


def _payload_value(payload: str | None, envelope: Any) -> Any:
    if payload == "message":
        return envelope.message.type, struct_to_dict(envelope.message.data)
    if payload == "error":
        return envelope.error.code, envelope.error.message
    if payload == "model_schema":
        return struct_to_dict(envelope.model_schema.openapi)
    if payload == "publish_track":
        return envelope.publish_track.name
    if payload == "clip_failed":
        return envelope.clip_failed.reason
    if payload == "session_ended":
        return envelope.session_ended.reason
    if payload == "moderation":
        moderation = envelope.moderation
        return {
            "action": moderation.action,
            "input_kind": moderation.input_kind,
            "command": moderation.command,
            "categories": list(moderation.categories),
            "message": moderation.message,
        }
    return None
