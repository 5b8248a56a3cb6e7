"""`reactor run`'s options for being reached beyond localhost: tokens, TLS, CORS.

`add_arguments` adds the flags; `Exposure.from_args` turns them (and
`REACTOR_TOKENS`) into what the app and uvicorn take, and says what the operator
should see: warnings before serving, the certificate's fingerprint, and the page's
URL with the token in its fragment (`#token=…`, which browsers never send to the
server, so it stays out of access logs and proxies).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any

from .auth import TOKENS_ENV, TokenError, TokenSet
from .cors import CorsPolicy
from .tls import TlsError, TlsFiles, host_names, load_pair, self_signed

SELF_SIGNED = "self-signed"


class ExposureError(Exception):
    """An access option that cannot be used; the message names the flag."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--token`, `--cors-origin`, `--tls`, `--tls-cert` and `--tls-key` to `parser`."""
    group = parser.add_argument_group("access (see README: Exposing it beyond localhost)")
    group.add_argument(
        "--token",
        dest="tokens",
        action="append",
        default=[],
        metavar="TOKEN",
        help="require 'Authorization: Bearer TOKEN' on every route but /health, /ready and "
        f"the page; repeatable. Other users can read a command line: prefer ${TOKENS_ENV}=FILE "
        "(one token a line, # comments)",
    )
    group.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="let browser pages from ORIGIN (https://app.example:8443, or *) call the runtime; "
        "repeatable (default: any origin without tokens, none but the runtime's own page with)",
    )
    group.add_argument(
        "--tls",
        choices=(SELF_SIGNED,),
        default=None,
        help="serve https:// with a self-signed certificate for this host's names, made once "
        "and cached under $XDG_CACHE_HOME/reactor/tls/",
    )
    group.add_argument("--tls-cert", metavar="PATH", help="serve https:// with this PEM chain")
    group.add_argument("--tls-key", metavar="PATH", help="the PEM key of --tls-cert")


def is_loopback(host: str) -> bool:
    """Whether `host` can be reached from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Exposure:
    """What the access options amount to, ready for `create_app` and `uvicorn.Config`."""

    host: str
    tokens: TokenSet
    cors: CorsPolicy
    tls: TlsFiles | None = None
    tls_made: bool = False
    first_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: dict[str, str] | None = None) -> Exposure:
        """Read the flags in `args` (and `REACTOR_TOKENS` in `environ`, default os.environ).

        Raises:
            ExposureError: a token, origin, certificate or combination of flags is unusable.
        """
        environ = os.environ if environ is None else environ
        file = environ.get(TOKENS_ENV) or None
        try:
            tokens = TokenSet.from_sources(args.tokens, file)
            first = _first_token(args.tokens, file)
            cors = CorsPolicy(args.cors_origins, guarded=bool(tokens))
            tls, made = _tls(args)
        except (TokenError, TlsError, ValueError) as exc:
            raise ExposureError(str(exc)) from None
        return cls(args.host, tokens, cors, tls, made, first)

    @property
    def scheme(self) -> str:
        """`https` with TLS, else `http`."""
        return "https" if self.tls else "http"

    def app_options(self) -> dict[str, Any]:
        """Keyword arguments of `create_app`."""
        return {"tokens": self.tokens, "cors": self.cors}

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments of `uvicorn.Config` (the certificate pair, if any)."""
        if self.tls is None:
            return {}
        return {"ssl_certfile": str(self.tls.cert), "ssl_keyfile": str(self.tls.key)}

    def warnings(self) -> list[str]:
        """What the operator should be told before serving on a reachable address."""
        if is_loopback(self.host):
            return []
        found = []
        if not self.tokens:
            found.append(
                f"serving on {self.host or '*'} without --token: anyone who can reach this port "
                f"can start, stop and watch the session. Pass --token TOKEN (or "
                f"{TOKENS_ENV}=FILE) and --tls {SELF_SIGNED}."
            )
        elif self.tls is None:
            found.append(
                "tokens and media commands travel unencrypted over http://; "
                f"add --tls {SELF_SIGNED} (or --tls-cert/--tls-key)."
            )
        if self.tls is None:
            found.append(
                "browsers on other machines get no camera or microphone over http://; "
                f"add --tls {SELF_SIGNED} for a secure context."
            )
        return found

    def certificate_note(self) -> str | None:
        """The certificate line to print: fingerprint, names, and where it is cached."""
        if self.tls is None:
            return None
        origin = "made" if self.tls_made else "reused"
        names = ", ".join(self.tls.names)
        return (
            f"reactor: TLS certificate {self.tls.cert} ({origin}; for {names}) "
            f"SHA-256 {self.tls.fingerprint}"
        )

    def page_url(self, url: str) -> str | None:
        """The page's URL carrying the first token in its fragment, or None without tokens."""
        if self.first_token is None:
            return None
        return f"{url}#token={self.first_token}"


def _first_token(tokens: list[str], file: str | None) -> str | None:
    if tokens:
        return tokens[0].strip()
    if file is None:
        return None
    with open(file, encoding="utf-8") as lines:
        for line in lines:
            if line.strip() and not line.strip().startswith("#"):
                return line.strip()
    return None


def _tls(args: argparse.Namespace) -> tuple[TlsFiles | None, bool]:
    if args.tls == SELF_SIGNED:
        if args.tls_cert or args.tls_key:
            raise ExposureError(f"--tls {SELF_SIGNED}: expected no --tls-cert/--tls-key with it")
        return self_signed(host_names(args.host))
    if bool(args.tls_cert) != bool(args.tls_key):
        given, missing = (
            ("--tls-cert", "--tls-key") if args.tls_cert else ("--tls-key", "--tls-cert")
        )
        raise ExposureError(f"{given}: expected {missing} with it")
    if args.tls_cert:
        return load_pair(args.tls_cert, args.tls_key), False
    return None, False
