"""`ClientSession`: one live v1 connection to a runtime (opened by `connection.negotiate`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from ..transport.trailer_reader import TrailerReader
from .media import FeedTrack, TrackCounters, TrackReader, VideoFrame
from .signalling import ConnectError, Signalling
from .streams import Fanout, Subscription
from .uploads import FileRef, announce_and_put, split_uploads
from .wire import CONTROL, DATA, ClientCodec, CommandFailed, Notice, Reply

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
"""Seconds a command or control request may wait for its reply (the official SDK's)."""
PING_INTERVAL = 10.0
MESSAGE_LOG = 10_000


class ClientSession:
    """A connected viewer: media iterators, commands, messages, publishing.

    Made by `connect()`. All methods run on the event loop that connected.

    Attributes:
        descriptor: The session descriptor from `POST /start_session` (WIRE.md §6).
        connection_id: The connection id the server minted.
        message_log: Every model message received, `(type, data)`, oldest first.
        errors: Uncorrelated server errors, `(code, message)`.
        end_reason: The server's `session_ended` reason, once it sent one.
        request_timeout: Seconds `command`, `schema` and `publish` wait for a reply.
    """

    def __init__(self, signalling: Signalling, descriptor: dict[str, Any]) -> None:
        """Internal: use `connect()`."""
        self._signalling = signalling
        self.descriptor = descriptor
        self.connection_id: int | None = None
        self.message_log: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, str]] = []
        self.end_reason: str | None = None
        self.request_timeout = REQUEST_TIMEOUT
        self.pc: RTCPeerConnection | None = None
        self.counters: dict[str, TrackCounters] = {}
        self._codec = ClientCodec()
        self._channels: dict[str, Any] = {}
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._messages: Fanout[tuple[str, dict[str, Any]]] = Fanout(limit=1000)
        self._message_arrived = asyncio.Event()
        self._readers: dict[str, TrackReader] = {}
        self._trailers: dict[str, TrailerReader] = {}
        self._feeds: dict[str, FeedTrack] = {}
        self._by_mid: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None
        self.stop_session_on_close = False

    # ------------------------------------------------------------------ tracks

    def tracks(self, direction: str | None = None) -> list[dict[str, str]]:
        """The descriptor's tracks (`name`, `kind`, `direction`), optionally of one direction."""
        tracks = self.descriptor.get("capabilities", {}).get("tracks", [])
        return [t for t in tracks if direction is None or t.get("direction") == direction]

    def _track_name(self, kind: str, track: str | None) -> str:
        if track is not None:
            if track not in self._readers or self._readers[track].kind != kind:
                known = [n for n, r in self._readers.items() if r.kind == kind]
                raise ValueError(f"no received {kind} track {track!r} (received: {known})")
            return track
        for name, reader in self._readers.items():
            if reader.kind == kind:
                return name
        raise ValueError(f"this session receives no {kind} track (connect with {kind}=True)")

    def video(self, track: str | None = None) -> Subscription[VideoFrame]:
        """Iterate over the pictures of output video `track` (default: the first one).

        The iterator receives frames from its creation on and ends when the
        connection does. A reader more than 60 frames behind loses the oldest ones.

        Yields:
            `VideoFrame`s: `.array` (H, W, 3) uint8 RGB, `.luma`, `.pts`, `.received_at`,
            and the frame's `.metadata` (the model's `TrackPayload` metadata: a dict as
            its JSON bytes) and `.capture_time_us`, from its trailer.

        Raises:
            ValueError: no such video track is received.
        """
        return self._readers[self._track_name("video", track)].fanout.subscribe()

    def audio(self, track: str | None = None) -> Subscription[np.ndarray]:
        """Iterate over the audio of output `track` (default: the first audio track).

        Yields:
            int16 arrays of shape `(channels, n)` at 48 kHz, as decoded (aiortc decodes
            Opus to stereo: 2 channels, 960 samples per 20 ms).

        Raises:
            ValueError: no such audio track is received.
        """
        return self._readers[self._track_name("audio", track)].fanout.subscribe()

    # ------------------------------------------------------------------ messages

    def messages(self) -> Subscription[tuple[str, dict[str, Any]]]:
        """Iterate over model messages `(type, data)` received from now on.

        These are the model's `send()` broadcasts; a reply to one's own command is
        returned by `command()` instead. Everything received is also in `message_log`.
        """
        return self._messages.subscribe()

    async def wait_message(
        self, type: str, *, since: int = 0, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Wait for a model message of `type` at or after position `since` of `message_log`.

        Take `since = len(session.message_log)` before acting to wait for a message
        the action causes; `since=0` also accepts one that arrived earlier.

        Returns:
            The message's data.

        Raises:
            TimeoutError: none arrived within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        position = since
        while True:
            for kind, data in self.message_log[position:]:
                if kind == type:
                    return data
            position = len(self.message_log)
            if self._closed.is_set():
                raise TimeoutError(f"the connection ended before a {type!r} message arrived")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {type!r} message within {timeout:g} s")
            self._message_arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._message_arrived.wait(), remaining)

    # ------------------------------------------------------------------ requests

    async def command(self, name: str, /, **args: Any) -> tuple[str, dict[str, Any]] | None:
        """Send command `name` with keyword `args` and wait for its reply.

        An argument that is a `FileRef` (from `upload()`) goes in the command's
        `uploads` map, as the official SDK sends it.

        Returns:
            The reply message `(type, data)` the handler returned, or None for a bare
            acknowledgement.

        Raises:
            CommandFailed: the server answered with an error (unknown command, invalid
                arguments, `CommandError` raised by the handler, ...).
            TimeoutError: no reply within `request_timeout` seconds.
            ConnectionError: the connection is closed.
        """
        args, uploads = split_uploads(args)
        rid, frame = self._codec.command(name, args, uploads)
        reply = await self._request(DATA, rid, frame)
        if reply.kind == "message":
            return reply.value
        return None

    async def upload(
        self,
        file: bytes | str | os.PathLike[str],
        *,
        name: str | None = None,
        mime_type: str | None = None,
    ) -> FileRef:
        """Upload `file` (bytes, or a path streamed in chunks) and say so on `control`.

        Announces it, PUTs its bytes, then sends the `file_uploaded` notification
        (which runs the model's `@file_uploaded` hooks). Pass the returned `FileRef`
        as a command argument. `name` defaults to the file's name, `mime_type` is
        guessed from it.

        Raises:
            ConnectError: the runtime refused the upload (its reason).
            ConnectionError: the connection is closed.
        """
        ref = await announce_and_put(self._signalling, file, name, mime_type)
        self._send(CONTROL, self._codec.file_uploaded(ref))
        return ref

    async def schema(self) -> dict[str, Any]:
        """The model's OpenAPI document (control `RequestSchema`).

        Raises:
            CommandFailed: the server answered with an error.
            TimeoutError: no reply within `request_timeout` seconds.
        """
        rid, frame = self._codec.request_schema()
        reply = await self._request(CONTROL, rid, frame)
        if reply.kind != "schema":
            raise CommandFailed("unexpected_reply", f"schema request answered by {reply.kind!r}")
        return dict(reply.value)

    async def publish(self, track: str, frames: AsyncIterator[np.ndarray] | None) -> None:
        """Start (or stop) sending input `track` to the model.

        Sends the `PublishTrack` request, then feeds the track from `frames`: for a
        video track `(H, W, 3)` uint8 RGB pictures, for an audio track int16
        `(channels, n)` arrays at 48 kHz. The iterator sets the pace: each item is
        sent when it is yielded. `frames=None` stops sending and releases the track
        (`UnpublishTrack`). The track must be named in `connect(publish=[...])`.

        Raises:
            ValueError: `track` was not offered at connect time.
            CommandFailed: the server refused (`publish_refused`).
            TimeoutError: no reply within `request_timeout` seconds.
        """
        feed = self._feeds.get(track)
        if feed is None:
            raise ValueError(
                f"input track {track!r} was not offered; pass publish=[{track!r}] to connect() "
                f"(offered: {sorted(self._feeds)})"
            )
        if frames is None:
            feed.feed(None)
            self._send(CONTROL, self._codec.track_notice("unpublish_track", track))
            return
        rid, frame = self._codec.publish_track(track)
        await self._request(CONTROL, rid, frame)
        feed.feed(frames)

    async def _request(self, label: str, rid: str, frame: bytes) -> Reply:
        if self._closed.is_set():
            raise ConnectionError("the connection is closed")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self._send(label, frame)
            reply = await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"request {rid} got no reply within {self.request_timeout:g} s"
            ) from None
        finally:
            self._pending.pop(rid, None)
        if reply.kind == "error":
            raise CommandFailed(*reply.value)
        if reply.kind == "clip_failed":
            raise CommandFailed("clip_failed", reply.value)
        return reply

    def _send(self, label: str, frame: bytes) -> None:
        channel = self._channels.get(label)
        if channel is None or channel.readyState != "open":
            raise ConnectionError(f"the {label!r} channel is not open")
        channel.send(frame)

    # ------------------------------------------------------------------ inbound

    def _on_frame(self, label: str, frame: str | bytes) -> None:
        try:
            decoded = ClientCodec.decode(label, frame)
            if isinstance(decoded, Reply):
                future = self._pending.get(decoded.request_id)
                if future is not None and not future.done():
                    future.set_result(decoded)
                elif decoded.kind == "message":
                    self._on_message(decoded.value)
            elif isinstance(decoded, Notice):
                self._on_notice(decoded)
        except Exception:
            # Never let a handler error reach aiortc's receive path (it would kill the pc).
            log.exception("handling a %r frame failed", label)

    def _on_notice(self, notice: Notice) -> None:
        if notice.kind == "message":
            self._on_message(notice.value)
        elif notice.kind == "error":
            self.errors.append(notice.value)
            log.warning("server error: %s: %s", *notice.value)
        elif notice.kind == "session_ended":
            self.end_reason = notice.value
        elif notice.kind == "moderation":
            self._on_message(("moderation", notice.value))

    def _on_message(self, message: tuple[str, dict[str, Any]]) -> None:
        self.message_log.append(message)
        if len(self.message_log) > MESSAGE_LOG:
            del self.message_log[: len(self.message_log) - MESSAGE_LOG]
        self._messages.publish(message)
        self._message_arrived.set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def closed(self) -> bool:
        """True once the connection has ended (closed by us or lost)."""
        return self._closed.is_set()

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the connection ends (e.g. the server stopped the session)."""
        await asyncio.wait_for(self._closed.wait(), timeout)

    async def stats(self) -> dict[str, Any]:
        """Per received track: frames, RTP packets and payload bytes, first/last arrival."""
        return {name: counters.as_dict() for name, counters in self.counters.items()}

    async def close(self, *, stop_session: bool | None = None) -> None:
        """Leave: stop publishing, close the peer connection, end every iterator.

        Args:
            stop_session: Also `POST /stop_session` (ending the session for every
                viewer). Defaults to `connect(stop_session=...)`, itself False.
        """
        stop = self.stop_session_on_close if stop_session is None else stop_session
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(stop))
        await asyncio.shield(self._close_task)

    async def _close(self, stop_session: bool) -> None:
        self._closed.set()
        self._message_arrived.set()
        for name, feed in self._feeds.items():
            if feed.sent:
                with contextlib.suppress(Exception):
                    self._send(CONTROL, self._codec.track_notice("unpublish_track", name))
            feed.stop()
        for task in self._tasks:
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the connection closed"))
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pc.close(), 5.0)
        for reader in self._readers.values():
            await reader.stop()
        self._messages.close()
        try:
            if stop_session:
                with contextlib.suppress(ConnectError):
                    await self._signalling.stop_session()
        finally:
            await self._signalling.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_connection_state(self) -> None:
        assert self.pc is not None
        if self.pc.connectionState in ("failed", "closed") and self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(False))

    async def _ping(self) -> None:
        while True:
            with contextlib.suppress(ConnectionError):
                self._send(CONTROL, ClientCodec.ping())
            await asyncio.sleep(PING_INTERVAL)

    def _on_track(self, track: MediaStreamTrack) -> None:
        assert self.pc is not None
        mid = next((t.mid for t in self.pc.getTransceivers() if t.receiver.track is track), None)
        name = self._by_mid.get(mid or "")
        if name is None or name in self._readers:
            return
        reader = self._readers[name] = TrackReader(
            name, track, self.counters[name], self._trailers.get(name)
        )
        reader.start()
