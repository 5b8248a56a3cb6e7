"""`guard_sctp`: the one place where aiortc's SCTP association is bent for hostile peers.

aiortc decodes every SCTP text frame with `bytes.decode("utf8")` (no error handling)
and calls `message` handlers synchronously from its receive path, so an invalid UTF-8
frame or an exception in a handler would end the DTLS receive loop: the whole peer
connection dies. aiortc also holds every DATA chunk it is sent until its message is
complete and in order, whatever the window it advertised (its own senders ignore that
window), so a sender that never completes a message, or leaves a gap and keeps sending,
makes it hold without bound; and it spends CPU on every chunk of a flood it will
refuse anyway. Guarded, a bad text frame becomes a `malformed` event, nothing raised
while dispatching escapes, and DATA chunks over the connection's byte rate
(`ChannelLimits.sctp_bytes_per_second`) or beyond `ChannelLimits.max_sctp_backlog` held
bytes are refused unacknowledged: like losses, they make the sender slow down and
resend.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc import RTCDataChannel
from aiortc.rtcsctptransport import WEBRTC_STRING, DataChunk, RTCSctpTransport, tsn_plus_one

from .aiortc_private import require
from .limits import ChannelCounters, ChannelLimits, TokenBucket

log = logging.getLogger(__name__)

AIORTC_PRIVATE = (
    "RTCSctpTransport._data_channel_receive",
    "RTCSctpTransport._receive_data_chunk",
    "RTCSctpTransport._advertised_rwnd",
    "RTCSctpTransport._data_channels",
    "RTCSctpTransport._last_received_tsn",
)
"""The private names of aiortc this module reads or replaces (see `aiortc_private`)."""


def guard_sctp(
    sctp: RTCSctpTransport,
    limits: ChannelLimits | None = None,
    counters: ChannelCounters | None = None,
) -> None:
    """Make `sctp` survive hostile frames, failing handlers, floods and window breakers.

    Overrides the association's `_data_channel_receive` and `_receive_data_chunk` on this
    instance only (other connections in the process keep aiortc's behaviour). A DATA
    chunk is refused (not acknowledged, so a sender must resend it) when it is over the
    byte rate (`limits.sctp_bytes_per_second`, burst `limits.max_sctp_backlog`), or when
    aiortc already holds `limits.max_sctp_backlog` bytes of unfinished messages, unless
    it is the very chunk the association waits for (that one may complete what is held);
    past twice the limit, every chunk is refused (a message that never ends cannot grow).

    Raises:
        RuntimeError: This aiortc's association lacks a name in `AIORTC_PRIVATE` (named).
    """
    if getattr(sctp, "_reactor_guarded", False):
        return
    require(sctp, "RTCSctpTransport", AIORTC_PRIVATE, "transport/sctp_guard.py")
    limits = limits or ChannelLimits()
    counters = counters or ChannelCounters()
    original = sctp._data_channel_receive
    receive_chunk = sctp._receive_data_chunk
    # aiortc lowers its advertised window by each chunk held and raises it back as
    # messages are delivered: the difference is what it holds.
    window = sctp._advertised_rwnd
    rate = TokenBucket(limits.sctp_bytes_per_second, limits.max_sctp_backlog)

    async def receive(stream_id: int, pp_id: int, data: bytes) -> None:
        if pp_id == WEBRTC_STRING:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                channel = sctp._data_channels.get(stream_id)
                if channel is not None:
                    _emit(channel, "malformed", f"text frame is not UTF-8 ({exc.reason})")
                return
        try:
            await original(stream_id, pp_id, data)
        except Exception:
            log.warning("data channel stream %d: frame dropped", stream_id, exc_info=True)

    async def receive_data(chunk: DataChunk) -> None:
        if not rate.take(len(chunk.user_data)):
            counters.dropped["sctp_rate"] += 1
            return
        held = window - sctp._advertised_rwnd + len(chunk.user_data)
        awaited = chunk.tsn == tsn_plus_one(sctp._last_received_tsn)
        if held > limits.max_sctp_backlog and (not awaited or held > 2 * limits.max_sctp_backlog):
            counters.dropped["sctp_backlog"] += 1
            return
        await receive_chunk(chunk)

    sctp._data_channel_receive = receive  # type: ignore[method-assign]
    sctp._receive_data_chunk = receive_data  # type: ignore[method-assign]
    sctp._reactor_guarded = True  # type: ignore[attr-defined]


def _emit(channel: RTCDataChannel, event: str, *args: Any) -> None:
    try:
        channel.emit(event, *args)
    except Exception:
        log.warning("data channel %r: %s handler failed", channel.label, event, exc_info=True)
