"""Wire protocol codecs: JSON v0 (JS SDK) and protobuf v1 (Python SDK) to one vocabulary.

Per connection, a `CodecLatch` picks the codec; the codec's `decode` turns frames into
inbound vocabulary and `encode` turns outbound vocabulary into `(label, frame)` pairs.
"""

from reactor_runtime.protocol.detect import (
    Codec,
    CodecLatch,
    RouteFamily,
    WireVersion,
    codec_for,
    sniff_frame,
    version_for_route,
)
from reactor_runtime.protocol.v0 import V0Codec
from reactor_runtime.protocol.v1 import V1Codec
from reactor_runtime.protocol.vocabulary import (
    MAX_MESSAGE_SIZE,
    Capabilities,
    ClipFailed,
    ClipKind,
    CommandIn,
    CommandReply,
    FileUploaded,
    Frame,
    FrameTooLargeError,
    Inbound,
    Malformed,
    ModelOut,
    Outbound,
    Ping,
    PublishReply,
    RequestCapabilities,
    RequestClip,
    RequestSchema,
    RuntimeNotice,
    Schema,
    SessionEnded,
    TrackAction,
    TrackControl,
    UnsupportedRequest,
)

__all__ = [
    "MAX_MESSAGE_SIZE",
    "Capabilities",
    "ClipFailed",
    "ClipKind",
    "Codec",
    "CodecLatch",
    "CommandIn",
    "CommandReply",
    "FileUploaded",
    "Frame",
    "FrameTooLargeError",
    "Inbound",
    "Malformed",
    "ModelOut",
    "Outbound",
    "Ping",
    "PublishReply",
    "RequestCapabilities",
    "RequestClip",
    "RequestSchema",
    "RouteFamily",
    "RuntimeNotice",
    "Schema",
    "SessionEnded",
    "TrackAction",
    "TrackControl",
    "UnsupportedRequest",
    "V0Codec",
    "V1Codec",
    "WireVersion",
    "codec_for",
    "sniff_frame",
    "version_for_route",
]
