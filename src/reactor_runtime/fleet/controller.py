"""The controller: one named, detached Ray actor owning allocation.

It holds the `Tables` and does what their rules ask over HTTP: start a reserved
session on its replica (`POST /start_session` with the session id, so the
replica's own 409 is the last guard against a double booking), stop one that is
deleted. Replica supervisors report each replica's `/health` every second;
gateways create, read and delete sessions. Every method runs on the actor's one
event loop, so a reservation (pick an idle replica, mark it reserved) is one
synchronous step that no other call can interleave.

After a restart the tables are empty and refill by themselves: the supervisors'
next reports bring back every replica and the session it runs (adopted), and a
gateway re-creates any queued session a client still polls (its signed id says
when it was created, so it keeps its place in the queue).

The class is plain Python; `launch.py` makes it a Ray actor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx

from .tables import LEASE, Tables

log = logging.getLogger(__name__)

TICK = 0.25
"""Seconds between the controller's housekeeping rounds (lost replicas, leases, expiry)."""
MAX_HOLD = 10.0
"""Longest a `get()` may wait for a pending session to change."""


class Controller:
    """Allocation of sessions to replicas; see the module docstring."""

    def __init__(self, **limits: Any) -> None:
        """Empty tables with `limits` (`Tables` keyword arguments)."""
        self.tables = Tables(**limits)
        self.started_at = time.time()
        self._http: httpx.AsyncClient | None = None
        self._events: dict[str, asyncio.Event] = {}
        self._slots: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ticker: asyncio.Task[None] | None = None

    def _ensure(self) -> None:
        if self._ticker is None:
            self._http = httpx.AsyncClient(timeout=LEASE)
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    # gateway calls ------------------------------------------------------------------------

    async def create(self, sid: str, created: float, model: dict[str, Any] | None = None) -> dict:
        """Queue session `sid` (idempotent); returns its public record."""
        self._ensure()
        session = self.tables.create(sid, created, model)
        self._dispatch()
        return session.public()

    async def get(self, sid: str, hold: float = 0.0) -> dict | None:
        """The record of `sid`, waiting up to `hold` seconds while it is not yet ACTIVE."""
        self._ensure()
        session = self.tables.sessions.get(sid)
        if session is None:
            return None
        if session.state in ("PENDING", "WAITING") and hold > 0:
            event = self._events.setdefault(sid, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(hold, MAX_HOLD))
        return session.public()

    async def binding(self, sid: str) -> str | None:
        """The URL of the replica running `sid`, when ACTIVE."""
        session = self.tables.sessions.get(sid)
        if session is None or session.state != "ACTIVE" or session.replica is None:
            return None
        replica = self.tables.replicas.get(session.replica)
        return replica.url if replica is not None else None

    async def delete(self, sid: str, reason: str = "the client ended the session") -> bool:
        """End `sid`; False if unknown."""
        self._ensure()
        session = self.tables.sessions.get(sid)
        if session is None:
            return False
        was = session.state
        self.tables.close(sid, reason)
        self._wake(sid)
        if was == "ACTIVE" and session.replica is not None:
            await self._stop_on(session.replica, sid, reason)
        return True

    async def open_slot(self, slot: str, sid: str, created: float) -> str:
        """The live session of page slot `slot` (`slots.py`), or `sid`, queued for it now."""
        self._ensure()
        current = await self.slot_session(slot)
        if current is not None:
            return current
        self._slots[slot] = sid
        self.tables.create(sid, created)
        self._dispatch()
        return sid

    async def slot_session(self, slot: str) -> str | None:
        """The session of `slot`, unless it ended."""
        sid = self._slots.get(slot)
        session = self.tables.sessions.get(sid) if sid is not None else None
        return sid if session is not None and session.state != "CLOSED" else None

    async def snapshot(self) -> dict[str, Any]:
        """Replicas, sessions, queue and counters (`GET /fleet`)."""
        out = self.tables.snapshot()
        out["controller_started_at"] = self.started_at
        return out

    async def drain(self, name: str, timeout: float | None = None) -> bool:
        """Drain replica `name`: no new allocation; its session ends by `timeout`."""
        replica = self.tables.replicas.get(name)
        if replica is None or self._http is None:
            return False
        replica.state = "draining"
        body = {} if timeout is None else {"timeout": timeout}
        try:
            await self._http.post(replica.url + "/drain", json=body)
        except httpx.HTTPError as exc:
            log.warning("drain of %s failed: %r", name, exc)
            return False
        return True

    # supervisor calls ---------------------------------------------------------------------

    async def report(
        self,
        name: str,
        url: str,
        health: dict[str, Any] | None,
        fetched_at: float | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        """A replica's health (None: its process is gone)."""
        self._ensure()
        for sid in self.tables.report(name, url, health, fetched_at, **(info or {})):
            self._wake(sid)
        self._dispatch()

    # allocation ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while (pair := self.tables.reserve()) is not None:
            session, replica = pair
            self._spawn(self._start(session.sid, replica.name, replica.url))

    async def _start(self, sid: str, name: str, url: str) -> None:
        assert self._http is not None
        status, descriptor = 0, None
        try:
            answer = await self._http.post(
                url + "/start_session", headers={"Reactor-Session-Id": sid}, json={}
            )
            status = answer.status_code
            if answer.status_code == 200:
                descriptor = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("starting %s on %s failed: %r", sid, name, exc)
        if descriptor is not None:
            if not self.tables.started(sid, descriptor):
                # Deleted (or its replica lost) while starting: undo on the replica.
                await self._stop_on(name, sid, "the session was ended while it started")
        else:
            if status == 409:
                log.warning("replica %s refused %s as busy (409)", name, sid)
            self.tables.not_started(
                sid, "busy" if status == 409 else "loading", refused_as_busy=status == 409
            )
        self._wake(sid)
        self._dispatch()

    async def _stop_on(self, name: str, sid: str, reason: str) -> None:
        replica = self.tables.replicas.get(name)
        if replica is None or self._http is None:
            return
        try:
            await self._http.post(replica.url + "/stop_session", json={"reason": reason[:64]})
        except httpx.HTTPError as exc:
            log.warning("stopping %s on %s failed: %r", sid, name, exc)
            return
        if replica.session == sid:
            self.tables.freed(name)
        self._dispatch()

    # housekeeping -------------------------------------------------------------------------

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                ended = self.tables.check_silent() + self.tables.expire_pending()
                for sid, name in self.tables.expire_active():
                    ended.append(sid)
                    self._spawn(self._stop_on(name, sid, "the session reached its time limit"))
                for sid in self.tables.stale_reservations():
                    self.tables.not_started(sid, "loading", refused_as_busy=False)
                    ended.append(sid)
                for sid in ended:
                    self._wake(sid)
                self.tables.forget_old()
                self._slots = {k: v for k, v in self._slots.items() if v in self.tables.sessions}
                self._dispatch()
            except Exception:
                log.exception("controller housekeeping failed")

    def _wake(self, sid: str) -> None:
        event = self._events.pop(sid, None)
        if event is not None:
            event.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
