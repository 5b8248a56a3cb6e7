"""Bearer-token access control: the set of accepted tokens and the FastAPI dependency.

`reactor run --token T` (repeatable) and `REACTOR_TOKENS=<file>` fill a `TokenSet`.
An empty set means an open runtime (WIRE.md §1.3: any `Authorization`, or none, is
accepted). A non-empty one makes every guarded route answer 401 unless the request
carries `Authorization: Bearer <one of the tokens>`. The model's commands need no
check of their own: they arrive on data channels, which exist only on a peer that
was negotiated through these guarded signalling routes.

Tokens are secrets: they never appear in a repr, a log line or an error message, and
a presented token is compared in constant time against *every* accepted one (digests
of equal length, no early exit), so neither the timing nor the answer says which
token, or how much of one, matched.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from pathlib import Path

from fastapi import Header

from .errors import ApiError

TOKENS_ENV = "REACTOR_TOKENS"
"""Environment variable naming a file of tokens (one a line, `#` comments)."""
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""RFC 6750 `b64token`: what an `Authorization: Bearer` value may hold; also URL-fragment safe."""
MISSING = "a bearer token is required: send the header 'Authorization: Bearer <token>'"
REFUSED = "the bearer token was not accepted"


class TokenError(ValueError):
    """A configured token is unusable; the message says where, never what it is."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _checked(token: str, where: str) -> str:
    token = token.strip()
    if not TOKEN_PATTERN.fullmatch(token):
        found = "an empty token" if not token else "other characters"
        raise TokenError(
            f"{where}: expected letters, digits and -._~+/ (then '=' padding), got {found}"
        )
    return token


class TokenSet:
    """The bearer tokens a runtime accepts; empty means every request is let in."""

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        """Accept `tokens` (surrounding whitespace stripped).

        Raises:
            TokenError: a token is empty or holds characters a Bearer header cannot carry.
        """
        checked = [_checked(token, f"token {n}") for n, token in enumerate(tokens, 1)]
        self._digests = tuple(dict.fromkeys(_digest(token) for token in checked))

    @classmethod
    def from_sources(cls, tokens: Iterable[str] = (), file: str | Path | None = None) -> TokenSet:
        """`tokens` plus those in `file`: one a line, blank lines and `#` comments ignored.

        Raises:
            TokenError: the file cannot be read, or a token is unusable (named by line).
        """
        collected = [_checked(token, f"--token {n}") for n, token in enumerate(tokens, 1)]
        if file is not None:
            try:
                text = Path(file).read_text(encoding="utf-8")
            except OSError as exc:
                raise TokenError(f"{TOKENS_ENV}: cannot read {file}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise TokenError(f"{TOKENS_ENV}: {file} is not UTF-8 text") from None
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip() and not line.strip().startswith("#"):
                    collected.append(_checked(line, f"{TOKENS_ENV} file {file}, line {number}"))
        return cls(collected)

    def __bool__(self) -> bool:
        """True when at least one token is configured (the runtime is guarded)."""
        return bool(self._digests)

    def __len__(self) -> int:
        """How many distinct tokens are accepted."""
        return len(self._digests)

    def __repr__(self) -> str:
        """Says how many tokens, never which."""
        return f"TokenSet({len(self._digests)} tokens)"

    def accepts(self, token: str) -> bool:
        """Whether `token` is one of ours, compared in constant time against each."""
        presented = _digest(token)
        found = False
        for digest in self._digests:
            found |= hmac.compare_digest(presented, digest)
        return found

    def check(self, authorization: str | None) -> None:
        """Let the request in, or refuse it with 401 (`WWW-Authenticate: Bearer`).

        Does nothing when the set is empty. The refusal says whether a token was
        missing or not accepted, never what was presented.

        Raises:
            ApiError: 401, no usable `Bearer` credential or an unknown token.
        """
        if not self._digests:
            return
        scheme, _, credential = (authorization or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise ApiError(401, MISSING, {"WWW-Authenticate": "Bearer"})
        if not self.accepts(credential):
            raise ApiError(401, REFUSED, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def dependency(self, authorization: str | None = Header(default=None)) -> None:
        """The FastAPI dependency guarding a route: `Depends(tokens.dependency)`."""
        self.check(authorization)
