"""Local-mode clients through the gateway (COORDINATOR.md §9): one base URL per user.

Local-mode routes (`/start_session`, `/session`, `/stop_session`) carry no session
id, so each user gets a base URL of their own, `/l/{slot}/`, and the slot is the
credential (a signed, unguessable id, like a session id). Under it the gateway
serves our browser page and the routes that page calls:

- `GET /l/{slot}/` and the page's files;
- `POST /l/{slot}/start_session`: queue a session for the slot (or find its live
  one) and hold the request until a replica runs it, up to `SLOT_HOLD` seconds;
  then the replica's descriptor with the gateway's session id. Still queued:
  503 + `Retry-After` (the page retries). Idempotent per slot;
- `GET /l/{slot}/session`, `POST /l/{slot}/stop_session` (always 200),
  `GET /l/{slot}/schema`, and the signalling routes, proxied to the replica.

Slots are minted by `GET /` in dev mode (a redirect to a fresh slot, so opening
the gateway in a browser just works) and by `POST /slots` with a bearer token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from ..server.pages import web_file
from .tokens import AuthError, Credentials

SLOT_HOLD = 20.0
"""Seconds `start_session` waits for a replica before answering 503 + `Retry-After`."""
SLOT_RETRY_AFTER = 3
"""`Retry-After` (seconds) of a `start_session` still queued."""

Forward = Callable[[str, str, Request], Awaitable[Response]]


def add_slot_routes(
    app: FastAPI,
    controller: Any,
    credentials: Credentials,
    forward: Forward,
    *,
    hold: float = SLOT_HOLD,
) -> None:
    """Add the slot routes (see the module docstring) to the gateway `app`."""

    def refuse(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status)

    def check(slot: str) -> None:
        if credentials.session_created(slot) is None:
            raise _UnknownSlot(slot)

    @app.exception_handler(_UnknownSlot)
    async def unknown(request: Request, exc: _UnknownSlot) -> JSONResponse:
        return refuse(404, f"unknown slot {exc.slot!r}: open the gateway's / for a new one")

    @app.get("/")
    async def new_page() -> Response:
        if not credentials.dev_mode:
            return refuse(404, "POST /slots with a bearer token mints a page URL")
        return RedirectResponse(f"/l/{credentials.new_session_id()}/", status_code=303)

    @app.post("/slots")
    async def new_slot(request: Request) -> JSONResponse:
        try:
            credentials.check(request.headers.get("authorization"))
        except AuthError as exc:
            return refuse(401, str(exc))
        return JSONResponse({"url": f"/l/{credentials.new_session_id()}/"}, status_code=201)

    @app.post("/l/{slot}/start_session")
    async def start(slot: str) -> JSONResponse:
        check(slot)
        sid = await controller.open_slot.remote(slot, credentials.new_session_id(), time.time())
        deadline = time.monotonic() + hold
        found = await controller.get.remote(sid, 0.0)
        while found["state"] in ("PENDING", "WAITING") and time.monotonic() < deadline:
            found = await controller.get.remote(sid, deadline - time.monotonic())
        if found["state"] == "ACTIVE":
            return JSONResponse({**found["descriptor"], "session_id": sid})
        if found["state"] == "CLOSED":
            return refuse(503, f"the session could not start: {found.get('reason')}")
        return JSONResponse(
            {"detail": "every replica is busy; you are queued"},
            status_code=503,
            headers={"Retry-After": str(SLOT_RETRY_AFTER)},
        )

    async def live(slot: str) -> str | None:
        check(slot)
        return await controller.slot_session.remote(slot)

    @app.get("/l/{slot}/session")
    async def session(slot: str) -> JSONResponse:
        sid = await live(slot)
        found = await controller.get.remote(sid, 0.0) if sid else None
        if found is not None and found["state"] == "ACTIVE":
            return JSONResponse({**found["descriptor"], "session_id": sid})
        return JSONResponse({"session_id": sid or "", "state": "READY"})

    @app.post("/l/{slot}/stop_session")
    async def stop(slot: str) -> Response:
        sid = await live(slot)
        if sid is not None:
            await controller.delete.remote(sid, "the viewer ended the session")
        return Response(status_code=200)

    @app.get("/l/{slot}/schema")
    async def schema(slot: str, request: Request) -> Response:
        sid = await live(slot)
        if sid is None:
            return refuse(404, "no session runs in this slot: start one first")
        return await forward(sid, "schema", request)

    @app.api_route(
        "/l/{slot}/sessions/{sid}/transport/webrtc/{rest:path}", methods=["GET", "POST", "PUT"]
    )
    async def transport(slot: str, sid: str, rest: str, request: Request) -> Response:
        if await live(slot) != sid:
            return refuse(404, f"session {sid!r} does not run in this slot")
        return await forward(sid, f"sessions/{sid}/transport/webrtc/{rest}", request)

    @app.get("/l/{slot}/{path:path}", response_model=None)
    async def page(slot: str, path: str) -> Response:
        check(slot)
        found = web_file(path)
        if found is None:
            return refuse(404, f"not found: {path}")
        return FileResponse(found)


class _UnknownSlot(Exception):
    def __init__(self, slot: str) -> None:
        super().__init__(slot)
        self.slot = slot
