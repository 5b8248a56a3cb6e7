"""`Runtime`: the loaded model for the process lifetime, and the one session it hosts.

The model owns the GPU, so it is loaded once, when the process starts
(`Session.start()`), and stays loaded. A *session* in WIRE.md terms
(`/start_session` ... `/stop_session`) is an epoch over that same running
`Session`: starting one opens the door to viewers, ending one closes every
viewer's peer (after telling it why) and runs the model's `@disconnected` hooks;
the model keeps running and the next `/start_session` begins a new epoch.

The session id is the nil UUID in every epoch (WIRE.md §2.8 recommendation), unless
the starter names one (an orchestrator's id, see `server/replica.py`): a client
holding a stale id simply finds the state `READY` and transport routes answering
400 until a new session is started.

States (the descriptor's `state`): `READY` (no session), `WAITING` (started, no
viewer yet), `STREAMING` (a viewer is connected), `ORPHANED` (every viewer left),
`CLOSING` (ending). A session with no connected viewer for `orphan_timeout`
seconds (counted from its start or the last viewer, and from the last signalling
request, so a client mid-negotiation is not cut off) ends by itself.

Viewer connections are `Signalling`'s: held to `Limits`, one that gets no offer, or
whose peer does not connect, in time is reaped (see `table`); refusals and reaps are
counted in `limit_counts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..session import Session
from .connections import Peer
from .counters import CommandCounter, LimitCounter
from .errors import ApiError
from .factories import HubFactory, PeerFactory, default_transport
from .limits import Limits
from .signalling import Signalling

if TYPE_CHECKING:
    from ..transport.limits import ChannelCounters, ChannelLimits
    from ..transport.liveness import LivenessSettings
    from ..transport.peer import PlayoutDelay

log = logging.getLogger(__name__)

NIL_SESSION_ID = "00000000-0000-0000-0000-000000000000"


class Runtime:
    """Hosts one model and, at most, one session of viewers over it."""

    def __init__(
        self,
        session: Session,
        *,
        model_name: str | None = None,
        model_version: str | None = None,
        ice_servers: list[dict[str, Any]] | None = None,
        video_codec: str = "vp8",
        orphan_timeout: float = 60.0,
        max_connections: int = 8,
        limits: Limits | None = None,
        peer_factory: PeerFactory | None = None,
        hub_factory: HubFactory | None = None,
        public_ip: str | None = None,
        channel_limits: ChannelLimits | None = None,
        liveness: LivenessSettings | None = None,
        min_bitrate: int | None = None,
        max_bitrate: int | None = None,
        max_trailer: int | None = None,
        temporal_layers: int | None = None,
        low_stream: bool | None = None,
        transport_cc: bool = True,
        playout_delay: PlayoutDelay = "auto",
    ) -> None:
        """Prepare a runtime for `session`; the model loads on `begin_loading()`.

        Args:
            session: the (not yet started) session of the model.
            model_name: the name clients see; defaults to the session's.
            model_version: the model version in the descriptor.
            ice_servers: WIRE.md §2.5 entries given to clients and peers (default none).
            video_codec: the hub's preferred video codec, "vp8" or "h264".
            orphan_timeout: seconds without a viewer before a session ends; <= 0 never.
            max_connections: concurrent peers per session before 503.
            limits: request and connection bounds (defaults: `Limits()`).
            peer_factory: builds viewer peers (default `transport.ViewerPeer`).
            hub_factory: builds the media hub (default `transport.MediaHub`).
            public_ip: the address host candidates in answers carry (NAT 1:1), if any.
            channel_limits: bounds on each viewer's data channels (default `ChannelLimits()`);
                what they refuse and drop is counted in `channel_counters`.
            liveness: how fast a silent viewer is declared gone (default: 4 s).
            min_bitrate: lowest video rate (bit/s) viewers' estimates may lead to
                (default: `transport.rate_control.DEFAULT_MIN_BITRATE`).
            max_bitrate: highest video rate (bit/s) of any stream (default: 10 Mbit/s).
            max_trailer: largest frame-metadata trailer (bytes) read off a viewer's video
                (default: `transport.frame_metadata.MAX_TRAILER`).
            temporal_layers: VP8 temporal layers of the hub's streams, 1 or 2 (default 2).
            low_stream: False: no second, smaller encode for viewers far below the
                others (`transport.low_stream`; default on).
            transport_cc: estimate each viewer's path here from its transport-cc
                feedback when it offers that (default); False leaves it to its REMB.
            playout_delay: what viewers are asked to buffer (`transport.peer.PlayoutDelay`).
        """
        self.session = session
        self.model_name = model_name or session.name
        self.model_version = model_version or str(getattr(session.model_class, "version", "local"))
        self.ice_servers = list(ice_servers or [])
        self.video_codec = video_codec
        self.orphan_timeout = orphan_timeout
        self.max_connections = max_connections
        self._peer_factory = peer_factory
        self._hub_factory = hub_factory
        self.public_ip = public_ip
        self.channel_limits = channel_limits
        self.liveness = liveness
        hub = (("min_bitrate", min_bitrate), ("max_bitrate", max_bitrate))
        self.hub_options = {k: v for k, v in (*hub, ("temporal_layers", temporal_layers)) if v}
        if low_stream is not None:
            self.hub_options["low_stream"] = low_stream
        self.max_trailer = max_trailer
        self.transport_cc = transport_cc
        self.playout_delay = playout_delay
        self.channel_counters: ChannelCounters | None = None
        self._session_id = NIL_SESSION_ID
        self.hub: Any = None
        self.started_at = time.monotonic()
        self.load_error: str | None = None
        self._load_task: asyncio.Task[None] | None = None
        self.commands = CommandCounter(session)
        self.limits = limits or Limits()
        self.limit_counts = LimitCounter()
        self.sessions_started = 0
        self.extra_args: dict[str, Any] = {}
        self._active = False
        self._epoch = 0
        self._had_viewer = False
        self._last_activity = 0.0
        self.signalling = Signalling(max_connections, self.limits, self.limit_counts, public_ip)
        self._lock: asyncio.Lock | None = None
        self._closing: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None

    # model lifetime -----------------------------------------------------------------------

    def begin_loading(self) -> asyncio.Task[None]:
        """Start loading the model in the background (once); returns the loading task."""
        if self._load_task is None:
            self._lock = asyncio.Lock()
            self._load_task = asyncio.create_task(self._load(), name="model-load")
        return self._load_task

    async def _load(self) -> None:
        try:
            if self._peer_factory is None or self._hub_factory is None:
                peer_factory, hub_factory = default_transport(
                    self.video_codec, self._peer_options(), self.hub_options
                )
                self._peer_factory = self._peer_factory or peer_factory
                self._hub_factory = self._hub_factory or hub_factory
            await self.session.start()
            self.hub = self._hub_factory(self.session)
            await _maybe_await(getattr(self.hub, "start", None))
        except Exception as exc:
            self.load_error = str(exc) or repr(exc)
            raise

    def _peer_options(self) -> dict[str, Any]:
        from ..transport.limits import ChannelCounters

        self.channel_counters = ChannelCounters()
        return {
            "channel_limits": self.channel_limits,
            "channel_counters": self.channel_counters,
            "liveness": self.liveness,
            **({"max_trailer": self.max_trailer} if self.max_trailer else {}),
            "transport_cc": self.transport_cc,
            "playout_delay": self.playout_delay,
        }

    async def wait_loaded(self) -> None:
        """Wait until the model is loaded.

        Raises:
            Exception: whatever loading raised (e.g. `ModelLoadError`).
        """
        await asyncio.shield(self.begin_loading())

    @property
    def loaded(self) -> bool:
        """True once the model is loaded and serving."""
        task = self._load_task
        return task is not None and task.done() and not task.cancelled() and not task.exception()

    async def stop(self) -> None:
        """Shut down: end the session (viewers told why), stop the hub and the model."""
        if self._active or self._closing is not None:
            await self.stop_session("the server is shutting down")
        task = self._load_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.hub is not None:
            with contextlib.suppress(Exception):
                await _maybe_await(getattr(self.hub, "stop", None))
        if self.loaded:
            await self.session.stop()
            return
        # load() is still running on the model thread and cannot be interrupted; the
        # session's stop would wait seconds for a loop that is not running yet. Mark it
        # stopping and move on: the model thread is a daemon and dies with the process.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.session.stop(), 0.3)

    # session epochs ----------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The id of the hosted session: the starter's, else the nil UUID."""
        return self._session_id

    @property
    def running(self) -> bool:
        """True while a session is started and not closing."""
        return self._active

    @property
    def state(self) -> str:
        """The descriptor state: READY, WAITING, STREAMING, ORPHANED or CLOSING."""
        if not self._active:
            return "CLOSING" if self._closing is not None else "READY"
        if self.session.viewers:
            self._had_viewer = True
            return "STREAMING"
        return "ORPHANED" if self._had_viewer else "WAITING"

    def tracks(self) -> list[dict[str, str]]:
        """The session's tracks with client directions, outputs first (m-line order)."""
        out = [
            {"name": t.name, "kind": t.kind, "direction": "recvonly"}
            for t in self.session.output_tracks
        ]
        return out + [
            {"name": t.name, "kind": t.kind, "direction": "sendonly"}
            for t in self.session.input_tracks
        ]

    def descriptor(self) -> dict[str, Any]:
        """The session descriptor (WIRE.md §6)."""
        return {
            "session_id": self._session_id,
            "state": self.state,
            "cluster": "local",
            "model": {"name": self.model_name, "version": self.model_version},
            "server_info": {"server_version": __version__},
            "selected_transport": {"protocol": "webrtc", "version": "1.0"},
            "capabilities": {
                "protocol_version": "v0",
                "tracks": self.tracks(),
                "commands": self.session.commands.capabilities(),
                "emission_fps": self.session.buffer.fps,
            },
        }

    async def start_session(
        self, extra_args: dict[str, Any] | None = None, *, session_id: str | None = None
    ) -> dict[str, Any]:
        """Start a session, or return the running one's descriptor (idempotent).

        With `session_id`, the session takes that id, and a session running under
        another id is not joined: 409.

        Raises:
            ApiError: 503 while the model loads, 500 if it failed to load, 409 when
                busy with another session id.
        """
        if self.load_error is not None:
            raise ApiError(500, f"the model failed to load: {self.load_error}")
        if not self.loaded:
            raise ApiError(503, "the model is still loading; retry shortly", {"Retry-After": "2"})
        assert self._lock is not None
        async with self._lock:
            if self._closing is not None:
                await asyncio.shield(self._closing)
            if self._active and session_id is not None and session_id != self._session_id:
                raise ApiError(
                    409,
                    f"session_id: this replica is busy with session {self._session_id!r}, "
                    f"not {session_id!r}; it takes a new session once idle",
                )
            if not self._active:
                self._session_id = session_id or NIL_SESSION_ID
                self._active = True
                self._epoch += 1
                self.sessions_started += 1
                self._had_viewer = False
                self.extra_args = dict(extra_args or {})
                self.touch()
                await self.session.begin_session()
                if self.orphan_timeout > 0:
                    self._watcher = asyncio.create_task(self._watch(), name="orphan-watch")
                log.info("session %d started", self._epoch)
        return self.descriptor()

    async def stop_session(self, reason: str | None = None) -> None:
        """End the running session, if any: every peer is told `reason` and closed."""
        if self._active and self._closing is None:
            self._closing = asyncio.create_task(self._end(reason or "the session was stopped"))
        if self._closing is not None:
            await asyncio.shield(self._closing)

    async def _end(self, reason: str) -> None:
        self._active = False
        try:
            watcher, self._watcher = self._watcher, None
            if watcher is not None and watcher is not asyncio.current_task():
                watcher.cancel()
            # @session_ended runs while viewers are still there; their leaving then runs no
            # per-viewer @disconnected hooks.
            await self.session.end_session()
            viewers = await self.signalling.close_all(reason)
            # A peer that never reported its viewer gone must not leave the model "connected".
            for viewer in list(viewers & self.session.viewers):
                await self.session.viewer_left(viewer)
            log.info("session %d ended: %s", self._epoch, reason)
        finally:
            self._session_id = NIL_SESSION_ID
            self._closing = None

    def touch(self) -> None:
        """Note client activity: it postpones the orphan timeout."""
        self._last_activity = time.monotonic()

    async def _watch(self) -> None:
        tick = min(0.5, max(self.orphan_timeout / 4, 0.05))
        while self._active:
            await asyncio.sleep(tick)
            if self.session.viewers:
                self._had_viewer = True
                self.touch()
            elif time.monotonic() - self._last_activity >= self.orphan_timeout:
                log.info("no viewer for %g s: ending the session", self.orphan_timeout)
                self._closing = asyncio.current_task()  # type: ignore[assignment]
                await self._end(f"no viewer for {self.orphan_timeout:g} s")
                return

    # transport ----------------------------------------------------------------------------

    def require_session(self, sid: str) -> None:
        """Check a transport route's session id.

        Raises:
            ApiError: 400 when no session runs, 404 for another session id.
        """
        if not self._active:
            raise ApiError(400, "No session running")
        if sid != self._session_id:
            raise ApiError(
                404, f"unknown session {sid!r}; the running session is {self._session_id}"
            )
        self.touch()

    @property
    def connection_count(self) -> int:
        """Live connections (flat and scoped) of the running session."""
        return self.signalling.live

    def offer(
        self,
        cid: int | None,
        offer_sdp: str,
        track_mapping: list[dict[str, Any]],
        client: str | None = None,
    ) -> None:
        """Answer an offer with a viewer peer of this epoch (see `Signalling.offer`)."""
        self.signalling.offer(
            cid, offer_sdp, track_mapping, client, epoch=self._epoch, make_peer=self._make_peer
        )

    def _make_peer(self, **kwargs: Any) -> Peer:
        assert self._peer_factory is not None
        return self._peer_factory(self.session, self.hub, ice_servers=self.ice_servers, **kwargs)


async def _maybe_await(method: Callable[[], Any] | None) -> None:
    if method is None:
        return
    result = method()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
