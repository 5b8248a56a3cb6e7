"""`Liveness`: notice within seconds that a viewer has vanished, whatever it receives.

A viewer that vanishes without a goodbye (closed laptop, lost link) sends nothing more.
aiortc's own ICE consent checks (every ~5 s, 6 failures) take ~30 s to say so; RTCP
comes every second only from a receiver of video; the clients' data-channel pings come
every 5 s (v0) or 10 s (v1). None of these alone answers "gone within 5 s" for an
audio-only viewer, so we ask: every `probe_interval` seconds a STUN binding request
goes to the viewer on the selected ICE pair (a consent check of our own, RFC 7675; both
aiortc and libwebrtc answer them at once). Anything heard from the viewer counts as a
sign of life: the answer to a probe, any inbound packet (RTP, RTCP, DTLS/SCTP, its own
ICE checks). After `timeout` seconds without one, the viewer is gone.

The inbound hooks sit on this connection's aioice `Connection` instances only (like
`ice.use_host_addresses`); other connections in the process are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice import stun
from aiortc import RTCPeerConnection

from .aiortc_private import require

log = logging.getLogger(__name__)

AIORTC_PRIVATE = (
    "RTCIceTransport._connection",
    "Connection._nominated",
)
"""The private names of aiortc (and its aioice) this module reads (see `aiortc_private`)."""
_WHERE = "transport/liveness.py"

PROBE_INTERVAL = 1.0
"""Seconds between our consent probes: one lost probe must not look like a vanish."""
VANISH_TIMEOUT = 4.0
"""Seconds without a sign of life before a viewer is gone: 4 probes unanswered, so the
verdict comes within 4-5 s of the last packet (the goal: <= 5 s)."""
CHECK_TICK = 0.25
"""How often the silence is measured (the verdict is at most this late)."""


@dataclass(frozen=True)
class LivenessSettings:
    """How fast a silent viewer is declared gone.

    Attributes:
        probe_interval: Seconds between consent probes to the viewer.
        timeout: Seconds without any sign of life before the viewer is gone.
    """

    probe_interval: float = PROBE_INTERVAL
    timeout: float = VANISH_TIMEOUT

    def __post_init__(self) -> None:
        """Reject settings that would reap healthy viewers."""
        if not self.probe_interval > 0:
            raise ValueError(f"probe_interval: expected > 0 s, got {self.probe_interval!r}")
        if not self.timeout >= 2 * self.probe_interval:
            raise ValueError(
                f"timeout: expected at least two probe intervals "
                f"({2 * self.probe_interval:g} s), got {self.timeout!r}"
            )

    @property
    def worst_case(self) -> float:
        """The longest a vanished viewer can go unnoticed, in seconds."""
        return self.timeout + min(CHECK_TICK, self.probe_interval / 4)


class Liveness:
    """Watches one connected peer; calls `on_gone(silent_seconds)` once when it vanishes."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        on_gone: Callable[[float], None],
        settings: LivenessSettings | None = None,
    ) -> None:
        """Watch `pc`; nothing runs until `start()`."""
        self.pc = pc
        self.on_gone = on_gone
        self.settings = settings or LivenessSettings()
        self.last_heard = time.monotonic()
        self.probes_sent = 0
        self.probes_answered = 0
        self._task: asyncio.Task[None] | None = None
        self._probing: set[asyncio.Task[None]] = set()
        self._hooked: set[int] = set()

    def heard(self) -> None:
        """Note a sign of life (called by the hooks; callers may add their own)."""
        self.last_heard = time.monotonic()

    def start(self) -> None:
        """Start watching (from now: the silence is counted from this call)."""
        if self._task is None:
            self.heard()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="liveness")

    def stop(self) -> None:
        """Stop watching and probing."""
        for task in [self._task, *self._probing]:
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._task = None

    async def _run(self) -> None:
        settings = self.settings
        tick = min(CHECK_TICK, settings.probe_interval / 4)
        next_probe = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            for connection in self._connections():
                self._hook(connection)
            now = time.monotonic()
            silent = now - self.last_heard
            if silent > settings.timeout:
                self._task = None
                self.on_gone(silent)
                return
            if now >= next_probe:
                next_probe = now + settings.probe_interval
                for connection in self._connections():
                    self._probe(connection)

    def _connections(self) -> list[Any]:
        """The aioice `Connection`s of this peer (one with max-bundle)."""
        transports = [t.receiver.transport for t in self.pc.getTransceivers()]
        if self.pc.sctp is not None:
            transports.append(self.pc.sctp.transport)
        found: dict[int, Any] = {}
        for dtls in transports:
            if dtls is not None:
                require(dtls.transport, "RTCIceTransport", AIORTC_PRIVATE, _WHERE)
                connection = dtls.transport._connection
                found[id(connection)] = connection
        return list(found.values())

    def _hook(self, connection: Any) -> None:
        if id(connection) in self._hooked:
            return
        self._hooked.add(id(connection))
        require(connection, "Connection", AIORTC_PRIVATE, _WHERE)
        data_received = connection.data_received
        request_received = connection.request_received

        def on_data(data: bytes, component: int) -> None:
            self.last_heard = time.monotonic()
            data_received(data, component)

        def on_request(message: Any, addr: Any, protocol: Any) -> None:
            self.last_heard = time.monotonic()
            request_received(message, addr, protocol)

        connection.data_received = on_data
        connection.request_received = on_request

    def _probe(self, connection: Any) -> None:
        if self._probing or connection.remote_password is None:
            return
        for pair in list(connection._nominated.values()):
            task = asyncio.get_running_loop().create_task(self._ask(connection, pair))
            self._probing.add(task)
            task.add_done_callback(self._probing.discard)

    async def _ask(self, connection: Any, pair: Any) -> None:
        request = connection.build_request(pair, nominate=False)
        self.probes_sent += 1
        with contextlib.suppress(stun.TransactionError, ConnectionError, OSError):
            await pair.protocol.request(
                request,
                pair.remote_addr,
                integrity_key=connection.remote_password.encode("utf8"),
                retransmissions=0,
            )
            self.probes_answered += 1
            self.heard()

    def stats(self) -> dict[str, Any]:
        """Probes sent and answered, and seconds since the last sign of life."""
        return {
            "probes_sent": self.probes_sent,
            "probes_answered": self.probes_answered,
            "silent_s": round(time.monotonic() - self.last_heard, 3),
        }
