"""Opening a `ClientSession`: the offer, its track mapping, ICE, and waiting until ready.

The offer has one transceiver per wanted descriptor track, in descriptor order
(outputs `recvonly`, inputs `sendonly`), then the `data` and `control` channels in one
`m=application` section, all bundled: what the official Python SDK offers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)

from ..transport.frame_metadata import offer_declares, with_declaration
from ..transport.ice import use_host_addresses
from ..transport.trailer_reader import TrailerReader
from .media import FeedTrack, TrackCounters, tune_receiver
from .session import ClientSession
from .signalling import ConnectError, Signalling
from .wire import CONTROL, DATA, ClientCodec


async def negotiate(
    session: ClientSession,
    *,
    video: bool,
    audio: bool,
    publish: list[str],
    trickle: bool,
    deadline: float,
) -> None:
    """Connect `session` (whose descriptor is known) and wait until it is ready.

    Raises:
        ConnectError: the runtime refused the offer, or the peer did not connect in time.
        ValueError: `publish` names a track that is not an input.
    """
    signalling = session._signalling
    servers = await signalling.ice_servers()
    session.pc = pc = RTCPeerConnection(configuration(servers))
    pc.on("connectionstatechange", session._on_connection_state)
    pc.on("track", session._on_track)
    cid = session.connection_id = await signalling.new_connection()
    mapping = _add_transceivers(session, pc, video=video, audio=audio, publish=publish)
    for label in (DATA, CONTROL):
        channel = pc.createDataChannel(label)
        session._channels[label] = channel
        channel.on("message", lambda frame, label=label: session._on_frame(label, frame))
    if is_loopback(signalling.url):
        # aioice leaves 127.0.0.1 out; a runtime on this machine offers it (FACTS.md).
        use_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    # Trailers carry each frame's metadata (WIRE.md §3.9), as for the official SDK.
    offer = with_declaration(pc.localDescription.sdp)
    track_mapping = [{**entry, "mid": transceiver.mid} for transceiver, entry in mapping]
    session._by_mid = {entry["mid"]: entry["name"] for entry in track_mapping}
    if trickle:
        offer, candidates = _split_candidates(offer, track_mapping)
        await signalling.send_candidates(cid, candidates, False)
    await signalling.send_offer(cid, offer, track_mapping)
    if trickle:
        await signalling.send_candidates(cid, [], True)
    answer = await signalling.wait_answer(cid, deadline)
    if offer_declares(answer):
        for transceiver, entry in mapping:
            if entry["kind"] == "video" and entry["direction"] == "recvonly":
                trailers = session._trailers[entry["name"]] = TrailerReader(entry["name"])
                trailers.install(transceiver.receiver)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await _wait_ready(session, pc, deadline)
    for name in session._readers:
        session._send(CONTROL, ClientCodec.track_notice("resume_track", name))
    session._spawn(session._ping())


def _add_transceivers(
    session: ClientSession,
    pc: RTCPeerConnection,
    *,
    video: bool,
    audio: bool,
    publish: list[str],
) -> list[tuple[Any, dict[str, str]]]:
    inputs = {t["name"]: t["kind"] for t in session.tracks("sendonly")}
    unknown = [name for name in publish if name not in inputs]
    if unknown:
        raise ValueError(f"publish: {unknown} are not input tracks (inputs: {sorted(inputs)})")
    wanted = {"video": video, "audio": audio}
    mapping: list[tuple[Any, dict[str, str]]] = []
    for track in session.tracks():
        name, kind, direction = track["name"], track["kind"], track["direction"]
        if direction == "recvonly" and wanted.get(kind):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            session.counters[name] = TrackCounters()
            tune_receiver(transceiver.receiver, kind, session.counters[name])
        elif direction == "sendonly" and name in publish:
            feed = session._feeds[name] = FeedTrack(name, kind)
            transceiver = pc.addTransceiver(feed, direction="sendonly")
        else:
            continue
        mapping.append((transceiver, {"name": name, "kind": kind, "direction": direction}))
    return mapping


def _split_candidates(
    offer: str, track_mapping: list[dict[str, str]]
) -> tuple[str, list[dict[str, Any]]]:
    """The offer without candidates, and those candidates in the SDK's trickle shape."""
    lines = offer.splitlines()
    found = [ln[2:] for ln in lines if ln.startswith("a=candidate:")]
    bare = "".join(
        ln + "\r\n" for ln in lines if not ln.startswith(("a=candidate:", "a=end-of-candidates"))
    )
    mid = track_mapping[0]["mid"] if track_mapping else "0"
    candidates = [
        {"candidate": line, "sdp_mid": mid, "sdp_mline_index": 0} for line in dict.fromkeys(found)
    ]
    return bare, candidates


async def _wait_ready(session: ClientSession, pc: RTCPeerConnection, deadline: float) -> None:
    """Wait until the peer is connected and both channels are open (the SDK's `ready`)."""
    while True:
        state = pc.connectionState
        if state in ("failed", "closed"):
            raise ConnectError(f"the peer connection {state} while connecting")
        channels = session._channels
        if state == "connected" and all(c.readyState == "open" for c in channels.values()):
            return
        if time.monotonic() > deadline:
            states = {label: c.readyState for label, c in channels.items()}
            raise ConnectError(
                f"not ready before the connect timeout (peer {state}, channels {states})"
            )
        await asyncio.sleep(0.01)


def configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    """Exactly the runtime's ICE servers (none locally): aiortc's default is public STUN."""
    ice = [
        RTCIceServer(
            urls=entry["uris"],
            username=(entry.get("credentials") or {}).get("username"),
            credential=(entry.get("credentials") or {}).get("password"),
        )
        for entry in servers
        if isinstance(entry, dict) and entry.get("uris")
    ]
    # One transport for everything, as every WebRTC client bundles (the runtime requires it).
    return RTCConfiguration(iceServers=ice, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def is_loopback(url: str) -> bool:
    """True when `url`'s host is this machine's loopback (127.x, ::1, localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Connector:
    """What `connect()` returns: use `async with` (closes on exit) or `await`."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        """Remember what to connect to; nothing happens until awaited or entered."""
        self._url = url
        self._options = options
        self._session: ClientSession | None = None

    def __await__(self) -> Generator[Any, None, ClientSession]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientSession:
        self._session = await self._open()
        return self._session

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _open(self) -> ClientSession:
        options = dict(self._options)
        timeout = options.pop("timeout")
        stop_session = options.pop("stop_session")
        deadline = time.monotonic() + timeout
        signalling = Signalling(self._url, token=options.pop("token"), verify=options.pop("verify"))
        session: ClientSession | None = None
        try:
            descriptor = await signalling.start_session(deadline)
            session = ClientSession(signalling, descriptor)
            session.stop_session_on_close = stop_session
            await negotiate(session, deadline=deadline, **options)
        except BaseException:
            if session is not None:
                await session.close(stop_session=False)
            else:
                await signalling.close()
            raise
        return session
