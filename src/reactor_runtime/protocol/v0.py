"""Wire v0: JSON text frames on the `data` channel, as spoken by the JS SDK (WIRE.md §4).

Every frame is the envelope ``{"scope": "application" | "runtime", "data": {"type", "data"}}``;
a command's ``data`` may also carry ``"uploads": {param: UploadRef}``, the files it takes.

Extension for our own browser page (the JS SDK ignores unknown keys and types): an inbound
envelope may carry a top-level ``"request_id"``; replies to such requests carry it back,
commands as a runtime ``commandReply`` frame, other replies as a top-level ``"request_id"``
key on their usual envelope. Track control is available as runtime ``publishTrack``,
``unpublishTrack``, ``pauseTrack`` and ``resumeTrack`` frames with data ``{"name": str}``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

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
    RequestCapabilities,
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

_TRACK_ACTIONS: dict[str, TrackAction] = {
    "publishTrack": "publish",
    "unpublishTrack": "unpublish",
    "pauseTrack": "pause",
    "resumeTrack": "resume",
}


class V0Codec:
    """Translate between v0 JSON frames and the internal vocabulary.

    Stateless; one instance may serve any number of connections.
    """

    version = "v0"

    def decode(self, label: str, frame: str | bytes) -> list[Inbound]:
        """Decode one inbound frame.

        Args:
            label: The data channel label. v0 does not depend on it.
            frame: A text frame, or a binary frame holding UTF-8 JSON.

        Returns:
            Zero or more inbound messages. Anything undecodable (invalid UTF-8, bad JSON,
            a missing or mistyped envelope field) yields one `Malformed`; this never raises.
        """
        try:
            text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8")
            envelope = json.loads(text)
        except (TypeError, ValueError, RecursionError) as exc:
            return [Malformed(f"v0 frame on {label!r} is not UTF-8 JSON: {exc}")]
        try:
            return _decode_envelope(envelope)
        except _Invalid as exc:
            return [Malformed(f"v0 frame on {label!r}: {exc}")]

    def encode(self, msg: Outbound) -> list[Frame]:
        """Encode one outbound message into text frames for the `data` channel.

        Raises:
            ValueError: The message holds data that is not JSON-serialisable, or a frame
                would exceed the peer's max-message-size (`FrameTooLargeError`).
        """
        what = type(msg).__name__
        return [check_frame_size((DATA_LABEL, _dumps(env, what)), what) for env in _envelopes(msg)]

    def refusal(
        self, label: str, frame: str | bytes, error: tuple[str, str], max_request_id: int
    ) -> list[Frame]:
        """v0 has no error replies (WIRE.md §4): a refused frame gets none (`[]`)."""
        return []


class _Invalid(Exception):
    """A JSON value that is not a valid v0 envelope."""


def _decode_envelope(envelope: Any) -> list[Inbound]:
    if not isinstance(envelope, dict):
        raise _Invalid(f"envelope must be an object, got {type(envelope).__name__}")
    scope = envelope.get("scope")
    inner = envelope.get("data")
    if not isinstance(inner, dict):
        raise _Invalid("envelope 'data' must be an object")
    name = inner.get("type")
    if not isinstance(name, str) or not name:
        raise _Invalid("envelope 'data.type' must be a non-empty string")
    # The JS SDK omits 'data' when sendCommand gets undefined arguments.
    args = inner.get("data")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise _Invalid(f"'data.data' of {name!r} must be an object")
    request_id = envelope.get("request_id")
    if request_id is not None and not isinstance(request_id, str):
        raise _Invalid("'request_id' must be a string")

    if scope == "application":
        uploads = _upload_ids(inner.get("uploads"), name)
        return [CommandIn(name=name, args=args, request_id=request_id, uploads=uploads)]
    if scope != "runtime":
        raise _Invalid(f"'scope' must be 'application' or 'runtime', got {scope!r}")
    return _decode_runtime(name, args, request_id)


def _decode_runtime(name: str, args: dict[str, Any], request_id: str | None) -> list[Inbound]:
    if name == "ping":
        return [Ping()]
    if name == "requestCapabilities":
        return [RequestCapabilities()]
    if name == "requestSchema":
        return [RequestSchema(request_id=request_id)]
    if name in _TRACK_ACTIONS:
        track = args.get("name")
        if not isinstance(track, str):
            raise _Invalid(f"runtime {name!r} needs a string 'name'")
        return [TrackControl(action=_TRACK_ACTIONS[name], track=track, request_id=request_id)]
    if name == "fileUploaded":
        return [_file_uploaded(args)]
    if request_id is not None:
        return [UnsupportedRequest(request_id=request_id, what=f"runtime {name!r}")]
    return [Malformed(f"unknown v0 runtime message type {name!r}")]


def _upload_ids(uploads: Any, command: str) -> dict[str, str]:
    """The `uploads` map of a command as parameter -> upload id."""
    if uploads is None:
        return {}
    if not isinstance(uploads, dict):
        raise _Invalid(f"'data.uploads' of {command!r} must be an object of UploadRef")
    ids = {}
    for param, ref in uploads.items():
        upload_id = ref.get("upload_id") if isinstance(ref, dict) else None
        if not isinstance(upload_id, str):
            raise _Invalid(f"'data.uploads.{param}' of {command!r} needs a string 'upload_id'")
        ids[param] = upload_id
    return ids


def _file_uploaded(data: dict[str, Any]) -> FileUploaded:
    upload_id, size = data.get("upload_id"), data.get("size", 0)
    if not isinstance(upload_id, str):
        raise _Invalid("runtime 'fileUploaded' needs a string 'upload_id'")
    name, mime_type = data.get("name"), data.get("mime_type")
    return FileUploaded(
        upload_id,
        name if isinstance(name, str) else "",
        mime_type if isinstance(mime_type, str) else "",
        size if isinstance(size, int) and not isinstance(size, bool) else 0,
    )


def _envelopes(msg: Outbound) -> list[dict[str, Any]]:
    match msg:
        case CommandReply():
            return _command_reply(msg)
        case ModelOut(type=kind, data=data):
            return [_app(kind, data)]
        case Capabilities(commands=commands, tracks=tracks):
            caps = {"commands": [_command_cap(c) for c in commands], "tracks": list(tracks)}
            return [_runtime("modelCapabilities", caps)]
        case Schema(request_id=rid, openapi=openapi):
            return [_runtime("modelSchema", openapi, rid)]
        case PublishReply(request_id=rid, name=name, error=error):
            return [_runtime("publishTrack", {"name": name, "error": _error(error)}, rid)]
        case ClipFailed(request_id=rid, reason=reason):
            return [_runtime("clipFailed", {"reason": reason}, rid)]
        case SessionEnded(reason=reason):
            return [_runtime("sessionEnded", {"reason": reason})]
        case RuntimeNotice(code=code, message=message):
            return [_runtime("error", {"code": code, "message": message})]
        case FrameMetadataOut():
            return [_runtime("frameMetadata", _frame_metadata(msg))]
    raise TypeError(f"V0Codec cannot encode {type(msg).__name__}")


def _frame_metadata(msg: FrameMetadataOut) -> dict[str, Any]:
    return {
        "track": msg.track,
        "rtp_timestamp": msg.rtp_timestamp,
        "capture_time_us": msg.capture_time_us,
        "metadata": base64.b64encode(msg.metadata).decode("ascii"),
    }


def _command_reply(reply: CommandReply) -> list[dict[str, Any]]:
    if reply.request_id is not None:
        message = None
        if reply.message is not None:
            message = {"type": reply.message[0], "data": reply.message[1]}
        body = {"request_id": reply.request_id, "message": message, "error": _error(reply.error)}
        return [_runtime("commandReply", body)]
    # Without an id the JS SDK is the peer: replies are plain application messages.
    if reply.message is not None:
        return [_app(*reply.message)]
    if reply.error is not None:
        return [_runtime("commandError", _error(reply.error))]
    return []


def _command_cap(command: dict[str, Any]) -> dict[str, Any]:
    # JS's controller UI breaks on a command without a string description.
    description = command.get("description")
    return {**command, "description": description if isinstance(description, str) else ""}


def _error(error: tuple[str, str] | None) -> dict[str, str] | None:
    return None if error is None else {"code": error[0], "message": error[1]}


def _app(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"scope": "application", "data": {"type": kind, "data": data}}


def _runtime(kind: str, data: Any, request_id: str | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"scope": "runtime", "data": {"type": kind, "data": data}}
    if request_id is not None:
        envelope["request_id"] = request_id
    return envelope


def _dumps(envelope: dict[str, Any], what: str) -> str:
    try:
        # NaN/Infinity are not JSON: JSON.parse in the browser would reject the frame.
        return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc
