"""What an offer's SDP must satisfy before a peer parses it (WIRE.md §2.9: fail fast).

Sizes and counts are bounded first (`Limits`), then the lines the security of the
connection rests on are checked for syntax: `a=fingerprint` (RFC 8122), and
`a=ice-ufrag` / `a=ice-pwd` (RFC 8839), wherever they appear, session level or per
m-section. aiortc would accept a malformed one, answer 200, and only fail the DTLS
handshake or ICE checks later; here it is a 400 naming the line.
"""

from __future__ import annotations

import re

from .errors import ApiError
from .limits import LimitExceeded, Limits

FINGERPRINT_PAIRS = {"sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64}
"""Hash functions of RFC 8122 still in use, and the bytes (hex pairs) of each digest."""

ICE_UFRAG_CHARS = (4, 256)
"""Length bounds of `a=ice-ufrag` in ice-chars (RFC 8839 §5.4)."""
ICE_PWD_CHARS = (22, 256)
"""Length bounds of `a=ice-pwd` in ice-chars (RFC 8839 §5.4)."""

_ICE_CHARS = re.compile(r"[A-Za-z0-9+/]+")
_HEX_PAIRS = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")
_SHOWN = 40


def check_offer_sdp(sdp: str, limits: Limits) -> None:
    """Check an offer's size, counts and credentials.

    Raises:
        LimitExceeded: 413 past `max_sdp_bytes`; 400 past `max_m_lines` or
            `max_candidates_per_request` (inline `a=candidate` lines).
        ApiError: 400 naming the first missing or malformed credential line.
    """
    size = len(sdp.encode("utf-8", "surrogatepass"))
    if size > limits.max_sdp_bytes:
        raise LimitExceeded(
            413,
            "max_sdp_bytes",
            f"sdp_offer: {size} bytes, more than {limits.max_sdp_bytes} (limit max_sdp_bytes)",
        )
    lines = sdp.splitlines()
    m_lines = sum(1 for line in lines if line.startswith("m="))
    if m_lines > limits.max_m_lines:
        raise LimitExceeded(
            400,
            "max_m_lines",
            f"sdp_offer: {m_lines} m-lines, more than {limits.max_m_lines} (limit max_m_lines)",
        )
    candidates = sum(1 for line in lines if line.startswith("a=candidate:"))
    if candidates > limits.max_candidates_per_request:
        raise LimitExceeded(
            400,
            "max_candidates_per_request",
            f"sdp_offer: {candidates} a=candidate lines, more than "
            f"{limits.max_candidates_per_request} (limit max_candidates_per_request)",
        )
    found = {"fingerprint": 0, "ice-ufrag": 0, "ice-pwd": 0}
    for number, line in enumerate(lines, 1):
        name, sep, value = line.partition(":")
        attribute = name[2:] if name.startswith("a=") else ""
        if not sep or attribute not in found:
            continue
        found[attribute] += 1
        where = f"sdp_offer line {number} (a={attribute})"
        if attribute == "fingerprint":
            _check_fingerprint(where, value)
        else:
            _check_ice_chars(where, value, attribute == "ice-pwd")
    # aiortc accepts offers lacking these and only fails later, in the background.
    for attribute, what in (
        ("fingerprint", "DTLS fingerprint"),
        ("ice-ufrag", "ICE username fragment"),
        ("ice-pwd", "ICE password"),
    ):
        if not found[attribute]:
            raise ApiError(400, f"sdp_offer: no 'a={attribute}:' line ({what}); WebRTC needs one")


def _check_fingerprint(where: str, value: str) -> None:
    parts = value.split()
    if len(parts) != 2:
        raise ApiError(400, f"{where}: expected '<hash function> <hex pairs>', got {_shown(value)}")
    function, digest = parts[0].lower(), parts[1]
    pairs = FINGERPRINT_PAIRS.get(function)
    if pairs is None:
        known = ", ".join(FINGERPRINT_PAIRS)
        raise ApiError(
            400, f"{where}: unknown hash function {_shown(parts[0])} (expected one of {known})"
        )
    if not _HEX_PAIRS.fullmatch(digest) or len(digest) != 3 * pairs - 1:
        raise ApiError(
            400,
            f"{where}: a {function} fingerprint is {pairs} hex pairs separated by ':', "
            f"got {_shown(digest)}",
        )


def _check_ice_chars(where: str, value: str, secret: bool) -> None:
    value = value.strip()
    low, high = ICE_PWD_CHARS if secret else ICE_UFRAG_CHARS
    if _ICE_CHARS.fullmatch(value) and low <= len(value) <= high:
        return
    got = f"{len(value)} characters"
    if _ICE_CHARS.fullmatch(value) is None:
        got += ", not all ice-chars"
    if not secret:  # the password is a credential: never echoed
        got += f": {_shown(value)}"
    raise ApiError(
        400, f"{where}: expected {low}-{high} ice-chars (letters, digits, '+', '/'), got {got}"
    )


def _shown(text: str) -> str:
    """`text` quoted for an error message, cut short: an attacker chooses its length."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "…")
