"""CORS for browsers (WIRE.md §2.1), as plain ASGI middleware.

Starlette's `CORSMiddleware` answers only "real" preflights (with
`Access-Control-Request-Method`) and cannot add the Private Network Access
header, so this one answers *every* `OPTIONS` itself and stamps every other
response, error pages included.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Reactor-API-Version",
    "Reactor-API-Accept-Version",
    "Reactor-WebRTC-Version",
)
ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def preflight_headers(requested: str | None) -> list[tuple[bytes, bytes]]:
    """Headers of an `OPTIONS` answer; `requested` is `Access-Control-Request-Headers`."""
    # A bare `*` would not cover Authorization, so name the headers: ours plus whatever is asked.
    names = list(ALLOWED_HEADERS)
    known = {n.lower() for n in names}
    for name in (requested or "").split(","):
        name = name.strip()
        if name and name.lower() not in known:
            names.append(name)
            known.add(name.lower())
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-allow-headers", ", ".join(names).encode("latin-1")),
        (b"access-control-allow-private-network", b"true"),
        (b"access-control-max-age", b"600"),
        (b"content-length", b"0"),
    ]


class CorsMiddleware:
    """Answer every preflight; put `Access-Control-Allow-Origin: *` on every response."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            requested = _header(scope, b"access-control-request-headers")
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": preflight_headers(requested),
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"access-control-allow-origin"
                ]
                headers += [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-allow-private-network", b"true"),
                    (b"access-control-expose-headers", b"Retry-After"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except Exception as exc:
            # Starlette's own error page would come from outside this middleware, without CORS.
            log.exception("unhandled error in %s %s", scope["method"], scope.get("path"))
            if started:
                raise
            await _send_json(stamped, 500, {"detail": f"internal error: {exc!r}"})


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
