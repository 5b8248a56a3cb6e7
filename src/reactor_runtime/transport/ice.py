"""ICE details: our configuration, loopback host candidates, client candidates from JSON.

- We always pass our own ICE server list (empty by default): aiortc's default contacts
  a public STUN server.
- aioice gathers host candidates from every interface except loopback. A viewer on the
  same machine (our Python client on 127.0.0.1, tests) needs a 127.0.0.1 candidate, so
  by default the server gathers on 127.0.0.1 too; remote clients simply fail that pair
  (libwebrtc ignores loopback candidates altogether).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aioice import ice as aioice_ice
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
)
from aiortc.sdp import candidate_from_sdp

from .aiortc_private import require

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
AIORTC_PRIVATE = ("RTCIceGatherer._connection",)
"""The private names of aiortc this module reads (see `aiortc_private`)."""


def configuration(ice_servers: Sequence[RTCIceServer] | None) -> RTCConfiguration:
    """An `RTCConfiguration` with exactly `ice_servers` (none by default: no public STUN).

    Bundling is max-bundle: every transceiver shares one transport from the start. With
    aiortc's default ("balanced"), a second transceiver of a kind sticks to that kind's
    first transport, which BUNDLE then discards: its media (e.g. a mic next to the model's
    audio) would never arrive.
    """
    return RTCConfiguration(
        iceServers=list(ice_servers or []), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
    )


def default_host_addresses() -> list[str]:
    """The host addresses aioice would use, plus 127.0.0.1."""
    addresses = aioice_ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    return [*addresses, LOOPBACK] if LOOPBACK not in addresses else addresses


def use_host_addresses(pc: RTCPeerConnection, addresses: Iterable[str] | None = None) -> None:
    """Make `pc` gather host candidates on `addresses` (default: the usual ones + 127.0.0.1).

    Call after `setRemoteDescription` (answerer) or before `setLocalDescription`
    (offerer), i.e. once the ICE transports exist and before they gather. The override
    sits on each of this connection's aioice `Connection`s only; other peer
    connections in the process are untouched.
    """
    chosen = list(addresses) if addresses is not None else None
    for gatherer in _gatherers(pc):
        require(gatherer, "RTCIceGatherer", AIORTC_PRIVATE, "transport/ice.py")
        connection = gatherer._connection
        if getattr(connection, "_reactor_hosts", False):
            continue
        original = connection.get_component_candidates

        async def gather(component: int, addresses: list[str], timeout: int = 5, *, _o=original):
            wanted = chosen if chosen is not None else _with_loopback(addresses)
            return await _o(component=component, addresses=wanted, timeout=timeout)

        connection.get_component_candidates = gather
        connection._reactor_hosts = True


def _with_loopback(addresses: list[str]) -> list[str]:
    return addresses if LOOPBACK in addresses else [*addresses, LOOPBACK]


def _gatherers(pc: RTCPeerConnection) -> list[Any]:
    transports = [t.sender.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    seen: dict[int, Any] = {}
    for dtls in transports:
        gatherer = dtls.transport.iceGatherer
        seen[id(gatherer)] = gatherer
    return list(seen.values())


def parse_candidate(entry: Any, default_mid: str | None) -> RTCIceCandidate:
    """Turn one client candidate (`{"candidate", "sdp_mid"?, "sdp_mline_index"?}`) into aiortc's.

    Camel-case keys (`sdpMid`, `sdpMLineIndex`, as browsers name them) are accepted too.

    Raises:
        ValueError: the entry is not an object or its candidate string does not parse.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"a candidate must be an object, got {type(entry).__name__}")
    text = entry.get("candidate")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("candidate: expected a non-empty 'candidate:...' string")
    text = text.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    try:
        candidate = candidate_from_sdp(text)
    except Exception as exc:  # aiortc asserts on short strings
        why = str(exc) or type(exc).__name__
        raise ValueError(f"candidate {entry.get('candidate')!r} does not parse: {why}") from None
    mid = entry.get("sdp_mid", entry.get("sdpMid"))
    index = entry.get("sdp_mline_index", entry.get("sdpMLineIndex"))
    candidate.sdpMid = mid if isinstance(mid, str) else default_mid
    candidate.sdpMLineIndex = index if isinstance(index, int) else None
    return candidate


def candidate_ufrag(entry: dict[str, Any]) -> str | None:
    """The `ufrag` extension of a candidate string, if present (to drop stale candidates)."""
    parts = str(entry.get("candidate", "")).split()
    for key, value in itertools.pairwise(parts):
        if key == "ufrag":
            return value
    return None


def candidate_key(candidate: RTCIceCandidate) -> tuple[Any, ...]:
    """What makes two candidates the same one (clients repeat them once per mid)."""
    return (
        candidate.foundation,
        candidate.component,
        candidate.protocol.lower(),
        candidate.ip,
        candidate.port,
        candidate.type,
    )
