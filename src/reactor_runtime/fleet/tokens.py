"""The gateway's credentials: API keys, the bearer tokens minted from them, session ids.

- **API keys** (`--api-key`, repeatable, or `REACTOR_API_KEYS`, comma-separated) are
  what an app backend (or PY's `api_key=`) presents once, in `Reactor-API-Key`, to
  `POST /tokens`.
- **Tokens** are `<payload>.<mac>`: the payload is base64url JSON `{"exp": unix
  seconds}`, the mac an HMAC-SHA256 of it under the fleet's secret. With keys
  configured only such tokens, unexpired, are accepted. Without keys the gateway
  runs in *dev mode*: any bearer, or none, is let in (and it says so at start).
- **Session ids** are `<created ms, hex>-<random>-<mac>`: URL-safe, unguessable,
  and checkable without any table, so a gateway (or a restarted controller) can
  tell an id it minted, and when, from one it did not.

Secrets never appear in a log line, an error message or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterable

API_KEYS_ENV = "REACTOR_API_KEYS"
"""Environment variable holding API keys, comma-separated."""
TOKEN_LIFETIME = 3600.0
"""Seconds a minted token is valid by default (the hosted service's default)."""
MAX_TOKEN_LIFETIME = 6 * 3600.0
"""Longest lifetime a `POST /tokens` may ask for (`expires_after`), as hosted."""


class AuthError(Exception):
    """A credential was refused; the message says why, never what it was."""


def _mac(secret: bytes, data: str) -> str:
    digest = hmac.new(secret, data.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


class Credentials:
    """API keys, token minting and checking, and session ids, under one secret."""

    def __init__(self, api_keys: Iterable[str] = (), secret: bytes | None = None) -> None:
        """Accept `api_keys` (none: dev mode); `secret` signs tokens and ids (default random).

        Several gateways of one fleet must share the secret.
        """
        keys = [k.strip() for k in api_keys if k.strip()]
        self._keys = tuple(hashlib.sha256(k.encode()).digest() for k in keys)
        self._secret = secret or secrets.token_bytes(32)

    @classmethod
    def from_env(cls, api_keys: Iterable[str] = (), secret: bytes | None = None) -> Credentials:
        """`api_keys` plus those of `REACTOR_API_KEYS`."""
        extra = os.environ.get(API_KEYS_ENV, "").split(",")
        return cls([*api_keys, *extra], secret)

    @property
    def dev_mode(self) -> bool:
        """True without API keys: every bearer is accepted."""
        return not self._keys

    def __repr__(self) -> str:
        """Says how many keys, never which."""
        return f"Credentials({len(self._keys)} api keys)"

    def mint(self, api_key: str | None, expires_after: float | None = None) -> tuple[str, int]:
        """Exchange an API key for a token; returns the token and its expiry (unix seconds).

        Raises:
            AuthError: the key is missing or not one of ours (dev mode takes any).
        """
        if not self.dev_mode:
            if not api_key:
                raise AuthError("an API key is required: send the header 'Reactor-API-Key'")
            presented = hashlib.sha256(api_key.strip().encode()).digest()
            found = False
            for key in self._keys:
                found |= hmac.compare_digest(presented, key)
            if not found:
                raise AuthError("the API key was not accepted")
        lifetime = min(max(expires_after or TOKEN_LIFETIME, 1.0), MAX_TOKEN_LIFETIME)
        expires = int(time.time() + lifetime)
        payload = base64.urlsafe_b64encode(json.dumps({"exp": expires}).encode()).decode()
        payload = payload.rstrip("=")
        return f"{payload}.{_mac(self._secret, payload)}", expires

    def check(self, authorization: str | None) -> None:
        """Let a request in, or raise.

        Raises:
            AuthError: no bearer token, a token we did not mint, or an expired one.
        """
        if self.dev_mode:
            return
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("a bearer token is required: send 'Authorization: Bearer <token>'")
        payload, _, mac = token.partition(".")
        if not hmac.compare_digest(mac.encode(), _mac(self._secret, payload).encode()):
            raise AuthError("the bearer token was not accepted")
        try:
            padded = payload + "=" * (-len(payload) % 4)
            expires = float(json.loads(base64.urlsafe_b64decode(padded))["exp"])
        except (ValueError, KeyError, TypeError):
            raise AuthError("the bearer token was not accepted") from None
        if expires < time.time():
            raise AuthError("the bearer token has expired: mint a new one at POST /tokens")

    def new_session_id(self, now: float | None = None) -> str:
        """A fresh session id (see the module docstring)."""
        created = int((time.time() if now is None else now) * 1000)
        body = f"{created:x}-{secrets.token_hex(8)}"
        return f"{body}-{self._sid_mac(body)}"

    def _sid_mac(self, body: str) -> str:
        return hmac.new(self._secret, b"sid:" + body.encode(), hashlib.sha256).hexdigest()[:20]

    def session_created(self, sid: str) -> float | None:
        """When we minted `sid` (unix seconds), or None if it is not one of ours."""
        body, _, mac = sid.rpartition("-")
        expected = self._sid_mac(body) if body else ""
        if not body or not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        try:
            return int(body.partition("-")[0], 16) / 1000
        except ValueError:
            return None
