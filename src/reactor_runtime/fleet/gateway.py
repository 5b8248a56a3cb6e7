"""The gateway: the coordinator API (COORDINATOR.md) in front of the fleet.

Stateless: every answer comes from the controller (`controller.py`), so several
gateways may serve one fleet (they must share the `Credentials` secret,
`REACTOR_FLEET_SECRET`). What it promises the official clients, which retry nothing:

- `POST /sessions` answers 201 `PENDING` at once; capacity is never a 429/503. A
  session the queue cannot serve within the clients' poll budget is `CLOSED`
  with the reason, which fails the client at once instead of after 140 s.
- `GET /sessions/{id}` holds a pending session's poll up to `HOLD` seconds, so a
  freed replica is handed over at once rather than at the client's next poll
  (up to 10 s later). Until bound, `capabilities` and `selected_transport` are
  omitted (never `null`). If the controller is restarting, the answer is still
  a 2xx (`PENDING`), never an error the client would not survive.
- `/sessions/{id}/transport/webrtc/*` is reverse-proxied to the bound replica
  (small JSON only: media goes straight to the replica's candidates). The
  client's `Authorization` is not forwarded.

Browsers on our page (local mode) get a base URL each: see `slots.py`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..server.cors import CorsMiddleware
from .metrics import GatewayMetrics
from .slots import SLOT_HOLD, add_slot_routes
from .tokens import AuthError, Credentials

log = logging.getLogger(__name__)

HOLD = 4.0
"""Seconds a poll of a pending session is held open waiting for a replica."""
PROXY_TIMEOUT = 10.0
"""Seconds a proxied signalling request may take at the replica."""
MAX_BODY = 256 * 1024
"""Largest signalling body proxied (an offer is ~6 KB; media never comes this way)."""
BINDING_TTL = 2.0
"""Seconds a gateway reuses a session's replica URL without asking the controller."""
MAX_BINDINGS = 10_000
"""Session bindings a gateway remembers at most (bounded memory)."""
_FORWARDED = ("content-type", "reactor-api-version", "reactor-api-accept-version")
_FORWARDED_PREFIX = "reactor-"


class _Slashes:
    """Collapses repeated slashes: JS with a trailing `/` in `apiUrl` asks `//sessions`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = {**scope, "path": re.sub("/{2,}", "/", scope["path"])}
        await self.app(scope, receive, send)


class _Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


class _Bindings:
    """Which replica runs a session, asked of the controller at most every `BINDING_TTL`.

    A stale entry is harmless: the replica checks the session id in every
    signalling URL and answers 404 for a session it no longer runs.
    """

    def __init__(self, controller: Any) -> None:
        self.controller = controller
        self._known: dict[str, tuple[str | None, float]] = {}

    def forget(self, sid: str) -> bool:
        """Drop what is known of `sid`; True if something was."""
        return self._known.pop(sid, None) is not None

    async def get(self, sid: str) -> str | None:
        now = time.monotonic()
        url, until = self._known.get(sid, (None, 0.0))
        if now < until:
            return url
        url = await self.controller.binding.remote(sid)
        if len(self._known) >= MAX_BINDINGS:
            self._known = {k: v for k, v in self._known.items() if v[1] > now}
            if len(self._known) >= MAX_BINDINGS:
                self._known.clear()
        if url is not None:
            self._known[sid] = (url, now + BINDING_TTL)
        return url


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def create_gateway(
    controller: Any,
    credentials: Credentials,
    *,
    hold: float = HOLD,
    cluster: str = "reactor-fleet",
    slot_hold: float = SLOT_HOLD,
) -> FastAPI:
    """The gateway app over `controller` (a Ray actor handle of `Controller`).

    `hold` is how long a pending poll waits; `slot_hold` how long a local-mode
    `start_session` does (`slots.py`).
    """
    app = FastAPI(title="reactor fleet gateway", version=__version__)
    app.add_middleware(CorsMiddleware)
    app.add_middleware(_Slashes)
    metrics = GatewayMetrics(controller)
    bindings = _Bindings(controller)
    http = httpx.AsyncClient(timeout=PROXY_TIMEOUT)

    def authorise(request: Request) -> None:
        try:
            credentials.check(request.headers.get("authorization"))
        except AuthError as exc:
            metrics.refused_auth += 1
            raise _Refusal(401, str(exc)) from None

    @app.exception_handler(_Refusal)
    async def refused(request: Request, exc: _Refusal) -> JSONResponse:
        return _json({"detail": exc.detail}, exc.status)

    def record(sid: str, state: str, model: dict[str, Any]) -> dict[str, Any]:
        return {
            "session_id": sid,
            "state": state,
            "cluster": cluster,
            "model": {"name": str(model.get("name") or "default")},
            "server_info": {"server_version": __version__},
        }

    @app.post("/tokens")
    async def tokens(request: Request) -> JSONResponse:
        body = await _body(request)
        expires_after = body.get("expires_after")
        if not isinstance(expires_after, int | float) or isinstance(expires_after, bool):
            expires_after = None
        try:
            token, expires = credentials.mint(request.headers.get("reactor-api-key"), expires_after)
        except AuthError as exc:
            metrics.refused_auth += 1
            return _json({"detail": str(exc)}, 401)
        return _json({"jwt": token, "expires_at": expires})

    @app.post("/sessions")
    async def create(request: Request) -> JSONResponse:
        authorise(request)
        body = await _body(request)
        model = body.get("model")
        model = model if isinstance(model, dict) else {}
        sid = credentials.new_session_id()
        created = credentials.session_created(sid) or time.time()
        try:
            found = await controller.create.remote(sid, created, {"name": model.get("name")})
        except Exception as exc:
            # The controller is restarting: the id is signed, the first poll re-creates it.
            log.warning("controller unreachable on create: %r", exc)
            found = {"state": "PENDING"}
        out = record(sid, found["state"], model)
        if found.get("reason"):
            out["reason"] = found["reason"]
        metrics.created += 1
        return _json(out, 201)

    async def lookup(sid: str, hold: float) -> dict[str, Any] | None:
        created = credentials.session_created(sid)
        if created is None:
            return None
        found = await controller.get.remote(sid, hold)
        if found is None:
            # Ours, but the controller does not know it: it restarted. Queue it again.
            await controller.create.remote(sid, created, {})
            found = await controller.get.remote(sid, hold)
        return found

    @app.get("/sessions/{sid}")
    async def poll(sid: str, request: Request) -> JSONResponse:
        authorise(request)
        try:
            found = await lookup(sid, hold)
        except Exception as exc:
            log.warning("controller unreachable on poll: %r", exc)
            return _json(record(sid, "PENDING", {}))
        if found is None:
            return _json({"detail": f"unknown session {sid!r}"}, 404)
        descriptor = found.get("descriptor") or {}
        out = record(sid, found["state"], descriptor.get("model") or {})
        if found["state"] == "ACTIVE" and descriptor:
            out["model"] = descriptor["model"]
            out["cluster"] = str(found.get("replica") or cluster)
            out["selected_transport"] = descriptor["selected_transport"]
            out["capabilities"] = descriptor["capabilities"]
        elif found.get("reason"):
            out["reason"] = found["reason"]
        return _json(out)

    @app.delete("/sessions/{sid}")
    async def delete(sid: str, request: Request) -> Response:
        authorise(request)
        body = await _body(request)
        reason = body.get("reason")
        if credentials.session_created(sid) is None:
            return _json({"detail": f"unknown session {sid!r}"}, 404)
        bindings.forget(sid)
        known = await controller.delete.remote(sid, str(reason or "the client ended the session"))
        return Response(status_code=204 if known else 404)

    @app.api_route("/sessions/{sid}/transport/webrtc/{rest:path}", methods=["GET", "POST", "PUT"])
    async def proxy(sid: str, rest: str, request: Request) -> Response:
        authorise(request)
        return await forward(sid, f"sessions/{sid}/transport/webrtc/{rest}", request)

    async def forward(sid: str, path: str, request: Request) -> Response:
        """Proxy `request` to `path` on the replica running `sid` (404 when none)."""
        started = time.perf_counter()
        url = None
        if credentials.session_created(sid) is not None:
            url = await bindings.get(sid)
        if url is None:
            return _json({"detail": f"session {sid!r} is not running on a replica"}, 404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return _json({"detail": f"body over {MAX_BODY} bytes (limit MAX_BODY)"}, 413)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in _FORWARDED or k.lower().startswith(_FORWARDED_PREFIX)
        }
        target = f"{url}/{path}"
        try:
            answer = await http.request(request.method, target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            metrics.proxy_errors += 1
            return _json({"detail": f"the replica did not answer: {type(exc).__name__}"}, 502)
        # A refusal may mean the session ended meanwhile (another gateway's DELETE, the
        # replica's orphan timeout): the controller says whether it still runs.
        gone = answer.status_code in (400, 404) and bindings.forget(sid)
        if gone and await bindings.get(sid) is None:
            return _json({"detail": f"session {sid!r} is not running on a replica"}, 404)
        metrics.proxied(time.perf_counter() - started)
        kept = {k: v for k, v in answer.headers.items() if k.lower() == "content-type"}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    add_slot_routes(app, controller, credentials, forward, hold=slot_hold)

    @app.get("/fleet")
    async def fleet(request: Request) -> JSONResponse:
        authorise(request)
        return _json(await controller.snapshot.remote())

    @app.get("/fleet/targets")
    async def targets() -> JSONResponse:
        snapshot = await controller.snapshot.remote()
        return JSONResponse(
            [
                {"targets": [r["url"].split("://", 1)[1]], "labels": {"replica": r["name"]}}
                for r in snapshot["replicas"]
                if r["url"]
            ]
        )

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(await metrics.text(), media_type="text/plain; version=0.0.4")

    @app.get("/health")
    async def health() -> JSONResponse:
        return _json({"status": "ok", "dev_mode": credentials.dev_mode})

    return app


async def _body(request: Request) -> dict[str, Any]:
    """The request's JSON object; `{}` for an absent or `null` body.

    Raises:
        _Refusal: 413 past `MAX_BODY`, 400 for invalid JSON or a non-object.
    """
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _Refusal(413, f"request body: {len(raw)} bytes, at most {MAX_BODY} (limit MAX_BODY)")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refusal(400, f"request body: not valid JSON ({exc})") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Refusal(400, f"request body: expected a JSON object, got {type(body).__name__}")
    return body
