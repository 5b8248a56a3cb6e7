"""The internal vocabulary the session speaks, whatever the viewer's wire protocol.

Codecs (`V0Codec`, `V1Codec`) translate wire frames into the *inbound* types and the
*outbound* types into wire frames. The session never sees JSON or protobuf.

A `request_id` of `None` means the peer expects no reply (a notification); a string means
exactly one reply carrying that id is owed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

TrackAction: TypeAlias = Literal["pause", "resume", "publish", "unpublish"]
ClipKind: TypeAlias = Literal["clip", "recording"]

# --------------------------------------------------------------------------- inbound


@dataclass(frozen=True, slots=True)
class CommandIn:
    """A model command sent by the viewer.

    Attributes:
        name: The command name (an `@event` name).
        args: The arguments, JSON-like. v1 numbers that are integral arrive as `int`.
        request_id: Correlation id; `None` means dispatch without replying.
        uploads: Parameter name -> the `upload_id` of the uploaded file it takes
            (the wire's `uploads` map, v0 `UploadRef` / v1 `UploadReference`).
    """

    name: str
    args: dict[str, Any]
    request_id: str | None = None
    uploads: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ping:
    """A liveness signal. Never answered."""


@dataclass(frozen=True, slots=True)
class FileUploaded:
    """The viewer says an upload finished (v0 runtime `fileUploaded`, v1 `file_uploaded`).

    A notification: never answered. `name`, `mime_type` and `size` are what the
    viewer claims; the runtime trusts its own record of the upload instead.
    """

    upload_id: str
    name: str = ""
    mime_type: str = ""
    size: int = 0


@dataclass(frozen=True, slots=True)
class RequestCapabilities:
    """The viewer asks for the command list; answer with `Capabilities`."""


@dataclass(frozen=True, slots=True)
class RequestSchema:
    """The viewer asks for the OpenAPI schema; answer with `Schema` (same `request_id`)."""

    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class TrackControl:
    """Pause, resume, publish or unpublish one track for this connection.

    Attributes:
        action: What to do. `publish` with a `request_id` is answered by `PublishReply`;
            the others are never answered.
        track: The track name from the session descriptor.
        request_id: Correlation id, or `None` for a notification.
    """

    action: TrackAction
    track: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class RequestClip:
    """A clip or recording request; answer with `ClipFailed` (or a future clip-ready reply).

    Attributes:
        request_id: Correlation id (always present: notifications are not surfaced).
        kind: `clip` for v1 `request_clip`, `recording` for v1 `request_recording`.
        duration_seconds: Requested clip length; 0.0 when unspecified.
    """

    request_id: str
    kind: ClipKind = "clip"
    duration_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class UnsupportedRequest:
    """A request this runtime does not implement, which still deserves an answer.

    Answer it with `CommandReply(request_id, error=("unsupported", ...))`; the codec sends
    that error on the channel the request came from.

    Attributes:
        request_id: The id to answer.
        what: A short description of the request, for the log and the error message.
    """

    request_id: str
    what: str


@dataclass(frozen=True, slots=True)
class Malformed:
    """A frame that could not be understood. Log it; never reply, never disconnect.

    Attributes:
        reason: Why decoding failed, for the log.
    """

    reason: str


Inbound: TypeAlias = (
    CommandIn
    | FileUploaded
    | Ping
    | RequestCapabilities
    | RequestSchema
    | TrackControl
    | RequestClip
    | UnsupportedRequest
    | Malformed
)

# --------------------------------------------------------------------------- outbound


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The reply to one command (or to an `UnsupportedRequest`).

    At most one of `message` and `error` is set; neither means a bare acknowledgement.

    Attributes:
        request_id: The command's correlation id, or `None` when it had none. Without an
            id a `message` goes out as an ordinary model message and an `error` as a
            connection-wide error; a bare acknowledgement sends nothing.
        message: `(type, data)` of the model message the handler returned.
        error: `(code, message)`, e.g. `("invalid_command", "unknown command 'x'")`.
    """

    request_id: str | None
    message: tuple[str, dict[str, Any]] | None = None
    error: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        """Reject a reply that is both a success and a failure."""
        if self.message is not None and self.error is not None:
            raise ValueError("CommandReply takes a message or an error, not both")


@dataclass(frozen=True, slots=True)
class ModelOut:
    """An unsolicited model message, broadcast to every viewer.

    Attributes:
        type: The message name (snake_case class name of the `ModelMessage`).
        data: The message fields, JSON-serialisable.
    """

    type: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The command and track list (v0 `modelCapabilities`; v1 has no such frame).

    Attributes:
        commands: WIRE.md CommandCap dicts (`name`, `description`, optional `schema`).
        tracks: Track dicts (`name`, `kind`, `direction`) in descriptor order.
    """

    commands: list[dict[str, Any]] = field(default_factory=list)
    tracks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Schema:
    """The model's OpenAPI document, answering `RequestSchema`."""

    request_id: str | None
    openapi: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PublishReply:
    """The answer to a `publish` `TrackControl`.

    Attributes:
        request_id: The request's correlation id.
        name: The track name.
        error: `(code, message)` when refused, e.g. `("publish_refused", ...)`.
    """

    request_id: str
    name: str
    error: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ClipFailed:
    """The answer to a `RequestClip` that cannot be served."""

    request_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """Sent best-effort to every viewer just before the session closes."""

    reason: str


@dataclass(frozen=True, slots=True)
class RuntimeNotice:
    """A runtime-level error not tied to a request (e.g. the model's run() crashed).

    Attributes:
        code: Machine-readable code, e.g. `internal_error`.
        message: Human-readable text, shown verbatim by clients.
    """

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FrameMetadataOut:
    """The model's metadata of one video frame, for a viewer that reads it as a message.

    Only viewers whose offer asked for it get one (v0 runtime `frameMetadata`; v1
    has no frame for it: its viewers read the frame's trailer instead).

    Attributes:
        track: The output track.
        rtp_timestamp: The frame's RTP timestamp as this viewer receives it.
        capture_time_us: The frame's presentation time on the media timeline (µs).
        metadata: The encoded metadata (a dict's JSON, or the model's bytes).
    """

    track: str
    rtp_timestamp: int
    capture_time_us: int
    metadata: bytes


Outbound: TypeAlias = (
    CommandReply
    | ModelOut
    | Capabilities
    | Schema
    | PublishReply
    | ClipFailed
    | SessionEnded
    | RuntimeNotice
    | FrameMetadataOut
)

Frame: TypeAlias = tuple[str, str | bytes]
"""An encoded frame: (data channel label, payload). Text payloads are sent as text."""

MAX_MESSAGE_SIZE = 262144
"""The largest data-channel message both official clients accept (`a=max-message-size`)."""


class FrameTooLargeError(ValueError):
    """An encoded frame exceeds the peer's max-message-size; it was not produced."""

    def __init__(self, size: int, what: str, limit: int = MAX_MESSAGE_SIZE) -> None:
        """Describe the oversized frame.

        Args:
            size: The encoded size in bytes.
            what: The outbound message type, for the error text.
            limit: The peer's max-message-size.
        """
        super().__init__(
            f"encoded {what} frame is {size} bytes, over the peer's max-message-size of "
            f"{limit} bytes; send less data per message"
        )
        self.size = size
        self.limit = limit


def check_frame_size(frame: Frame, what: str, limit: int = MAX_MESSAGE_SIZE) -> Frame:
    """Return `frame` unchanged, or raise `FrameTooLargeError` if it exceeds `limit` bytes."""
    payload = frame[1]
    size = len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)
    if size > limit:
        raise FrameTooLargeError(size, what, limit)
    return frame
