"""A viewer's data channels: codec choice, limits, routing to the session.

The association under the channels is guarded first (`sctp_guard.guard_sctp`).
`ChannelRouter` finds the client's channels by label, fixes the wire codec (given, or
detected per WIRE.md §1.2), admits each frame through the connection's limits
(`limits.py`), decodes it into the protocol vocabulary and acts on it; what it sends
goes through its `channel_outbox.ChannelOutbox`. Nothing is sent before the codec is
fixed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import RTCDataChannel
from aiortc.rtcsctptransport import WEBRTC_STRING

from ..events import INTERNAL_ERROR, CommandError
from ..protocol import (
    Capabilities,
    ClipFailed,
    CodecLatch,
    CommandIn,
    CommandReply,
    FileUploaded,
    Inbound,
    Malformed,
    Outbound,
    Ping,
    PublishReply,
    RequestCapabilities,
    RequestClip,
    RequestSchema,
    Schema,
    TrackControl,
    UnsupportedRequest,
)
from ..protocol.detect import WireVersion
from ..schema import session_schema
from ..upload_store import UnresolvedUpload
from .channel_outbox import FLUSH_WAIT, ChannelOutbox
from .limits import ChannelCounters, ChannelLimits, TokenBucket
from .sctp_guard import guard_sctp

__all__ = ["WEBRTC_STRING", "ChannelRouter", "TrackControls", "guard_sctp"]

if TYPE_CHECKING:
    from ..session import Session

log = logging.getLogger(__name__)

LABELS = ("data", "control")
MAX_COMMANDS_IN_FLIGHT = 32
"""Commands of one viewer awaiting the model; more are refused (a flood cannot pile up tasks)."""


class TrackControls(Protocol):
    """What the router needs from the peer to act on track control messages."""

    def set_paused(self, name: str, paused: bool) -> bool:
        """Pause/resume output track `name` for this viewer; False if it has no such track."""
        ...

    def publish(self, name: str) -> tuple[str, str] | None:
        """Let this viewer send input track `name`; an `(code, message)` error if refused."""
        ...

    def unpublish(self, name: str) -> None:
        """This viewer stops sending input track `name`."""
        ...


class ChannelRouter:
    """The data-channel side of one viewer."""

    def __init__(
        self,
        session: Session,
        viewer_id: str,
        family: WireVersion | None,
        controls: TrackControls,
        limits: ChannelLimits | None = None,
        counters: ChannelCounters | None = None,
    ) -> None:
        """Route for `viewer_id`; `family` fixes the codec up front (None: detect it).

        `limits` bound what this viewer's channels take in and hold (defaults: the
        constants of `limits.py`); refusals and drops are added to `counters` (shared
        by a runtime's peers; a fresh one by default).
        """
        self.session = session
        self.viewer_id = viewer_id
        self.controls = controls
        self.limits = limits = limits or ChannelLimits()
        self.counters = counters or ChannelCounters()
        self._frames = TokenBucket(limits.frames_per_second, limits.frame_burst)
        self._bytes = TokenBucket(limits.bytes_per_second, limits.byte_burst)
        self.latch = CodecLatch()
        if family is not None:
            self.latch.decide(family)
        self.channels: dict[str, RTCDataChannel] = {}
        self.received = 0
        self.malformed = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.outbox = ChannelOutbox(viewer_id, self.latch, self.channels, limits, self.counters)

    # channels --------------------------------------------------------------

    def attach(self, channel: RTCDataChannel) -> None:
        """Adopt a channel the client opened; unknown labels are ignored (and logged)."""
        label = channel.label
        if label not in LABELS or label in self.channels:
            log.info("viewer %s: ignoring data channel %r", self.viewer_id, label)
            return
        self.channels[label] = channel
        self.latch.on_channel(label)
        channel.on("message", lambda frame: self._on_frame(label, frame))
        channel.on("malformed", lambda reason: self._on_malformed(label, reason))
        # pyee re-raises handler errors when no "error" listener exists.
        channel.on("error", lambda exc: log.warning("data channel %r: %r", label, exc))
        channel.on("open", self.outbox.drain)
        self.outbox.drain()

    def _on_frame(self, label: str, frame: str | bytes) -> None:
        try:
            self.received += 1
            self.counters.received += 1
            undecided = self.latch.codec is None
            self.latch.on_frame(frame)
            codec = self.latch.codec
            assert codec is not None
            if undecided:
                self.outbox.drain()
            refusal = self._admit(frame)
            if refusal is not None:
                self._refuse(codec, label, frame, *refusal)
                return
            for message in codec.decode(label, frame):
                self._route(message)
        except Exception:
            log.exception("viewer %s: handling a %r frame failed", self.viewer_id, label)

    def _on_malformed(self, label: str, reason: str) -> None:
        self.received += 1
        self.counters.received += 1
        if self.latch.codec is None:
            # An undecodable text frame is still a text frame: WIRE §1.2 makes that v0.
            self.latch.on_frame("")
        self._route(Malformed(f"{label}: {reason}"))

    # limits ----------------------------------------------------------------

    def _admit(self, frame: str | bytes) -> tuple[str, str, str] | None:
        """None if `frame` may be decoded, else `(reason, code, message)` of its refusal."""
        limits = self.limits
        size = len(frame.encode("utf-8")) if isinstance(frame, str) else len(frame)
        if size > limits.max_message_bytes:
            return (
                "too_large",
                "message_too_large",
                f"a message of {size} bytes is over the limit of {limits.max_message_bytes} "
                f"bytes (max_message_bytes)",
            )
        if not self._frames.take():
            return (
                "rate_limited",
                "rate_limited",
                f"more than {limits.frames_per_second:g} messages per second "
                f"(frames_per_second, burst {limits.frame_burst}); this one was refused",
            )
        if not self._bytes.take(size):
            return (
                "byte_rate_limited",
                "rate_limited",
                f"more than {limits.bytes_per_second:g} bytes per second "
                f"(bytes_per_second, burst {limits.byte_burst}); this one was refused",
            )
        return None

    def _refuse(self, codec: Any, label: str, frame: str | bytes, *refusal: str) -> None:
        reason, code, text = refusal
        self.counters.refused[reason] += 1
        frames = codec.refusal(label, frame, (code, text), self.limits.max_request_id)
        if not frames or not self.outbox.send_frames(frames, error=True):
            self.counters.dropped["unanswered"] += 1

    def _too_long_id(self, message: Inbound) -> bool:
        rid = getattr(message, "request_id", None)
        if rid is None or len(rid) <= self.limits.max_request_id:
            return False
        self.counters.refused["request_id_too_long"] += 1
        self.counters.dropped["unanswered"] += 1
        log.debug("viewer %s: request id of %d characters ignored", self.viewer_id, len(rid))
        return True

    # inbound ---------------------------------------------------------------

    def _route(self, message: Inbound) -> None:
        if self._too_long_id(message):
            return
        match message:
            case CommandIn():
                self._command(message)
            case FileUploaded(upload_id=upload_id):
                self._spawn_task(self._file_uploaded(upload_id), "upload_notice_busy")
            case Ping():
                pass
            case RequestCapabilities():
                self.send(Capabilities(self.session.commands.capabilities(), self.tracks()))
            case RequestSchema(request_id=rid):
                self.send(Schema(rid, session_schema(self.session)))
            case TrackControl():
                self._track_control(message)
            case RequestClip(request_id=rid):
                self.send(ClipFailed(rid, "recording not supported"))
            case UnsupportedRequest(request_id=rid, what=what):
                self.send(CommandReply(rid, error=("unsupported", f"{what} is not supported")))
            case Malformed(reason=reason):
                self.malformed += 1
                self.counters.malformed += 1
                log.debug("viewer %s: malformed frame ignored: %s", self.viewer_id, reason)

    def _command(self, command: CommandIn) -> None:
        if not self._spawn_task(self._run_command(command)) and command.request_id is not None:
            busy = f"{len(self._tasks)} commands are still running; retry later"
            self.send(CommandReply(command.request_id, error=("busy", busy)))

    def _spawn_task(self, coro: Any, dropped: str | None = None) -> bool:
        """Run `coro` as one of this viewer's `MAX_COMMANDS_IN_FLIGHT`; False (counted) if full."""
        if len(self._tasks) >= MAX_COMMANDS_IN_FLIGHT:
            coro.close()
            if dropped is not None:
                self.counters.dropped[dropped] += 1
            return False
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _file_uploaded(self, upload_id: str) -> None:
        """Run the model's `@file_uploaded` hooks; a notice naming no finished upload is counted."""
        try:
            await self.session.file_uploaded(upload_id, self.viewer_id)
        except UnresolvedUpload as exc:
            self.counters.dropped["unresolved_upload"] += 1
            log.info("viewer %s: fileUploaded notice ignored: %s", self.viewer_id, exc)

    async def _run_command(self, command: CommandIn) -> None:
        try:
            result = await self.session.dispatch(
                command.name, command.args, self.viewer_id, uploads=command.uploads
            )
            reply = CommandReply(command.request_id, message=result)
        except CommandError as exc:
            reply = CommandReply(command.request_id, error=(exc.code, exc.message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("viewer %s: command %r failed", self.viewer_id, command.name)
            reply = CommandReply(command.request_id, error=(INTERNAL_ERROR, repr(exc)))
        self.send(reply)

    def _track_control(self, control: TrackControl) -> None:
        name, rid = control.track, control.request_id
        if control.action in ("pause", "resume"):
            if not self.controls.set_paused(name, control.action == "pause"):
                log.debug("viewer %s: %s of %r noted", self.viewer_id, control.action, name)
        elif control.action == "publish":
            error = self.controls.publish(name)
            if rid is not None:
                self.send(PublishReply(rid, name, error))
        else:
            self.controls.unpublish(name)

    def tracks(self) -> list[dict[str, str]]:
        """The session's tracks as the client sees them (descriptor order)."""
        outputs = [
            {"name": t.name, "kind": t.kind, "direction": "recvonly"}
            for t in self.session.output_tracks
        ]
        inputs = [
            {"name": t.name, "kind": t.kind, "direction": "sendonly"}
            for t in self.session.input_tracks
        ]
        return outputs + inputs

    # outbound --------------------------------------------------------------

    def send(self, message: Outbound) -> bool:
        """Encode and send `message`; False if it could not go out (`ChannelOutbox.send`)."""
        return self.outbox.send(message)

    async def flush(self, timeout: float = FLUSH_WAIT) -> None:
        """Wait (bounded) until the channels have handed everything queued to SCTP."""
        await self.outbox.flush(timeout)

    async def close(self) -> None:
        """Cancel commands still waiting for the model."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stats(self) -> dict[str, Any]:
        """Counters of this viewer's data channels."""
        return {
            "version": self.latch.version,
            "channels": sorted(self.channels),
            "received": self.received,
            "malformed": self.malformed,
            **self.outbox.stats(),
            "commands_in_flight": len(self._tasks),
            "buffered": {label: c.bufferedAmount for label, c in self.channels.items()},
        }
