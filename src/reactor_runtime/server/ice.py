"""ICE server lists: parsed from the command line or environment, in WIRE.md §2.5 shape."""

from __future__ import annotations

import json
from typing import Any

_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class IceConfigError(ValueError):
    """An ICE server list that cannot be used; says what to fix."""


def parse_ice_servers(text: str | None) -> list[dict[str, Any]]:
    """Parse `--ice-servers` / `REACTOR_ICE_SERVERS`.

    Accepts a comma list of `stun:`/`turn:` URLs, or a JSON array whose items are
    URL strings, WIRE.md entries `{"uris": [...], "credentials": {"username",
    "password"}}`, or browser-style `{"urls", "username", "credential"}`.

    Returns:
        WIRE.md §2.5 entries; `[]` for an empty or absent value (no STUN at all).

    Raises:
        IceConfigError: an entry is not understood.
    """
    if text is None or not text.strip():
        return []
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise IceConfigError(f"ICE servers: invalid JSON: {exc}") from None
    else:
        items = [part.strip() for part in text.split(",") if part.strip()]
    return [_entry(item, i) for i, item in enumerate(items)]


def _entry(item: Any, index: int) -> dict[str, Any]:
    where = f"ICE servers [{index}]"
    if isinstance(item, str):
        return {"uris": [_uri(item, where)]}
    if not isinstance(item, dict):
        raise IceConfigError(f"{where}: expected a URL or an object, got {item!r}")
    uris = item.get("uris", item.get("urls"))
    if isinstance(uris, str):
        uris = [uris]
    if not isinstance(uris, list) or not uris:
        raise IceConfigError(f"{where}: expected 'uris' (or 'urls'), a list of stun:/turn: URLs")
    entry: dict[str, Any] = {"uris": [_uri(u, where) for u in uris]}
    credentials = item.get("credentials")
    if credentials is None and "username" in item:
        credentials = {"username": item["username"], "password": item.get("credential", "")}
    if credentials is not None:
        if not (
            isinstance(credentials, dict)
            and isinstance(credentials.get("username"), str)
            and isinstance(credentials.get("password"), str)
        ):
            raise IceConfigError(f"{where}: 'credentials' must be {{username: str, password: str}}")
        entry["credentials"] = {
            "username": credentials["username"],
            "password": credentials["password"],
        }
    return entry


def _uri(uri: Any, where: str) -> str:
    if not isinstance(uri, str) or not uri.startswith(_SCHEMES):
        raise IceConfigError(f"{where}: {uri!r} is not a stun:, stuns:, turn: or turns: URL")
    return uri


def with_public_ip(sdp: str, public_ip: str) -> str:
    """`sdp` with its host candidates announcing `public_ip` (`--public-ip`, NAT 1:1).

    Behind a one-to-one NAT (a cloud VM, a pod with a public address) the replica
    gathers its private address, which a remote viewer cannot reach. Every host
    candidate of `public_ip`'s family, loopback ones excepted, keeps its port and
    announces `public_ip` instead: the NAT maps that port back to the replica's.
    `c=` lines naming a replaced address follow.
    """
    family = "IP6" if ":" in public_ip else "IP4"
    replaced: set[str] = set()
    lines = sdp.split("\r\n")
    for i, line in enumerate(lines):
        if not line.startswith("a=candidate:"):
            continue
        parts = line.split(" ")
        # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
        if len(parts) < 8 or parts[6] != "typ" or parts[7] != "host":
            continue
        address = parts[4]
        if (":" in address) != (family == "IP6") or _loopback(address):
            continue
        replaced.add(address)
        parts[4] = public_ip
        lines[i] = " ".join(parts)
    for i, line in enumerate(lines):
        if line.startswith(f"c=IN {family} ") and line.split(" ")[2] in replaced:
            lines[i] = f"c=IN {family} {public_ip}"
    return "\r\n".join(lines)


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address == "::1"
