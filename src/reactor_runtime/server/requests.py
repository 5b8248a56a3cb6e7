"""Reading request bodies and headers: every refusal says which field to change.

Bodies are parsed by hand rather than by FastAPI models so that a malformed body
gets a 400 `{"detail": "<field>: <problem>"}` (what WIRE.md asks for) instead of
a 422 list, and so that unknown keys are ignored. A body is bounded before it is
parsed: its declared and its actual size, then its nesting (`Limits`).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from fastapi import Request

from .errors import ApiError
from .limits import LimitExceeded, Limits
from .sdp_checks import check_offer_sdp

API_VERSION = 1
"""The `Reactor-API-Version` this server speaks."""

DEFAULT_LIMITS = Limits()
"""The bounds of a body read without a runtime's own `Limits`."""

_MID_IN_SDP = re.compile(r"^a=mid:(\S+)", re.MULTILINE)
_KINDS = ("video", "audio")
_DIRECTIONS = ("recvonly", "sendonly")
# One JSON string, or an unterminated one up to the end: every match attempt
# succeeds, so removing strings stays linear in the body's size.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def check_api_version(value: str | None) -> None:
    """Refuse an explicit `Reactor-API-Version` other than ours; absence is fine.

    Raises:
        ApiError: 426 for an older version, 501 for a newer one, 400 if unreadable.
    """
    if value is None or not value.strip():
        return
    try:
        major = int(value.strip().split(".")[0])
    except ValueError:
        raise ApiError(
            400, f"Reactor-API-Version: expected an integer such as {API_VERSION}, got {value!r}"
        ) from None
    if major < API_VERSION:
        raise ApiError(
            426, f"client API version {value} is too old; this server speaks {API_VERSION}"
        )
    if major > API_VERSION:
        raise ApiError(501, f"client API version {value} is newer than this server's {API_VERSION}")


async def json_body(
    request: Request, *, required: bool, limits: Limits | None = None
) -> dict[str, Any]:
    """The request's JSON object; an absent or `null` body is `{}` unless `required`.

    `limits` bound its size and nesting (default: `Limits()`).

    Raises:
        LimitExceeded: 413 past `max_body_bytes`, 400 past `max_json_depth`.
        ApiError: 400 for invalid JSON, a non-object, or a missing required body.
    """
    limits = limits or DEFAULT_LIMITS
    raw = await read_body(request, limits.max_body_bytes)
    if not raw.strip():
        if required:
            raise ApiError(400, "request body: expected a JSON object, got an empty body")
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"request body: expected UTF-8 JSON, got {exc.reason}") from None
    # Fewer brackets than the limit cannot nest deeper than it: no scan needed.
    opening = raw.count(b"[") + raw.count(b"{")
    depth = json_depth(raw) if opening > limits.max_json_depth else 0
    if depth > limits.max_json_depth:
        raise LimitExceeded(
            400,
            "max_json_depth",
            f"request body: JSON nested {depth} levels deep, more than "
            f"{limits.max_json_depth} (limit max_json_depth)",
        )
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, f"request body: expected a JSON object, got {_type(body)}")
    return body


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused by its `Content-Length` or as soon as it outgrows `limit`.

    Raises:
        LimitExceeded: 413 past `limit` (`max_body_bytes`).
        ApiError: 400 for a `Content-Length` that is not a byte count.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.strip().isdigit()):
            raise ApiError(400, f"Content-Length: expected a byte count, got {declared[:40]!r}")
        if int(declared) > limit:
            raise _too_large(f"{int(declared)} bytes declared", limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(f"more than {limit} bytes sent", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, limit: int) -> LimitExceeded:
    return LimitExceeded(
        413, "max_body_bytes", f"request body: {what}, at most {limit} (limit max_body_bytes)"
    )


def json_depth(raw: bytes) -> int:
    """How deep arrays and objects nest in the JSON text `raw`, counted without parsing it.

    Brackets inside strings (escapes included) do not count. For text that is not
    valid JSON the figure is an estimate; the parser refuses such text anyway.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def parse_offer(
    body: dict[str, Any], tracks: list[dict[str, str]], limits: Limits
) -> tuple[str, list[dict[str, Any]]]:
    """Check an offer body (WIRE.md §2.9) against the session's tracks and `limits`.

    Returns:
        The SDP and the normalised track mapping (`mid`, `name`, `kind`, `direction`).

    Raises:
        LimitExceeded: the SDP is too large or has too many m-lines or candidates.
        ApiError: 400 naming the first offending field.
    """
    sdp = body.get("sdp_offer")
    if not isinstance(sdp, str) or not sdp.strip():
        raise ApiError(400, f"sdp_offer: expected the offer SDP as a string, got {_type(sdp)}")
    if not sdp.lstrip().startswith("v=0") or "\nm=" not in sdp:
        raise ApiError(
            400, "sdp_offer: not an SDP offer (expected 'v=0' and at least one 'm=' line)"
        )
    check_offer_sdp(sdp, limits)
    mapping = body.get("track_mapping")
    if not isinstance(mapping, list):
        raise ApiError(400, f"track_mapping: expected an array of tracks, got {_type(mapping)}")
    declared = {t["name"]: t for t in tracks}
    mids = set(_MID_IN_SDP.findall(sdp))
    result: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    seen_mids: set[str] = set()
    for i, entry in enumerate(mapping):
        where = f"track_mapping[{i}]"
        if not isinstance(entry, dict):
            raise ApiError(400, f"{where}: expected an object, got {_type(entry)}")
        mid, name = entry.get("mid"), entry.get("name")
        kind, direction = entry.get("kind"), entry.get("direction")
        if not isinstance(mid, str) or not mid:
            raise ApiError(400, f"{where}.mid: expected a non-empty string, got {_type(mid)}")
        if not isinstance(name, str) or name not in declared:
            known = ", ".join(declared) or "none"
            raise ApiError(400, f"{where}.name: unknown track {name!r} (tracks: {known})")
        track = declared[name]
        if kind not in _KINDS or kind != track["kind"]:
            raise ApiError(400, f"{where}.kind: track '{name}' is {track['kind']}, got {kind!r}")
        if direction not in _DIRECTIONS or direction != track["direction"]:
            raise ApiError(
                400,
                f"{where}.direction: track '{name}' is {track['direction']} for the client, "
                f"got {direction!r}",
            )
        if name in seen_names:
            raise ApiError(400, f"{where}.name: track '{name}' is mapped twice")
        if mid in seen_mids:
            raise ApiError(400, f"{where}.mid: mid '{mid}' is mapped twice")
        if mids and mid not in mids:
            raise ApiError(400, f"{where}.mid: the offer has no m-section with mid '{mid}'")
        seen_names.add(name)
        seen_mids.add(mid)
        result.append({"mid": mid, "name": name, "kind": kind, "direction": direction})
    return sdp, result


def parse_candidates(body: dict[str, Any], limits: Limits) -> tuple[list[dict[str, Any]], bool]:
    """Check an ICE body (WIRE.md §2.7).

    Returns:
        The candidates (`candidate`, optional `sdp_mid`, `sdp_mline_index`) and `is_final`.

    Raises:
        LimitExceeded: 400 past `max_candidates_per_request`.
        ApiError: 400 naming the first offending field.
    """
    raw = body.get("candidates", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise ApiError(400, f"candidates: expected an array, got {_type(raw)}")
    if len(raw) > limits.max_candidates_per_request:
        raise LimitExceeded(
            400,
            "max_candidates_per_request",
            f"candidates: {len(raw)} in one request, more than "
            f"{limits.max_candidates_per_request} (limit max_candidates_per_request)",
        )
    is_final = body.get("is_final", False)
    if not isinstance(is_final, bool):
        raise ApiError(400, f"is_final: expected a boolean, got {_type(is_final)}")
    candidates = []
    for i, entry in enumerate(raw):
        where = f"candidates[{i}]"
        if not isinstance(entry, dict):
            raise ApiError(400, f"{where}: expected an object, got {_type(entry)}")
        line = entry.get("candidate")
        if not isinstance(line, str):
            raise ApiError(400, f"{where}.candidate: expected a string, got {_type(line)}")
        mid, index = entry.get("sdp_mid"), entry.get("sdp_mline_index")
        if mid is not None and not isinstance(mid, str):
            raise ApiError(400, f"{where}.sdp_mid: expected a string, got {_type(mid)}")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise ApiError(400, f"{where}.sdp_mline_index: expected an integer, got {_type(index)}")
        if not line.strip():
            continue  # an empty candidate is the browser's end-of-candidates marker
        candidates.append({"candidate": line, "sdp_mid": mid, "sdp_mline_index": index})
    return candidates, is_final


def client_address(request: Request) -> str | None:
    """The client's address as the server saw it (no proxy header is trusted)."""
    return request.client.host if request.client is not None else None


def parse_cid(raw: str) -> int:
    """A connection id from the URL (a u32).

    Raises:
        ApiError: 404 for anything that is not a u32.
    """
    if raw.isdigit() and int(raw) < 2**32:
        return int(raw)
    raise ApiError(404, f"unknown connection {raw!r}: connection ids are unsigned 32-bit integers")


def _type(value: Any) -> str:
    if value is None:
        return "nothing"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")
