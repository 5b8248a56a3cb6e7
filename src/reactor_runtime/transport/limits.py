"""Bounds on what one viewer's data channels take in and send back, and their counters.

A data channel is an open door into the server: any client that negotiated a peer may
send frames as fast and as large as its SCTP stack allows, and each may ask for a reply.
Every inbound frame of a connection passes two token buckets (frames per second and
bytes per second) and a size check before it is decoded; what fails is refused: a v1
request gets an error reply naming the limit, anything else is dropped, and both are
counted. Error replies have a bucket of their own, every reply's text is capped, and
nothing is queued on a channel whose outbound backlog is already `max_buffered_bytes`:
a client that floods, or never reads, cannot make the server hold more than that.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..protocol import MAX_MESSAGE_SIZE

MAX_INBOUND_MESSAGE = MAX_MESSAGE_SIZE
"""Bytes: the `a=max-message-size` we advertise; a larger message breaks the contract."""
FRAMES_PER_SECOND = 50.0
"""Sustained inbound frames per second: a UI dragging a slider sends ~30-60 commands/s,
the clients' pings one per 5-10 s; more than this is a flood."""
FRAME_BURST = 100
"""Frames accepted back to back before the per-second rate applies."""
BYTES_PER_SECOND = 1_048_576
"""Sustained inbound bytes per second: commands are small; 1 MiB/s is four maximal
messages per second, far above any real command traffic."""
BYTE_BURST = 2 * MAX_INBOUND_MESSAGE
"""Bytes accepted back to back: two maximal messages."""
ERROR_REPLIES_PER_SECOND = 10.0
"""Sustained error replies per second: errors answer refused or invalid requests, so a
flood of those must not become a flood of answers."""
ERROR_REPLY_BURST = 20
"""Error replies sent back to back before the per-second rate applies."""
MAX_BUFFERED_BYTES = 1_048_576
"""Bytes queued on one channel and not yet handed to SCTP; aiortc does not bound this
queue, so beyond it a frame is dropped rather than held for a client that does not read."""
MAX_REQUEST_ID = 256
"""Characters in a request id: an id is a correlation token (`data_1`, `ctrl_2`); a longer
one would only make the reply carry it back."""
MAX_ERROR_TEXT = 512
"""Characters of an error message sent to a client (the rest is cut): errors may quote
client input, such as an unknown command name."""
MAX_SCTP_BACKLOG = 2 * 1_048_576
"""Bytes aiortc may hold for reassembly (fragments, and messages waiting behind a gap):
twice the 1 MiB window it advertises, so only a sender that ignores the window reaches it.
Beyond it, DATA chunks are dropped unacknowledged (the sender must resend them)."""
SCTP_BYTES_PER_SECOND = 2 * BYTES_PER_SECOND
"""DATA chunk bytes per second taken from one connection (bursts up to `max_sctp_backlog`):
twice the message budget, so traffic within it never meets this. A flood does: its
chunks are dropped unacknowledged, the sender's congestion control backs off, and the
server stops spending its CPU on bytes it would refuse anyway."""


@dataclass(frozen=True)
class ChannelLimits:
    """What one viewer's data channels may take in and hold; see the module constants.

    Attributes:
        max_message_bytes: Largest inbound message, in bytes.
        frames_per_second: Sustained inbound frames per second.
        frame_burst: Inbound frames accepted back to back.
        bytes_per_second: Sustained inbound bytes per second.
        byte_burst: Inbound bytes accepted back to back (>= `max_message_bytes`).
        error_replies_per_second: Sustained error replies per second.
        error_reply_burst: Error replies sent back to back.
        max_buffered_bytes: Outbound backlog per channel beyond which frames drop.
        max_request_id: Longest request id answered, in characters.
        max_error_text: Longest error message sent, in characters.
        max_sctp_backlog: Bytes aiortc may hold for reassembly per connection.
        sctp_bytes_per_second: DATA chunk bytes per second taken from a connection.
    """

    max_message_bytes: int = MAX_INBOUND_MESSAGE
    frames_per_second: float = FRAMES_PER_SECOND
    frame_burst: int = FRAME_BURST
    bytes_per_second: float = BYTES_PER_SECOND
    byte_burst: int = BYTE_BURST
    error_replies_per_second: float = ERROR_REPLIES_PER_SECOND
    error_reply_burst: int = ERROR_REPLY_BURST
    max_buffered_bytes: int = MAX_BUFFERED_BYTES
    max_request_id: int = MAX_REQUEST_ID
    max_error_text: int = MAX_ERROR_TEXT
    max_sctp_backlog: int = MAX_SCTP_BACKLOG
    sctp_bytes_per_second: float = SCTP_BYTES_PER_SECOND

    def __post_init__(self) -> None:
        """Reject limits that could never admit a maximal message or any frame."""
        rates = ("frames_per_second", "bytes_per_second", "error_replies_per_second")
        for name in (*rates, "sctp_bytes_per_second"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: expected > 0, got {getattr(self, name)!r}")
        if self.byte_burst < self.max_message_bytes:
            raise ValueError(
                f"byte_burst: expected >= max_message_bytes ({self.max_message_bytes}), "
                f"got {self.byte_burst}"
            )
        if self.max_sctp_backlog < self.max_message_bytes:
            raise ValueError(
                f"max_sctp_backlog: expected >= max_message_bytes ({self.max_message_bytes}), "
                f"got {self.max_sctp_backlog}"
            )


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; starts full."""

    def __init__(self, rate: float, burst: float) -> None:
        """Make a full bucket."""
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self, amount: float = 1.0) -> bool:
        """Take `amount` tokens if there are that many; False (nothing taken) if not."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < amount:
            return False
        self._tokens -= amount
        return True


class ChannelCounters:
    """What data channels refused and dropped, by reason; shared by a runtime's peers.

    Attributes:
        refused: Inbound frames not decoded, by reason (`too_large`, `rate_limited`,
            `byte_rate_limited`, `request_id_too_long`); each either answered with an
            error or also counted in `dropped` as `unanswered`.
        dropped: Frames or chunks dropped, by reason: `unanswered` (a refused frame that
            gets no reply: v0, a notification, an error reply over its rate),
            `error_reply_rate` (an error reply not sent), `outbound_backlog` (an
            outbound frame not queued), `sctp_backlog` and `sctp_rate` (an SCTP DATA
            chunk refused: too much held, or over the connection's byte rate),
            `reply_too_large` (a command's reply over one message, replaced by an error).
        malformed: Inbound frames that could not be decoded.
        received: Inbound frames (messages) delivered by SCTP, refused ones included.
    """

    def __init__(self) -> None:
        """Start at zero."""
        self.refused: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.malformed = 0
        self.received = 0

    def as_dict(self) -> dict[str, Any]:
        """`{"received": n, "refused": {...}, "dropped": {...}, "malformed": n}`."""
        return {
            "received": self.received,
            "refused": dict(self.refused),
            "dropped": dict(self.dropped),
            "malformed": self.malformed,
        }


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
