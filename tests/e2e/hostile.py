"""Hostile input for the fuzz test: HTTP requests and data-channel frames from a seeded RNG.

Everything here is deterministic for a given `random.Random`, so a failing run is
replayed by its seed. Nothing here talks to the network; `fuzz_driver.py` sends it.

The shapes aim at the parsers' edges rather than at pure noise: odd ids and paths,
bodies that are almost right (a real offer with one line broken), sizes just past
the limits, nesting far past any sane depth, bytes that are not UTF-8, and frames
that are valid protobuf or JSON envelopes with the wrong things inside.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

NIL = "00000000-0000-0000-0000-000000000000"
T = "/sessions/{sid}/transport/webrtc"

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PROPFIND")
ODD_SIDS = (
    NIL,
    NIL,
    "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "x",
    "%00",
    "%2e%2e",
    "..",
    "é" * 40,
    "a" * 300,
    "-1",
    "null",
    "%ff%fe",
)
ODD_CIDS = (
    "1002",
    "0",
    "-1",
    "4294967295",
    "4294967296",
    "9" * 40,
    "abc",
    "%00",
    "1" * 1000,
    "1e3",
    " 12",
)
ODD_PATHS = (
    "/" + "a" * 70,
    "/x/%00",
    "/%00",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/" + "b/" * 200,
    "/" + "c" * 5000,
    "/app.js%00.png",
    "/\u202e",
    "/index.html/",
    "//health",
    "/health/../metrics",
    "/sessions",
    "/sessions/" + NIL,
    "/sessions/" + NIL + "/transport",
    "/sessions/" + NIL + "/transport/webrtc/connections/1002",
)
API_VERSIONS = (None, "1", "1.0", "0", "2", "abc", "", "99999999999999999999999", "-1", "1.9.9")
CONTENT_TYPES = (None, "application/json", "text/plain", "multipart/form-data", "\x7f", "a" * 500)


def _routes(sid: str, cid: str) -> list[tuple[str, str]]:
    """(method, path) of every route the runtime serves, with the given ids."""
    t = T.format(sid=sid)
    return [
        ("POST", "/start_session"),
        ("GET", "/session"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/schema"),
        ("GET", "/"),
        ("GET", f"{t}/ice_servers"),
        ("POST", f"{t}/sdp_params"),
        ("PUT", f"{t}/sdp_params"),
        ("GET", f"{t}/sdp_params"),
        ("POST", f"{t}/ice_candidates"),
        ("POST", f"{t}/connections"),
        ("POST", f"{t}/connections/{cid}/sdp_params"),
        ("PUT", f"{t}/connections/{cid}/sdp_params"),
        ("GET", f"{t}/connections/{cid}/sdp_params"),
        ("POST", f"{t}/connections/{cid}/ice_candidates"),
    ]


@dataclass
class HostileRequest:
    """One HTTP request to send as is."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def describe(self) -> str:
        """A short line for failure messages (the body is summarised, not printed)."""
        head = self.body[:60]
        headers = {k: v if len(v) < 40 else v[:37] + "..." for k, v in self.headers.items()}
        return f"{self.method} {self.path[:120]} headers={headers} body[{len(self.body)}]={head!r}"


def deep_json(rng: random.Random, depth: int) -> bytes:
    """An array or object nested `depth` levels, unterminated half of the time."""
    if rng.random() < 0.5:
        opening, closing = b"[" * depth, b"]" * depth
    else:
        opening, closing = b'{"a":' * depth, b"}" * depth
    return opening + (b"1" + closing if rng.random() < 0.5 else b"")


def mangle_sdp(rng: random.Random, sdp: str) -> str:
    """A real offer with one or a few of its lines broken in one of many ways."""
    lines = sdp.strip().split("\r\n")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(lines))
        line = lines[i]
        choice = rng.randrange(9)
        if choice == 0:
            del lines[i]
        elif choice == 1:
            lines.insert(i, line)
        elif choice == 2:
            lines[i] = line[: rng.randrange(len(line) + 1)]
        elif choice == 3:
            lines[i] = "a=fingerprint:sha-256 " + rng.choice(["zz:zz", "", "AB" * 40, "::::"])
        elif choice == 4:
            lines[i] = "a=ice-ufrag:" + rng.choice(["", "a", "\x00\x01", "u" * 600])
        elif choice == 5:
            lines[i] = "a=ice-pwd:" + rng.choice(["", "short", "p" * 1000])
        elif choice == 6:
            lines[i] = "m=video 9 UDP/TLS/RTP/SAVPF " + " ".join(str(n) for n in range(96, 200))
        elif choice == 7:
            lines[i] = "a=candidate:" + rng.choice(["x", "1 1 udp 1 10.77.0.2 99999 typ host", "é"])
        else:
            lines[i] = "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randint(0, 80)))
    return "\r\n".join(lines) + "\r\n"


def offer_body(rng: random.Random, sdp: str, tracks: list[dict[str, str]]) -> bytes:
    """An offer body whose SDP or track mapping is wrong in some way."""
    mapping: object = [
        {"mid": str(i), "name": t["name"], "kind": t["kind"], "direction": t["direction"]}
        for i, t in enumerate(tracks)
    ]
    choice = rng.randrange(8)
    offer: object = mangle_sdp(rng, sdp)
    if choice == 0:
        offer = rng.choice([5, None, [], {"sdp": sdp}, ""])
    elif choice == 1:
        mapping = rng.choice([None, {}, "video", [1, 2], [{"mid": None}], [{}] * 500])
    elif choice == 2:
        offer = sdp + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * rng.choice([40, 400])
    elif choice == 3:
        offer = sdp + "a=x:" + "y" * rng.choice([70_000, 900_000]) + "\r\n"
    return json.dumps({"sdp_offer": offer, "track_mapping": mapping}).encode()


def candidates_body(rng: random.Random) -> bytes:
    """An ICE candidates body: wrong types, garbage lines, or far too many."""
    choice = rng.randrange(5)
    if choice == 0:
        return json.dumps(
            {"candidates": rng.choice([None, 5, "x", {}]), "is_final": "yes"}
        ).encode()
    if choice == 1:
        return json.dumps(
            {"candidates": [{"candidate": "candidate:" + "z" * rng.randrange(1, 3000)}]}
        ).encode()
    if choice == 2:
        count = rng.choice([200, 5000])
        line = "candidate:1 1 udp 2122260223 10.77.0.2 5000 typ host"
        return json.dumps({"candidates": [{"candidate": line}] * count}).encode()
    if choice == 3:
        return json.dumps(
            {"candidates": [{"candidate": "", "sdp_mid": 7, "sdp_mline_index": "0"}]}
        ).encode()
    return json.dumps(
        {
            "candidates": [
                {"candidate": "\x00\udfff".encode("utf-8", "surrogatepass").decode("latin-1")}
            ]
        }
    ).encode()


def random_body(rng: random.Random) -> bytes:
    """A body that is not what any route wants."""
    choice = rng.randrange(9)
    if choice == 0:
        return b""
    if choice == 1:
        return rng.choice([b"null", b"{}", b"[]", b"1", b'"x"', b"true"])
    if choice == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if choice == 3:
        return deep_json(rng, rng.choice([33, 1_000, 100_000]))
    if choice == 4:
        return b'{"extra_args": ' + rng.choice([b"5", b"[]", b'"x"', b"null", b'{"a": 1}']) + b"}"
    if choice == 5:
        return b'{"x": "' + b"y" * rng.choice([1 << 16, (1 << 20) + 10, 3 << 20]) + b'"}'
    if choice == 6:
        return b'{"reason": "' + b"\xff\xfe" * 10 + b'"}'
    if choice == 7:
        return json.dumps({"a": [1.5e308, -0.0, "\u0000", {"": None}]}).encode()
    return b"{" + b'"k":1,' * 20_000 + b'"k":2}'


def http_requests(
    rng: random.Random, count: int, offer_sdp: str, tracks: list[dict[str, str]]
) -> list[HostileRequest]:
    """`count` hostile requests over every route, odd path and header the runtime sees."""
    out = []
    for _ in range(count):
        sid = rng.choice(ODD_SIDS)
        cid = rng.choice(ODD_CIDS)
        roll = rng.random()
        if roll < 0.12:
            method, path = rng.choice(METHODS), rng.choice(ODD_PATHS)
        else:
            method, path = rng.choice(_routes(sid, cid))
            if rng.random() < 0.1:
                method = rng.choice(METHODS)
        if path.endswith("sdp_params") and method in ("POST", "PUT"):
            body = offer_body(rng, offer_sdp, tracks) if rng.random() < 0.7 else random_body(rng)
        elif path.endswith("ice_candidates"):
            body = candidates_body(rng) if rng.random() < 0.7 else random_body(rng)
        elif method in ("POST", "PUT", "PATCH"):
            body = random_body(rng)
        else:
            body = b"" if rng.random() < 0.8 else random_body(rng)
        headers: dict[str, str] = {}
        version = rng.choice(API_VERSIONS) if rng.random() < 0.25 else rng.choice((None, "1"))
        if version is not None:
            headers["Reactor-API-Version"] = version
        ctype = rng.choice(CONTENT_TYPES)
        if ctype is not None:
            headers["Content-Type"] = ctype
        if rng.random() < 0.1:
            headers["Authorization"] = rng.choice(["Bearer", "Bearer " + "t" * 4000, "Basic Zm9v"])
        if rng.random() < 0.05:
            headers["X-Filler"] = "f" * rng.choice([100, 6000])
        if rng.random() < 0.05:
            headers["Origin"] = rng.choice(["null", "https://evil.example", "http://10.77.0.2"])
        out.append(HostileRequest(method, path, headers, body))
    return out


def v1_frames(rng: random.Random, count: int, valid: list[bytes]) -> list[tuple[str, bytes]]:
    """`count` (label, frame) pairs for the v1 channels: noise, mutations of `valid` frames."""
    out = []
    for _ in range(count):
        label = rng.choice(("data", "control"))
        choice = rng.randrange(6)
        if choice == 0:
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
        elif choice == 1:
            base = rng.choice(valid)
            frame = base[: rng.randrange(1, len(base) + 1)]
        elif choice == 2:
            base = bytearray(rng.choice(valid))
            for _ in range(rng.randint(1, 4)):
                base[rng.randrange(len(base))] = rng.randrange(256)
            frame = bytes(base)
        elif choice == 3:
            frame = rng.choice(valid)
        elif choice == 4:
            # A protobuf string field of large length, then padding: a size the parser must bound.
            size = rng.choice([1 << 14, 1 << 17, (1 << 18) - 64])
            frame = b"\x12" + _varint(size) + rng.randbytes(size)
        else:
            frame = b"\x0a" + _varint(1 << 30) + b"short"
        out.append((label, frame))
    return out


def v0_frames(rng: random.Random, count: int) -> list[str | bytes]:
    """`count` frames for the v0 `data` channel: envelopes with the wrong things inside."""
    out: list[str | bytes] = []
    kinds = ("application", "runtime", None, 5, "")
    types = ("echo", "fail", "shout", "requestCapabilities", "ping", "pauseTrack", "x" * 300, None)
    for _ in range(count):
        choice = rng.randrange(7)
        if choice == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 500))))
        elif choice == 1:
            out.append(deep_json(rng, rng.choice([50, 5_000, 60_000])).decode())
        elif choice == 2:
            envelope = {
                "scope": rng.choice(kinds),
                "data": {"type": rng.choice(types), "data": rng.choice([None, 5, [], {"text": 1}])},
            }
            out.append(json.dumps(envelope))
        elif choice == 3:
            out.append(
                json.dumps(
                    {"scope": "application", "data": {"type": "echo", "data": {"text": "t" * 300}}}
                )
            )
        elif choice == 4:
            out.append(
                '{"scope": "application", "data": {"type": "echo", "data": {"text": "'
                + "z" * rng.choice([1 << 14, (1 << 18) - 100])
                + '"}}}'
            )
        elif choice == 5:
            out.append(rng.choice(["", "{", "null", "[]", '"x"', "{}" * 1000]))
        else:
            out.append("".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(rng.randrange(1, 200))))
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
