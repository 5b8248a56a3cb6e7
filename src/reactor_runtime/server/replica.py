"""`Replica`: what an orchestrator sees of a runtime — readiness, idleness, drain.

One `reactor run` process is one replica: one loaded model, at most one session.
Whatever drives a fleet of them (`reactor fleet`, Kubernetes, Agones) needs four
answers from each, and this module gives them without knowing who asks:

- **ready** (`GET /ready`): the model is loaded and the replica is not draining.
  A busy replica is still ready: readiness says the process works, idleness says
  whether it can take a session.
- **idle** (`GET /health`: `state` `READY`, `sessions` 0): no session runs.
- **start with an external id** (`POST /start_session` with the header
  `Reactor-Session-Id` or `session_id` in the body): the orchestrator's id becomes
  the session's id in the descriptor and in the transport routes. The runtime
  answers 409 unless idle or already running that same id, so an orchestrator
  that double-books a replica is refused by the replica itself.
- **drain** (`POST /drain`, SIGTERM): refuse new sessions (503 + `Retry-After`), let
  the live one run until it ends or `drain_timeout` passes, then end it with a
  reason its viewers are told, then call `on_drained` (the server exits 0).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .errors import ApiError
from .requests import json_body

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 60.0
"""Seconds a draining replica lets its live session run before ending it: long enough
for a viewer to finish a short session, short enough for a rolling update."""
DRAIN_RETRY_AFTER = 5
"""`Retry-After` (seconds) on a start refused while draining: another replica will do."""
SESSION_ID_HEADER = "Reactor-Session-Id"
"""Header carrying an orchestrator's session id on `POST /start_session`."""
MAX_SESSION_ID = 128
"""Longest external session id: a UUID is 36 characters; ids end up in URLs and logs."""
_SESSION_ID = re.compile(r"[A-Za-z0-9._~-]+")
STATES = ("loading", "idle", "busy", "draining", "error")
"""Values of the `reactor_state` metric and of `/health`'s `replica`."""


def parse_session_id(header: str | None, body: dict[str, Any]) -> str | None:
    """The external session id of a start request: the header's, else the body's, else None.

    Raises:
        ApiError: 400 when the id is not a URL-safe string of at most `MAX_SESSION_ID`
            characters, or when header and body disagree.
    """
    from_body = body.get("session_id")
    if from_body is not None and not isinstance(from_body, str):
        raise ApiError(400, f"session_id: expected a string, got {type(from_body).__name__}")
    if header is not None and from_body is not None and header != from_body:
        raise ApiError(
            400, f"session_id: the body's {from_body!r} differs from {SESSION_ID_HEADER} {header!r}"
        )
    found = header if header is not None else from_body
    if found is None:
        return None
    where = SESSION_ID_HEADER if header is not None else "session_id"
    if len(found) > MAX_SESSION_ID:
        raise ApiError(
            400,
            f"{where}: at most {MAX_SESSION_ID} characters (limit MAX_SESSION_ID), "
            f"got {len(found)}",
        )
    if not _SESSION_ID.fullmatch(found):
        raise ApiError(
            400, f"{where}: expected URL-safe characters (letters, digits, -._~), got {found!r}"
        )
    return found


class Replica:
    """Readiness, idleness and drain of one runtime (see the module docstring)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        drain_timeout: float = DRAIN_TIMEOUT,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        """Watch `runtime`; `on_drained` runs once a drain has ended its session."""
        self.runtime = runtime
        self.drain_timeout = drain_timeout
        self.on_drained = on_drained
        self.draining_since: float | None = None
        self.refused: Counter[str] = Counter()
        self._drain_task: asyncio.Task[None] | None = None

    # what the orchestrator reads ----------------------------------------------------------

    @property
    def draining(self) -> bool:
        """True once a drain was asked for."""
        return self.draining_since is not None

    @property
    def ready(self) -> bool:
        """True when the model is loaded and the replica is not draining (busy or not)."""
        return self.runtime.loaded and not self.draining

    @property
    def state(self) -> str:
        """One of `STATES`: loading, idle, busy, draining or error."""
        if self.runtime.load_error is not None:
            return "error"
        if self.draining:
            return "draining"
        if not self.runtime.loaded:
            return "loading"
        return "busy" if self.runtime.running else "idle"

    def health(self) -> dict[str, Any]:
        """The keys this module adds to `/health`."""
        return {
            "replica": self.state,
            "sessions": 1 if self.runtime.running else 0,
            "ready": self.ready,
            "draining": self.draining,
        }

    # what the orchestrator asks -----------------------------------------------------------

    async def start_session(
        self, extra_args: dict[str, Any] | None, session_id: str | None
    ) -> dict[str, Any]:
        """Start (or join) the session; see `Runtime.start_session`.

        Raises:
            ApiError: 503 + `Retry-After` while draining or loading, 409 when busy with
                another session id; each refusal is counted by reason.
        """
        if self.draining:
            self.refused["draining"] += 1
            raise ApiError(
                503,
                "this replica is draining and takes no new session; use another one",
                {"Retry-After": str(DRAIN_RETRY_AFTER)},
            )
        try:
            return await self.runtime.start_session(extra_args, session_id=session_id)
        except ApiError as exc:
            self.refused[{409: "busy", 503: "loading"}.get(exc.status, "error")] += 1
            raise

    def drain(self, timeout: float | None = None) -> asyncio.Task[None]:
        """Stop taking sessions and end the live one by `timeout` (default `drain_timeout`).

        Idempotent: a second call returns the first drain's task.
        """
        if self._drain_task is None:
            self.draining_since = time.monotonic()
            wait = self.drain_timeout if timeout is None else timeout
            log.warning("draining: no new session; the live one may run %g s more", wait)
            self._drain_task = asyncio.create_task(self._drain(wait), name="drain")
        return self._drain_task

    async def _drain(self, timeout: float) -> None:
        runtime = self.runtime
        deadline = time.monotonic() + timeout
        while runtime.running and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))
        if runtime.running:
            await runtime.stop_session(
                f"the server is shutting down: its drain timeout ({timeout:g} s) has passed"
            )
        log.warning("drained: no session left")
        if self.on_drained is not None:
            self.on_drained()

    # HTTP and metrics ---------------------------------------------------------------------

    def install(self, app: FastAPI, guarded: Sequence[Depends] = ()) -> None:
        """Add `GET /ready` (open) and `POST /drain` (behind `guarded`) to `app`."""

        @app.get("/ready")
        async def ready() -> JSONResponse:
            body = {"ready": self.ready, "state": self.state}
            return JSONResponse(body, status_code=200 if self.ready else 503)

        @app.post("/drain", dependencies=list(guarded))
        async def drain(request: Request) -> JSONResponse:
            timeout = (await json_body(request, required=False)).get("timeout")
            if timeout is not None and (
                isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
            ):
                raise ApiError(400, f"timeout: expected seconds >= 0, got {timeout!r}")
            self.drain(timeout)
            return JSONResponse(
                {"draining": True, "state": self.state, "sessions": self.health()["sessions"]},
                status_code=202,
            )

    def collector(self) -> Collector:
        """A collector of `reactor_state`, `reactor_session_active` and `reactor_draining`."""
        return _ReplicaCollector(self)


class _ReplicaCollector(Collector):
    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def collect(self) -> Iterator[Metric]:
        replica = self.replica
        current = replica.state
        state = GaugeMetricFamily(
            "reactor_state", "The replica's state: 1 for the current one.", labels=["state"]
        )
        for name in STATES:
            state.add_metric([name], 1.0 if name == current else 0.0)
        yield state
        yield GaugeMetricFamily(
            "reactor_session_active",
            "1 while a session runs.",
            value=1.0 if replica.runtime.running else 0.0,
        )
        yield GaugeMetricFamily(
            "reactor_draining", "1 once a drain was asked for.", value=float(replica.draining)
        )
        refused = CounterMetricFamily(
            "reactor_sessions_refused",
            "Session starts refused, by reason (busy, draining, loading, error).",
            labels=["reason"],
        )
        for reason in ("busy", "draining", "loading", "error"):
            refused.add_metric([reason], replica.refused[reason])
        yield refused


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `reactor run`'s replica options: `--drain-timeout` and `--public-ip`."""
    parser.add_argument(
        "--drain-timeout",
        type=_seconds,
        default=DRAIN_TIMEOUT,
        metavar="SECONDS",
        help="on SIGTERM or POST /drain, let the live session run this long before ending it, "
        f"then exit 0 ({DRAIN_TIMEOUT:g})",
    )
    parser.add_argument(
        "--public-ip",
        type=_address,
        default=None,
        metavar="ADDRESS",
        help="announce this address in the host ICE candidates of answers (a one-to-one NAT, "
        "e.g. a cloud VM's public address); default: the interfaces' own",
    )
