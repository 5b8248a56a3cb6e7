"""`Limits`: the bounds every request and connection of a runtime is held to.

Each bound is checked before the work it protects: a body is measured before it
is read whole, its nesting before `json.loads`, an SDP before a peer parses it, a
connection's age before it may hold a slot any longer. A refusal names the
`Limits` field it ran into, so the operator knows which one to raise, and is
counted by that name in `/metrics`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .errors import ApiError

MAX_BODY_BYTES = 1 << 20
"""An offer is a few KiB and `extra_args` a few more; a MiB leaves room for model
arguments while keeping one request's memory small."""

MAX_JSON_DEPTH = 32
"""WIRE.md bodies nest four levels; Python's decoder recurses once per level and
fails with a RecursionError near a thousand."""

MAX_SDP_BYTES = 64 * 1024
"""A browser offer with every codec and inline candidates is under 16 KiB."""

MAX_M_LINES = 16
"""One m-section per session track plus one for the data channels; each becomes a
transceiver before the offer is checked further."""

MAX_CANDIDATES_PER_REQUEST = 64
"""A trickle batch holds the candidates gathered since the last one (a few per
interface and m-section); an offer's inline `a=candidate` lines count too."""

MAX_CANDIDATES_PER_CONNECTION = 256
"""Candidates one connection may post between two offers; each one costs ICE checks."""

OFFER_TIMEOUT = 10.0
"""Seconds a connection made by `POST …/connections` may wait for its offer (the
official clients send it within a second)."""

CONNECT_TIMEOUT = 30.0
"""Seconds from an offer until the peer must be ICE and DTLS connected (aiortc's
own ICE checks give up after about as long)."""

MAX_PENDING_PER_IP = 4
"""Connections not yet connected that one client address may hold, so that one
address cannot take every slot of `max_connections` while others still join."""

MAX_UPLOAD_BYTES = 64 << 20
"""One uploaded file (a picture, a short clip, a few seconds of audio); it is
written to the session's temporary folder, never held in memory."""

MAX_SESSION_UPLOAD_BYTES = 256 << 20
"""All the files of one session together: they stay on disk until it ends."""

MAX_UPLOADS = 64
"""Uploads one session may announce: each holds a slot, a file and a waiter."""

PENDING_RETRY_AFTER = 5
"""Seconds a refused client is told to wait: a pending connection connects or is
reaped well within `OFFER_TIMEOUT`."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one runtime; every field defaults to the constant of its name.

    Attributes:
        max_body_bytes: Largest request body (413 past it; `Content-Length` is
            checked before reading, and reading stops at the limit).
        max_json_depth: Deepest nesting of a JSON body (400), scanned before parsing.
        max_sdp_bytes: Largest offer SDP (413).
        max_m_lines: Most m-sections in an offer (400).
        max_candidates_per_request: Most ICE candidates in one request (400).
        max_candidates_per_connection: Most ICE candidates posted on one connection
            between two offers (400).
        offer_timeout: Seconds a new connection may wait for its offer before it is
            reaped; 0 never.
        connect_timeout: Seconds after an offer before a peer not yet ICE and DTLS
            connected is reaped; 0 never.
        max_pending_per_ip: Connections not yet connected that one client address
            may hold (503 with `Retry-After` past it).
        max_upload_bytes: Largest file one upload may announce (413).
        max_session_upload_bytes: Bytes all the uploads of a session may announce
            together (413).
        max_uploads: Uploads one session may announce (429).
    """

    max_body_bytes: int = MAX_BODY_BYTES
    max_json_depth: int = MAX_JSON_DEPTH
    max_sdp_bytes: int = MAX_SDP_BYTES
    max_m_lines: int = MAX_M_LINES
    max_candidates_per_request: int = MAX_CANDIDATES_PER_REQUEST
    max_candidates_per_connection: int = MAX_CANDIDATES_PER_CONNECTION
    offer_timeout: float = OFFER_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    max_pending_per_ip: int = MAX_PENDING_PER_IP
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_session_upload_bytes: int = MAX_SESSION_UPLOAD_BYTES
    max_uploads: int = MAX_UPLOADS

    def __post_init__(self) -> None:
        """Refuse a bound that would refuse everything.

        Raises:
            ValueError: naming the field, what it must be, and the value given.
        """
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "float":
                if not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{field.name}: expected seconds >= 0, got {value!r}")
            elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{field.name}: expected an integer >= 1, got {value!r}")


class LimitExceeded(ApiError):
    """A request refused by one of the `Limits`; `limit` is the field's name."""

    def __init__(
        self, status: int, limit: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        """Refuse with `status`; `detail` should end by naming `limit`."""
        super().__init__(status, detail, headers)
        self.limit = limit
