"""`ChannelOutbox`: what one viewer's data channels send, bounded, held or dropped.

The sending half of `datachannel.ChannelRouter`. A message is encoded with the
connection's codec once it is fixed and sent on the channel its codec names; until
then, or until that channel opens, it is held (`MAX_PENDING` at most). Error replies
are capped in length and in rate, and nothing is queued on a channel whose backlog is
already `ChannelLimits.max_buffered_bytes`. Nothing here raises: what cannot go out
is counted (`unsent`, and by reason in the shared `ChannelCounters`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from typing import Any

from aiortc import RTCDataChannel

from ..events import REPLY_TOO_LARGE
from ..protocol import CodecLatch, CommandReply, FrameTooLargeError, Outbound, PublishReply
from .limits import ChannelCounters, ChannelLimits, TokenBucket, cut

log = logging.getLogger(__name__)

FLUSH_WAIT = 0.5
"""Seconds `flush` waits at most for the channels to hand their backlog to SCTP."""
MAX_PENDING = 64
"""Outbound messages held until the codec is fixed and their channel is open; older ones drop."""


class ChannelOutbox:
    """The outbound side of one viewer's data channels.

    Attributes:
        sent: Frames handed to a channel.
        unsent: Frames (or messages) that could not go out, for any reason.
    """

    def __init__(
        self,
        viewer_id: str,
        latch: CodecLatch,
        channels: dict[str, RTCDataChannel],
        limits: ChannelLimits,
        counters: ChannelCounters,
    ) -> None:
        """Send for `viewer_id` through `channels` (by label, filled by the router)."""
        self.viewer_id = viewer_id
        self.latch = latch
        self.channels = channels
        self.limits = limits
        self.counters = counters
        self.sent = 0
        self.unsent = 0
        self._errors = TokenBucket(limits.error_replies_per_second, limits.error_reply_burst)
        # The viewer joins (and @connected hooks send) when ICE/DTLS connect, which is
        # before a browser's `data` channel opens: hold messages until it does.
        self._pending: deque[Outbound] = deque()

    @property
    def pending(self) -> int:
        """Messages held for the codec or their channel."""
        return len(self._pending)

    def send(self, message: Outbound) -> bool:
        """Encode and send `message`; False if it could not go out (logged, never raised).

        Error replies are capped in length and in rate; nothing is queued on a channel
        whose backlog is already `limits.max_buffered_bytes` (both counted as dropped).
        A command's reply too large for one message reaches its caller as a
        `reply_too_large` error instead (counted as dropped `reply_too_large`).
        """
        codec = self.latch.codec
        if codec is None:
            return self._hold(message)
        message, error = self._bounded(message)
        try:
            frames = codec.encode(message)
        except Exception as exc:
            too_large = isinstance(exc, FrameTooLargeError)
            if too_large and isinstance(message, CommandReply) and message.message is not None:
                return self._reply_too_large(message, exc)
            self.unsent += 1
            what = type(message).__name__
            log.warning("viewer %s: cannot send %s: %s", self.viewer_id, what, exc)
            return False
        if any(self._not_open_yet(label) for label, _ in frames):
            return self._hold(message)
        return self.send_frames(frames, error)

    def send_frames(self, frames: list[tuple[str, str | bytes]], error: bool) -> bool:
        """Send encoded `(label, payload)` frames; `error` ones within the error-reply rate."""
        if error and not self._errors.take():
            self.unsent += len(frames)
            self.counters.dropped["error_reply_rate"] += 1
            return False
        ok = True
        for label, payload in frames:
            channel = self.channels.get(label)
            if channel is None or channel.readyState != "open":
                self.unsent += 1
                ok = False
                continue
            size = len(payload.encode("utf-8")) if isinstance(payload, str) else len(payload)
            if channel.bufferedAmount + size > self.limits.max_buffered_bytes:
                self.unsent += 1
                self.counters.dropped["outbound_backlog"] += 1
                ok = False
                continue
            try:
                channel.send(payload)
                self.sent += 1
            except Exception as exc:
                self.unsent += 1
                ok = False
                log.debug("viewer %s: send on %r failed: %r", self.viewer_id, label, exc)
        return ok

    def drain(self) -> None:
        """Send what is held (the codec was fixed, or a channel opened)."""
        pending, self._pending = self._pending, deque()
        for message in pending:
            self.send(message)

    async def flush(self, timeout: float = FLUSH_WAIT) -> None:
        """Wait (bounded) until the channels have handed everything queued to SCTP."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(
            c.readyState == "open" and c.bufferedAmount > 0 for c in self.channels.values()
        ):
            await asyncio.sleep(0.01)

    def _reply_too_large(self, reply: CommandReply, exc: FrameTooLargeError) -> bool:
        self.counters.dropped["reply_too_large"] += 1
        assert reply.message is not None
        text = (
            f"the handler's reply ({reply.message[0]}) encodes to {exc.size} bytes, over the "
            f"data-channel message limit of {exc.limit} bytes (MAX_MESSAGE_SIZE); return less "
            f"data per reply"
        )
        log.warning("viewer %s: %s", self.viewer_id, text)
        return self.send(CommandReply(reply.request_id, error=(REPLY_TOO_LARGE, text)))

    def _bounded(self, message: Outbound) -> tuple[Outbound, bool]:
        """`message` with its error text cut to `max_error_text`; and whether it is an error."""
        error = getattr(message, "error", None)
        if not isinstance(message, CommandReply | PublishReply) or error is None:
            return message, False
        code, text = error
        limit = self.limits.max_error_text
        return dataclasses.replace(message, error=(cut(code, limit), cut(text, limit))), True

    def _not_open_yet(self, label: str) -> bool:
        channel = self.channels.get(label)
        return channel is None or channel.readyState == "connecting"

    def _hold(self, message: Outbound) -> bool:
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self.unsent += 1
        self._pending.append(message)
        return False

    def stats(self) -> dict[str, Any]:
        """Counters of what this viewer was sent."""
        return {"sent": self.sent, "unsent": self.unsent, "pending": len(self._pending)}
