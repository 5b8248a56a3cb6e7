"""The per-frame metadata trailer of encoded video, and its SDP opt-in (WIRE.md §3.9).

The official Python SDK (1.13.0) offers the session-level line
`a=x-reactor-frame-metadata:1`. Only when the answer carries the same line does each
side append to every encoded video frame, after the codec payload and before
packetizing::

    [codec payload][FrameMetadata protobuf][u32 little-endian: protobuf length]["RXMT"]

and strip it again after reassembly, before decoding. `FrameMetadata` has three
fields, read off the SDK's own frames (it sent `frame_id` 1, 2, ..., its
`capture_time_us` argument as a plain varint, and its `user_data`) and checked the
other way (the SDK's `on_frame` reports exactly the values we put in):

    1 frame_id         varint (uint64)  the sender's frame counter; 0 = none
    2 capture_time_us  varint (int64)   when the sender says the frame was captured,
                                        microseconds on its own clock
    3 user_data        bytes            opaque; our models' dicts travel as JSON

A frame without the magic is a plain frame: a sender may tag some frames only.

Only VP8 carries the trailer: the SDK offers no H.264, and appended bytes would
corrupt an H.264 access unit's last NAL unit at any other receiver.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass

from ..tracks import MAX_FRAME_METADATA

SDP_ATTRIBUTE = "x-reactor-frame-metadata"
"""The session-level SDP attribute that opts a connection into trailers."""
SDP_VERSION = "1"
"""The one trailer version we implement: an offer declaring another is not echoed."""
SDP_LINE = f"a={SDP_ATTRIBUTE}:{SDP_VERSION}"
MAGIC = b"RXMT"
"""The last four bytes of a frame that carries a trailer."""
_LENGTH = struct.Struct("<I")
_FOOTER = _LENGTH.size + len(MAGIC)
_FRAME_ID, _CAPTURE_TIME, _USER_DATA = 1, 2, 3
_VARINT, _BYTES = 0, 2
_INT64 = 1 << 64
MAX_TRAILER = MAX_FRAME_METADATA + 64
"""Largest protobuf accepted from a sender: the user data limit plus room for the ids."""


@dataclass
class FrameMetadataCounters:
    """A session's frame metadata, both ways (`MediaHub.frame_metadata`, in `/metrics`).

    Attributes:
        trailers_sent: Trailers appended to frames sent to viewers.
        messages_sent: `frameMetadata` messages sent to viewers (our page).
        messages_dropped: Such messages not sent (held too long, channel backlog).
        trailers_received: Frames from viewers that came with a trailer.
        trailers_dropped: Trailers from viewers whose metadata was dropped
            (malformed, or over the size limit).
        trailers_dropped_h264: Frames sent without their trailer to viewers that
            declared trailers but receive H.264 (see `metadata_sender.H264Trailers`).
    """

    trailers_sent: int = 0
    messages_sent: int = 0
    messages_dropped: int = 0
    trailers_received: int = 0
    trailers_dropped: int = 0
    trailers_dropped_h264: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class TrailerError(ValueError):
    """A frame ends with the magic but what precedes it is not a usable `FrameMetadata`.

    Attributes:
        payload: The codec payload when the trailer's length still says where it
            starts (the protobuf is malformed or over the limit), else None.
    """

    def __init__(self, message: str, payload: bytes | None = None) -> None:
        """Say what is wrong; keep the payload if it could be cut off."""
        super().__init__(message)
        self.payload = payload


@dataclass(frozen=True, slots=True)
class FrameMetadata:
    """What a trailer says about its frame (see the module docstring for the fields).

    Attributes:
        frame_id: The sender's frame counter; 0 when it gave none.
        capture_time_us: When the sender says it captured the frame (µs, its clock).
        user_data: The frame's opaque metadata, or None.
    """

    frame_id: int = 0
    capture_time_us: int | None = None
    user_data: bytes | None = None


def encode_trailer(meta: FrameMetadata) -> bytes:
    """The bytes to append to an encoded frame for `meta` (protobuf, length, magic).

    Raises:
        ValueError: `frame_id` is not a uint64 or `capture_time_us` not an int64.
    """
    if not 0 <= meta.frame_id < _INT64:
        raise ValueError(f"frame_id: expected a uint64, got {meta.frame_id}")
    body = bytearray()
    if meta.frame_id:
        body += _key(_FRAME_ID, _VARINT) + _varint(meta.frame_id)
    if meta.capture_time_us is not None:
        if not -(1 << 63) <= meta.capture_time_us < 1 << 63:
            raise ValueError(f"capture_time_us: expected an int64, got {meta.capture_time_us}")
        body += _key(_CAPTURE_TIME, _VARINT) + _varint(meta.capture_time_us % _INT64)
    if meta.user_data:
        body += _key(_USER_DATA, _BYTES) + _varint(len(meta.user_data)) + meta.user_data
    return bytes(body) + _LENGTH.pack(len(body)) + MAGIC


def split_trailer(
    frame: bytes, max_trailer: int = MAX_TRAILER
) -> tuple[bytes, FrameMetadata | None]:
    """Split an encoded frame into its codec payload and its trailer, if it has one.

    Args:
        frame: The reassembled frame as received.
        max_trailer: The largest protobuf accepted (`MAX_TRAILER`).

    Returns:
        `(payload, metadata)`; `(frame, None)` when the frame has no trailer.

    Raises:
        TrailerError: The frame ends with the magic but its length or protobuf is bad,
            or the protobuf is larger than `max_trailer`; the message says which, and
            `payload` holds the codec payload when the length was sound.
    """
    if len(frame) < _FOOTER or not frame.endswith(MAGIC):
        return frame, None
    (length,) = _LENGTH.unpack_from(frame, len(frame) - _FOOTER)
    end = len(frame) - _FOOTER
    if length > end:
        raise TrailerError(f"trailer length {length} is longer than the {end}-byte frame")
    payload = frame[: end - length]
    if length > max_trailer:
        raise TrailerError(
            f"frame metadata of {length} bytes is over the limit of {max_trailer} bytes "
            "(MAX_TRAILER, reactor run --max-trailer)",
            payload,
        )
    try:
        return payload, decode_metadata(frame[end - length : end])
    except TrailerError as exc:
        raise TrailerError(str(exc), payload) from None


def decode_metadata(body: bytes) -> FrameMetadata:
    """Parse a `FrameMetadata` protobuf; unknown fields are skipped.

    Raises:
        TrailerError: A truncated or malformed field, named by its number.
    """
    frame_id, captured, user_data = 0, None, None
    pos = 0
    while pos < len(body):
        key, pos = _read_varint(body, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _read_varint(body, pos)
            if number == _FRAME_ID:
                frame_id = value
            elif number == _CAPTURE_TIME:
                captured = value - _INT64 if value >= 1 << 63 else value
        elif wire == _BYTES:
            size, pos = _read_varint(body, pos)
            if pos + size > len(body):
                raise TrailerError(
                    f"field {number}: {size} bytes announced, {len(body) - pos} left"
                )
            if number == _USER_DATA:
                user_data = bytes(body[pos : pos + size])
            pos += size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(body):
                raise TrailerError(f"field {number}: truncated fixed-width value")
        else:
            raise TrailerError(f"field {number}: unsupported protobuf wire type {wire}")
    return FrameMetadata(frame_id, captured, user_data)


def offer_declares(offer_sdp: str, declaration: str = SDP_LINE) -> bool:
    """Whether an SDP has `declaration` (default: the trailers' line) at session level."""
    for line in offer_sdp.splitlines():
        if line.startswith("m="):
            return False
        if line.strip() == declaration:
            return True
    return False


def with_declaration(sdp: str, declaration: str = SDP_LINE) -> str:
    """`sdp` (an offer or an answer) with `declaration` at session level, after `t=`."""
    lines = sdp.split("\r\n")
    at = next((i for i, line in enumerate(lines) if line.startswith("t=")), None)
    if at is None:
        raise ValueError("SDP has no t= line to put the frame-metadata line after")
    return "\r\n".join([*lines[: at + 1], declaration, *lines[at + 1 :]])


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(body: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(body) or shift > 63:
            raise TrailerError(f"truncated or overlong varint at byte {pos}")
        byte = body[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
