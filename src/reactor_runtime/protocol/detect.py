"""Choosing the wire codec of one connection (WIRE.md §1.2).

Both official clients send `Reactor-WebRTC-Version: 1.0`, so the version is told apart by
the signalling route, by a `control` data channel, and, as a safety net, by sniffing the
first inbound frame. Once chosen, the codec never changes for that connection, and nothing
may be sent on a data channel before it is chosen.
"""

from __future__ import annotations

from typing import Literal, Protocol, TypeAlias

from reactor_runtime.protocol.v0 import V0Codec
from reactor_runtime.protocol.v1 import CONTROL_LABEL, V1Codec
from reactor_runtime.protocol.vocabulary import Frame, Inbound, Outbound

WireVersion: TypeAlias = Literal["v0", "v1"]
RouteFamily: TypeAlias = Literal["flat", "connections"]
"""`flat`: `T/sdp_params` (JS SDK). `connections`: `T/connections/{cid}/...` (Python SDK)."""

_JSON_WHITESPACE = b" \t\n\r"


class Codec(Protocol):
    """What the session needs from a codec: `V0Codec` and `V1Codec` both satisfy it."""

    version: str

    def decode(self, label: str, frame: str | bytes) -> list[Inbound]:
        """Decode one inbound frame; never raises."""
        ...

    def encode(self, msg: Outbound) -> list[Frame]:
        """Encode one outbound message; raises ValueError if it cannot be sent."""
        ...

    def refusal(
        self, label: str, frame: str | bytes, error: tuple[str, str], max_request_id: int
    ) -> list[Frame]:
        """The error reply owed to a frame refused before decoding (`[]`: none)."""
        ...


def version_for_route(route: RouteFamily) -> WireVersion | None:
    """Return the version a signalling route settles, or None if it only suggests one.

    An offer on the flat routes settles v0. An offer on the connection-scoped routes only
    makes v1 expected: a `control` channel or the first frame confirms it.
    """
    return "v0" if route == "flat" else None


def sniff_frame(frame: str | bytes) -> WireVersion:
    """Guess the version from a first inbound frame.

    A text frame, or a binary one whose first non-whitespace byte is `{` or `[`, is v0
    (JSON); anything else is v1 (protobuf).
    """
    if isinstance(frame, str):
        return "v0"
    head = bytes(frame).lstrip(_JSON_WHITESPACE)[:1]
    return "v0" if head in (b"{", b"[") else "v1"


def codec_for(version: WireVersion) -> Codec:
    """Return a fresh codec for `version` (one per connection: v1 codecs keep state)."""
    if version == "v0":
        return V0Codec()
    if version == "v1":
        return V1Codec()
    raise ValueError(f"unknown wire version {version!r}; expected 'v0' or 'v1'")


class CodecLatch:
    """The codec decision of one connection: undetermined until decided, then fixed.

    Feed it what is learnt about the connection; the first decisive fact wins and later
    ones are ignored. While `decided` is False the session must not send any frame.

    Example:
        >>> latch = CodecLatch(route="connections")
        >>> latch.decided
        False
        >>> latch.on_channel("control")
        'v1'
        >>> latch.on_frame('{"scope": "runtime"}')  # too late to change its mind
        'v1'
    """

    def __init__(self, route: RouteFamily | None = None) -> None:
        """Start undetermined, or decided at once if `route` settles the version."""
        self._version: WireVersion | None = None
        self._codec: Codec | None = None
        settled = None if route is None else version_for_route(route)
        if settled is not None:
            self.decide(settled)

    @property
    def version(self) -> WireVersion | None:
        """The chosen version, or None while undetermined."""
        return self._version

    @property
    def decided(self) -> bool:
        """Whether the version is fixed (and frames may be sent)."""
        return self._version is not None

    @property
    def codec(self) -> Codec | None:
        """The connection's codec, created once at decision time; None while undetermined."""
        return self._codec

    def decide(self, version: WireVersion) -> WireVersion:
        """Fix the version unless already fixed; return the version in force."""
        if self._version is None:
            self._codec = codec_for(version)
            self._version = version
        return self._version

    def on_channel(self, label: str) -> WireVersion | None:
        """Note a data channel opened by the client; a `control` channel means v1."""
        if label == CONTROL_LABEL:
            return self.decide("v1")
        return self._version

    def on_frame(self, frame: str | bytes) -> WireVersion:
        """Note an inbound frame; the first one decides by sniffing if nothing else did."""
        if self._version is None:
            return self.decide(sniff_frame(frame))
        return self._version
