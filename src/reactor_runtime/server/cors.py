"""CORS for browsers (WIRE.md §2.1), as plain ASGI middleware, with an origin policy.

Starlette's `CORSMiddleware` answers only "real" preflights (with
`Access-Control-Request-Method`) and cannot add the Private Network Access
header, so this one answers *every* `OPTIONS` itself and stamps every other
response, error pages included.

Which origins get access is a `CorsPolicy`:

- open (no tokens, no `--cors-origin`): `Access-Control-Allow-Origin: *`, as the
  official clients expect from a local runtime;
- an allow-list (`--cors-origin`, repeatable): only a listed `Origin` is granted,
  echoed back with `Vary: Origin`; any other gets no CORS headers at all;
- guarded (tokens, no list): the empty allow-list, so only the runtime's own page
  (same origin, which needs no CORS) can call it.

`Access-Control-Allow-Credentials` is never sent: access is granted by a bearer
token the caller adds itself, never by cookies a browser would attach on its own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

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
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def normalise_origin(text: str) -> str:
    """`text` as a browser sends it in `Origin`: `scheme://host[:port]`, lower case.

    `*` stays `*` (any origin). A default port is dropped, as browsers do.

    Raises:
        ValueError: `text` is not an origin (a path, query, user or other scheme).
    """
    text = text.strip()
    if text == "*":
        return text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme.lower() not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(
            f"--cors-origin: expected an origin like https://app.example:8443 or *, got {text!r}"
        )
    scheme, host = parts.scheme.lower(), parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    shown = "" if port is None or port == _DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host}{shown}"


class CorsPolicy:
    """Which request origins are granted cross-origin access; see the module docstring."""

    def __init__(self, origins: Iterable[str] | None = None, *, guarded: bool = False) -> None:
        """`origins` is the allow-list (None: none given); `guarded` when tokens are set.

        Raises:
            ValueError: an entry of `origins` is not an origin.
        """
        listed = None if origins is None else [normalise_origin(o) for o in origins]
        if listed is None and guarded:
            listed = []
        self.any = listed is None or "*" in listed
        self.origins = frozenset(listed or ())

    def allow(self, origin: str | None) -> str | None:
        """The `Access-Control-Allow-Origin` value for a request from `origin`, or None."""
        if self.any:
            return "*"
        if origin is not None and origin.lower() in self.origins:
            return origin
        return None

    @property
    def varies(self) -> bool:
        """Whether answers depend on `Origin` (so caches must key on it)."""
        return not self.any


def preflight_headers(requested: str | None, allow_origin: str = "*") -> list[tuple[bytes, bytes]]:
    """Headers of a granted `OPTIONS` answer; `requested` is `Access-Control-Request-Headers`."""
    # A bare `*` would not cover Authorization, so name the headers: ours plus whatever is asked.
    names = list(ALLOWED_HEADERS)
    known = {n.lower() for n in names}
    for name in (requested or "").split(","):
        name = name.strip()
        if name and name.lower() not in known:
            names.append(name)
            known.add(name.lower())
    return [
        (b"access-control-allow-origin", allow_origin.encode("latin-1")),
        (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
        (b"access-control-allow-headers", ", ".join(names).encode("latin-1")),
        (b"access-control-allow-private-network", b"true"),
        (b"access-control-max-age", b"600"),
    ]


class CorsMiddleware:
    """Answer every preflight; stamp every response with what `policy` grants its origin."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy | None = None) -> None:
        """Wrap `app`; the default policy is open (`*`)."""
        self.app = app
        self.policy = policy or CorsPolicy()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        granted = self.policy.allow(_header(scope, b"origin"))
        vary = [(b"vary", b"Origin")] if self.policy.varies else []
        if scope["method"] == "OPTIONS":
            headers = [(b"content-length", b"0"), *vary]
            if granted is not None:
                requested = _header(scope, b"access-control-request-headers")
                headers += preflight_headers(requested, granted)
            await send({"type": "http.response.start", "status": 204, "headers": headers})
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
                    if not k.lower().startswith(b"access-control-")
                ]
                if granted is not None:
                    headers += [
                        (b"access-control-allow-origin", granted.encode("latin-1")),
                        (b"access-control-allow-private-network", b"true"),
                        (b"access-control-expose-headers", b"Retry-After"),
                    ]
                message = {**message, "headers": headers + vary}
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
