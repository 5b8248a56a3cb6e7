"""Checklist items 8, 9, 11, 12 and 14 with a real aiortc client and the real transport."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from server_harness import ServedRuntime, T, sample_runtime

pytest.importorskip("reactor_runtime.transport")

POLL_SLEEPS = (0.2, 0.4, 0.8, 1.6, 3.2)
"""What both official clients sleep between answer polls (WIRE.md §2.10)."""


@pytest.fixture
def served_real() -> Iterator[ServedRuntime]:
    server = ServedRuntime(sample_runtime(fake=False)).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api(served_real: ServedRuntime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served_real.url, timeout=10) as client:
        assert (await client.post("/start_session", json={})).status_code == 200
        yield client


class Client:
    """A headless viewer: recvonly transceivers per descriptor track, then channels."""

    def __init__(self, labels: tuple[str, ...] = ("data",)) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.video = self.pc.addTransceiver("video", direction="recvonly")
        self.audio = self.pc.addTransceiver("audio", direction="recvonly")
        self.channels = [self.pc.createDataChannel(label) for label in labels]
        self.tracks: dict[str, asyncio.Future] = {}
        self.pc.on("track", self._on_track)

    def _on_track(self, track) -> None:
        self.tracks[track.kind] = track

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    def mapping(self) -> list[dict]:
        return [
            {"mid": self.video.mid, "name": "main_video", "kind": "video", "direction": "recvonly"},
            {"mid": self.audio.mid, "name": "main_audio", "kind": "audio", "direction": "recvonly"},
        ]

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def connected(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            assert time.monotonic() < deadline, f"state {self.pc.connectionState}"
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.pc.close()


def body(sdp: str, client: Client) -> dict:
    return {
        "sdp_offer": sdp,
        "client_info": {"sdk_version": "test", "sdk_type": "python"},
        "track_mapping": client.mapping(),
    }


async def poll_like_the_sdks(api: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET up to 6 times with the SDKs' back-off; only 202 may precede the result."""
    started = time.monotonic()
    for sleep in (*POLL_SLEEPS, None):
        response = await api.get(path)
        if response.status_code != 202:
            assert time.monotonic() - started < 6.5
            return response
        assert response.status_code == 202
        if sleep is None:
            break
        await asyncio.sleep(sleep)
    raise AssertionError("still 202 after the clients' last poll")


def assert_good_answer(answer: str, offer: str) -> None:
    offered = re.findall(r"^a=mid:(\S+)", offer, re.MULTILINE)
    assert re.findall(r"^a=mid:(\S+)", answer, re.MULTILINE) == offered
    assert "a=candidate:" in answer
    sections = answer.split("\r\nm=")[1:]
    assert [s.split()[0] for s in sections] == ["video", "audio", "application"]
    for section in sections[:2]:
        assert "a=sendonly" in section and "a=msid:" in section
    assert "x-reactor" not in answer


async def test_a_flat_offer_is_answered_within_6_seconds_and_the_viewer_gets_media(
    api: httpx.AsyncClient, served_real: ServedRuntime
) -> None:
    client = Client()
    try:
        offer = await client.offer()
        posted = await api.post(T + "/sdp_params", json=body(offer, client))
        assert posted.status_code == 202
        answer = await poll_like_the_sdks(api, T + "/sdp_params")
        assert answer.status_code == 200
        sdp = answer.json()["sdp_answer"]
        assert isinstance(sdp, str)
        assert_good_answer(sdp, offer)
        assert (await api.get(T + "/sdp_params")).json()["sdp_answer"] == sdp
        await client.accept(sdp)
        await client.connected()
        frame = await asyncio.wait_for(client.tracks["video"].recv(), 10)
        assert (frame.width, frame.height) == (64, 48)
        session = await api.get("/session")
        assert session.json()["state"] == "STREAMING"
    finally:
        await client.close()


async def test_a_flat_put_replaces_the_peer_and_yields_a_fresh_answer(
    api: httpx.AsyncClient, served_real: ServedRuntime
) -> None:
    first, second = Client(), Client()
    try:
        offer = await first.offer()
        await api.post(T + "/sdp_params", json=body(offer, first))
        old = (await poll_like_the_sdks(api, T + "/sdp_params")).json()["sdp_answer"]
        await first.accept(old)
        await first.connected()
        offer = await second.offer()
        put = await api.put(T + "/sdp_params", json=body(offer, second))
        assert put.status_code == 202
        response = await poll_like_the_sdks(api, T + "/sdp_params")
        new = response.json()["sdp_answer"]
        assert new != old
        assert_good_answer(new, offer)
        await second.accept(new)
        await second.connected()
        assert served_real.runtime.connection_count == 1
        deadline = time.monotonic() + 5
        while len(served_real.runtime.session.viewers) != 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await first.close()
        await second.close()


async def test_a_connection_with_trickled_candidates_connects_and_put_reconnects(
    api: httpx.AsyncClient,
) -> None:
    client = Client(("data", "control"))
    again = Client(("data", "control"))
    try:
        cid = (await api.post(T + "/connections", json={})).json()["connection_id"]
        base = f"{T}/connections/{cid}"
        offer = await client.offer()
        lines = re.findall(r"^a=(candidate:.*?)\r?$", offer, re.MULTILINE)
        assert lines
        trickle = [{"candidate": line, "sdp_mid": client.video.mid} for line in lines]
        early = await api.post(base + "/ice_candidates", json={"candidates": trickle * 2})
        assert early.status_code == 202
        bare = re.sub(r"^a=(candidate:|end-of-candidates).*\r\n", "", offer, flags=re.MULTILINE)
        assert "a=candidate" not in bare
        posted = await api.post(base + "/sdp_params", json=body(bare, client))
        assert posted.status_code == 202
        answer = await poll_like_the_sdks(api, base + "/sdp_params")
        assert answer.status_code == 200
        assert answer.json()["connection_id"] == cid
        assert_good_answer(answer.json()["sdp_answer"], bare)
        final = await api.post(base + "/ice_candidates", json={"candidates": [], "is_final": True})
        assert final.status_code == 202
        await client.accept(answer.json()["sdp_answer"])
        await client.connected()

        offer = await again.offer()
        put = await api.put(base + "/sdp_params", json=body(offer, again))
        assert put.status_code == 202
        fresh = await poll_like_the_sdks(api, base + "/sdp_params")
        assert fresh.status_code == 200 and fresh.json()["connection_id"] == cid
        assert fresh.json()["sdp_answer"] != answer.json()["sdp_answer"]
        await again.accept(fresh.json()["sdp_answer"])
        await again.connected()
    finally:
        await client.close()
        await again.close()


async def connect_flat(api: httpx.AsyncClient, client: Client) -> None:
    offer = await client.offer()
    await api.post(T + "/sdp_params", json=body(offer, client))
    await client.accept((await poll_like_the_sdks(api, T + "/sdp_params")).json()["sdp_answer"])
    await client.connected()


async def test_stop_session_sends_session_ended_then_closes_the_real_peer(
    api: httpx.AsyncClient, served_real: ServedRuntime
) -> None:
    client = Client()
    received: list[str] = []
    client.channels[0].on("message", received.append)
    try:
        await connect_flat(api, client)
        while client.channels[0].readyState != "open" or not served_real.runtime.session.viewers:
            await asyncio.sleep(0.05)
        stopped = await api.post("/stop_session", json={"reason": "bye now"})
        assert stopped.status_code == 200
        deadline = time.monotonic() + 5
        while client.pc.connectionState not in ("closed", "failed"):
            assert time.monotonic() < deadline, client.pc.connectionState
            await asyncio.sleep(0.05)
        ended = [m for m in received if isinstance(m, str) and "sessionEnded" in m]
        assert ended and "bye now" in ended[0]
        assert served_real.runtime.session.viewers == set()
        assert (await api.get("/session")).json()["state"] == "READY"
    finally:
        await client.close()


async def test_a_viewer_that_leaves_orphans_the_session_which_then_ends(
    api: httpx.AsyncClient, served_real: ServedRuntime
) -> None:
    served_real.runtime.orphan_timeout = 0.5
    await api.post("/stop_session")
    await api.post("/start_session")
    client = Client()
    try:
        await connect_flat(api, client)
        deadline = time.monotonic() + 5
        while (await api.get("/session")).json()["state"] != "STREAMING":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await client.close()
    deadline = time.monotonic() + 10
    while (await api.get("/session")).json()["state"] != "READY":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    model = served_real.runtime.session.model
    assert model.connects == 1 and model.disconnects == 1
    assert (await api.post("/start_session")).json()["state"] == "WAITING"


async def test_a_malformed_offer_fails_on_the_post_or_the_next_get_never_500(
    api: httpx.AsyncClient,
) -> None:
    client = Client()
    try:
        offer = await client.offer()
        swapped = body(offer, client)
        # Valid JSON and names, but the video track points at the audio section.
        swapped["track_mapping"][0]["mid"], swapped["track_mapping"][1]["mid"] = (
            client.audio.mid,
            client.video.mid,
        )
        no_fingerprint = body(re.sub(r"^a=fingerprint:.*\r\n", "", offer, flags=re.M), client)
        garbled = body(offer.replace("a=ice-ufrag:", "a=ice-ufrog:"), client)
        for i, case in enumerate((swapped, no_fingerprint, garbled)):
            path = f"{T}/connections/{3000 + i}/sdp_params"
            posted = await api.post(path, json=case)
            if posted.status_code == 202:
                posted = await poll_like_the_sdks(api, path)
            assert 400 <= posted.status_code < 500 or posted.status_code in (501, 503, 504), i
            assert posted.json()["detail"]
    finally:
        await client.close()
