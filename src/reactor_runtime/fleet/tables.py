"""The controller's tables: replicas, sessions, the FIFO queue, and allocation.

Plain Python, no Ray and no I/O, so every rule can be tested alone; the
controller actor (`controller.py`) owns one `Tables` and does the HTTP calls
these rules ask for.

Sessions go `PENDING` (queued) → `WAITING` (a replica reserved, being started)
→ `ACTIVE` (the replica answered with its descriptor) → `CLOSED` (with a
`reason`). A replica goes `loading` → `idle` ⇄ `reserved`/`busy`, or `down`
(its process died, its health failed, it stopped reporting) and `draining`.

Invariant: the session → replica map is injective. `reserve()` is the only way
to bind, it picks an idle replica and marks it reserved in one synchronous step,
and a replica is idle only when its own reports say no session runs on it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

POLL_BUDGET = 140.0
"""Seconds the official clients keep polling a pending session (COORDINATOR.md §4.2)."""
EXPIRY_GRACE = 15.0
"""Seconds past the poll budget before a queued session is dropped: the clients' last
poll comes at ~143 s and their DELETE at ~153 s (COORDINATOR.md §4.2, §7)."""
EXPECTED_SESSION = 60.0
"""Seconds a session is assumed to last until some have ended (then: their mean)."""
MAX_QUEUE = 1000
"""Sessions waiting at most, whatever the estimate says: bounded memory."""
LEASE = 10.0
"""Seconds a reservation may take to start on its replica before it is taken back."""
REPORT_TIMEOUT = 3.0
"""Seconds without a health report before a replica counts as lost (a hung node)."""
CLOSED_KEPT = 600.0
"""Seconds a closed session is remembered, so late polls get `CLOSED`, not 404."""


@dataclass
class Replica:
    """One replica as the controller sees it."""

    name: str
    url: str
    state: str = "loading"
    session: str | None = None
    reported_at: float = field(default_factory=time.monotonic)
    node: str = ""
    pid: int | None = None
    restarts: int = 0


@dataclass
class Session:
    """One session of the gateway's clients."""

    sid: str
    created: float
    state: str = "PENDING"
    replica: str | None = None
    descriptor: dict[str, Any] | None = None
    reason: str | None = None
    reserved_at: float = 0.0
    bound_at: float = 0.0
    bound_wall: float = 0.0
    closed_at: float = 0.0
    model: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """What the gateway needs: state, replica, descriptor, reason (absent keys omitted)."""
        out: dict[str, Any] = {"session_id": self.sid, "state": self.state}
        for key in ("replica", "descriptor", "reason"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Tables:
    """Replicas, sessions and the queue; see the module docstring."""

    def __init__(
        self,
        *,
        poll_budget: float = POLL_BUDGET,
        expected_session: float = EXPECTED_SESSION,
        max_queue: int = MAX_QUEUE,
        max_session: float | None = None,
    ) -> None:
        """Empty tables; the limits are the module's constants unless given.

        `max_session` (seconds, None for no limit) ends sessions that run longer.
        """
        self.poll_budget = poll_budget
        self.expected_session = expected_session
        self.max_queue = max_queue
        self.max_session = max_session
        self.replicas: dict[str, Replica] = {}
        self.sessions: dict[str, Session] = {}
        self.queue: list[str] = []
        self.counts: Counter[str] = Counter()
        self.waits: list[float] = []
        self.intakes: list[float] = []
        self._durations: list[float] = []

    # sessions -----------------------------------------------------------------------------

    def create(self, sid: str, created: float, model: dict[str, Any] | None = None) -> Session:
        """Queue a new session (idempotent per `sid`), or close it when it cannot be served.

        Sessions are queued in `created` order, so a session re-created after a
        controller restart keeps its place.
        """
        if sid in self.sessions:
            return self.sessions[sid]
        session = Session(sid, created, model=dict(model or {}))
        self.sessions[sid] = session
        self.counts["sessions_created"] += 1
        self.intakes = [*self.intakes[-999:], time.time() - created]
        ahead = len(self.queue)
        wait = self.expected_wait(ahead)
        if ahead >= self.max_queue or wait > self.poll_budget:
            self.counts["sessions_refused"] += 1
            why = (
                f"{ahead} sessions already wait for one of {self.capacity()} replicas "
                f"(about {wait:.0f} s), more than the clients' {self.poll_budget:g} s poll budget"
                if ahead < self.max_queue
                else f"the queue is full ({self.max_queue} sessions, limit MAX_QUEUE)"
            )
            self._close(session, f"the fleet is full: {why}; try again later")
            return session
        index = len(self.queue)
        while index > 0 and self.sessions[self.queue[index - 1]].created > created:
            index -= 1
        self.queue.insert(index, sid)
        return session

    def capacity(self) -> int:
        """Replicas that serve or will serve soon (not down)."""
        return sum(1 for r in self.replicas.values() if r.state not in ("down", "draining"))

    def expected_wait(self, ahead: int) -> float:
        """Seconds a session with `ahead` sessions before it may wait for a replica."""
        idle = sum(1 for r in self.replicas.values() if r.state == "idle")
        if ahead < idle:
            return 0.0
        capacity = max(self.capacity(), 1)
        rounds = (ahead - idle) // capacity + 1
        return rounds * self.expected_session

    def close(self, sid: str, reason: str) -> Session | None:
        """End a session: dequeue it or unbind it. Returns it, or None if unknown.

        The caller stops it on its replica (when it had one) and then calls `freed`.
        """
        session = self.sessions.get(sid)
        if session is None:
            return None
        if session.state != "CLOSED":
            self._close(session, reason)
        return session

    def _close(self, session: Session, reason: str) -> None:
        if session.sid in self.queue:
            self.queue.remove(session.sid)
        if session.bound_at:
            self._durations = [*self._durations[-99:], time.monotonic() - session.bound_at]
            self.expected_session = max(sum(self._durations) / len(self._durations), 1.0)
        session.state, session.reason = "CLOSED", reason
        session.closed_at = time.monotonic()
        self.counts["sessions_closed"] += 1

    def forget_old(self, now: float | None = None) -> None:
        """Drop sessions closed more than `CLOSED_KEPT` seconds ago."""
        now = time.monotonic() if now is None else now
        for sid in [s.sid for s in self.sessions.values() if s.state == "CLOSED"]:
            if now - self.sessions[sid].closed_at > CLOSED_KEPT:
                del self.sessions[sid]

    def expire_pending(self, now: float | None = None) -> list[str]:
        """Close queued sessions past the poll budget plus `EXPIRY_GRACE`: their client left."""
        now = time.time() if now is None else now
        limit = self.poll_budget + EXPIRY_GRACE
        late = [sid for sid in self.queue if now - self.sessions[sid].created > limit]
        for sid in late:
            self._close(self.sessions[sid], "no replica became free within the poll budget")
            self.counts["sessions_expired"] += 1
        return late

    def expire_active(self, now: float | None = None) -> list[tuple[str, str]]:
        """Close sessions bound longer than `max_session`; returns (session, replica) pairs.

        The caller stops each on its replica, then frees the replica.
        """
        if self.max_session is None:
            return []
        now = time.monotonic() if now is None else now
        late = [
            (s.sid, str(s.replica))
            for s in self.sessions.values()
            if s.state == "ACTIVE" and s.replica and now - s.bound_at > self.max_session
        ]
        for sid, _ in late:
            self._close(self.sessions[sid], f"the session reached its {self.max_session:g} s limit")
            self.counts["sessions_timed_out"] += 1
        return late

    # allocation ---------------------------------------------------------------------------

    def reserve(self) -> tuple[Session, Replica] | None:
        """Bind the first queued session to an idle replica, in one step; None if either lacks."""
        if not self.queue:
            return None
        replica = next((r for r in self.replicas.values() if r.state == "idle"), None)
        if replica is None:
            return None
        session = self.sessions[self.queue.pop(0)]
        session.state, session.replica = "WAITING", replica.name
        session.reserved_at = time.monotonic()
        replica.state, replica.session = "reserved", session.sid
        self.counts["allocations"] += 1
        self.waits = [*self.waits[-999:], time.time() - session.created]
        return session, replica

    def started(self, sid: str, descriptor: dict[str, Any]) -> bool:
        """The replica started `sid`: the session is ACTIVE. False if it ended meanwhile."""
        session = self.sessions.get(sid)
        if session is None or session.state != "WAITING":
            return False
        replica = self.replicas.get(session.replica or "")
        if replica is None or replica.session != sid:
            return False
        session.state, session.descriptor = "ACTIVE", descriptor
        session.bound_at, session.bound_wall = time.monotonic(), time.time()
        replica.state = "busy"
        return True

    def not_started(self, sid: str, replica_state: str, refused_as_busy: bool) -> None:
        """The replica did not start `sid`: requeue it first, mark the replica `replica_state`."""
        session = self.sessions.get(sid)
        if refused_as_busy:
            self.counts["double_bookings_refused"] += 1
        if session is not None and session.replica is not None:
            replica = self.replicas.get(session.replica)
            if replica is not None and replica.session == sid:
                replica.state, replica.session = replica_state, None
        if session is not None and session.state == "WAITING":
            session.state, session.replica = "PENDING", None
            self.queue.insert(0, sid)

    def freed(self, name: str) -> None:
        """The replica's session was stopped: it is idle again (unless down or draining)."""
        replica = self.replicas.get(name)
        if replica is not None and replica.state in ("busy", "reserved"):
            replica.state, replica.session = "idle", None

    # replica reports ----------------------------------------------------------------------

    def report(
        self,
        name: str,
        url: str,
        health: dict[str, Any] | None,
        fetched_at: float | None = None,
        **info: Any,
    ) -> list[str]:
        """Apply a replica's report (`health` is its `/health`, None when it is down).

        `fetched_at` (wall clock) is when the health request was sent: a report older
        than a session's start cannot say that session ended.

        Returns:
            Ids of sessions this report shows ended, closed here; the caller forgets them.
        """
        replica = self.replicas.get(name)
        if replica is None:
            replica = self.replicas[name] = Replica(name, url)
            self.counts["replicas_registered"] += 1
        replica.url, replica.reported_at = url, time.monotonic()
        for key, value in info.items():
            setattr(replica, key, value)
        if health is None:
            drained = replica.state == "draining"
            return self._lost(replica, f"its replica {'was drained' if drained else 'stopped'}")
        running = health.get("session_id") if health.get("sessions") else None
        if health.get("draining"):
            new_state = "draining"
        elif health.get("status") != "ok":
            new_state = "loading" if health.get("status") == "loading" else "down"
        else:
            new_state = "busy" if running else "idle"
        ended: list[str] = []
        bound = replica.session
        held = self.sessions.get(bound) if bound is not None else None
        fresh = held is None or fetched_at is None or fetched_at > held.bound_wall
        if (
            held is not None
            and replica.state in ("busy", "draining")
            and running != bound
            and fresh
        ):
            ended.append(held.sid)
            was_draining = replica.state == "draining" or health.get("draining")
            drained = " (drained)" if was_draining else ""
            self._close(held, f"the session ended on its replica{drained}")
            replica.session = None
        if replica.state == "reserved" or not fresh:
            return ended  # the start in flight decides; this report may predate it
        if running is not None and running != replica.session:
            self._adopt(replica, running)
        replica.state = new_state
        if new_state in ("idle", "down", "loading"):
            replica.session = None
        return ended

    def _adopt(self, replica: Replica, sid: str) -> None:
        """A replica runs `sid` we did not bind to it (we restarted): take the binding over."""
        session = self.sessions.get(sid)
        other = [r for r in self.replicas.values() if r.session == sid and r is not replica]
        if other:
            self.counts["double_bookings_seen"] += 1
            return
        if session is None:
            session = self.sessions[sid] = Session(sid, time.time())
        if sid in self.queue:
            self.queue.remove(sid)
        if session.state == "CLOSED":
            return
        session.state, session.replica = "ACTIVE", replica.name
        session.bound_at = session.bound_at or time.monotonic()
        replica.session = sid
        self.counts["sessions_adopted"] += 1

    def _lost(self, replica: Replica, reason: str) -> list[str]:
        ended = []
        if replica.session is not None and replica.session in self.sessions:
            ended.append(replica.session)
            self._close(self.sessions[replica.session], reason)
        if replica.state != "down":
            self.counts["replicas_lost"] += 1
        replica.state, replica.session = "down", None
        return ended

    def check_silent(self, now: float | None = None) -> list[str]:
        """Mark replicas silent for `REPORT_TIMEOUT` seconds down; returns sessions ended."""
        now = time.monotonic() if now is None else now
        ended: list[str] = []
        for replica in self.replicas.values():
            if replica.state != "down" and now - replica.reported_at > REPORT_TIMEOUT:
                ended += self._lost(replica, "its replica stopped reporting (node lost?)")
        return ended

    def stale_reservations(self, now: float | None = None) -> list[str]:
        """Sessions reserved longer than `LEASE` ago and still not started."""
        now = time.monotonic() if now is None else now
        return [
            s.sid
            for s in self.sessions.values()
            if s.state == "WAITING" and now - s.reserved_at > LEASE
        ]

    def snapshot(self) -> dict[str, Any]:
        """Replicas, sessions and queue as JSON (`GET /fleet`)."""
        return {
            "replicas": [
                {
                    "name": r.name,
                    "url": r.url,
                    "state": r.state,
                    "session": r.session,
                    "node": r.node,
                    "pid": r.pid,
                    "restarts": r.restarts,
                }
                for r in self.replicas.values()
            ],
            "sessions": [s.public() for s in self.sessions.values() if s.state != "CLOSED"],
            "queue": list(self.queue),
            "counts": dict(self.counts),
            "expected_session_s": round(self.expected_session, 3),
            "waits_s": list(self.waits[-200:]),
            "intakes_s": list(self.intakes[-200:]),
        }
