"""Pending connections: capped per client address, reaped when overdue, counted."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from server_harness import FakePeer, ServedRuntime, T, offer_body, sample_runtime, wait_for

from reactor_runtime.server.limits import Limits
from reactor_runtime.server.table import client_key


class StallingPeer(FakePeer):
    """Answers, but an offer whose ufrag is `stal` never gets ICE and DTLS connected."""

    async def answer(self, offer_sdp: str, track_mapping: list[dict]) -> str:
        if "a=ice-ufrag:stal" not in offer_sdp:
            return await super().answer(offer_sdp, track_mapping)
        self.offer, self.state = offer_sdp, "connecting"
        return "v=0\r\n"


def client_at(served: ServedRuntime, address: str) -> httpx.Client:
    """A client whose requests come from `address` (any 127.x address is loopback)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=served.url, transport=transport, timeout=10)


def counter(http: httpx.Client, name: str, label: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f"reactor_{name}_total{{{label}}}"):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} counter with {label}")


def poll_answer(http: httpx.Client, path: str) -> httpx.Response:
    return wait_for(lambda: (r := http.get(path)).status_code != 202 and r)


def test_fifty_connections_from_one_address_leave_room_for_another(serve_with) -> None:
    served = serve_with()
    with client_at(served, "127.0.0.1") as stranger, client_at(served, "127.0.0.2") as viewer:
        stranger.post("/start_session")
        answers = [stranger.post(T + "/connections", json={}) for _ in range(50)]
        assert [r.status_code for r in answers] == [201] * 4 + [503] * 46
        assert all(int(r.headers["Retry-After"]) > 0 for r in answers[4:])
        assert "(limit max_pending_per_ip)" in answers[-1].json()["detail"]
        cid = viewer.post(T + "/connections", json={}).json()["connection_id"]
        path = f"{T}/connections/{cid}/sdp_params"
        assert viewer.post(path, json=offer_body()).status_code == 202
        assert poll_answer(viewer, path).status_code == 200
        assert viewer.get("/session").json()["state"] == "STREAMING"
        assert counter(viewer, "requests_refused", 'limit="max_pending_per_ip"') == 46
        # A connected peer no longer counts against its address; the table is the bound.
        more = [viewer.post(T + "/connections") for _ in range(4)]
        assert [r.status_code for r in more] == [201, 201, 201, 503]
        assert "limit max_connections)" in more[-1].json()["detail"]


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("10.0.0.7", "10.0.0.7"),
        ("::ffff:10.0.0.7", "10.0.0.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        (None, "unknown"),
    ],
)
def test_client_addresses_are_counted_by_host_or_by_ipv6_network(address, key) -> None:
    assert client_key(address) == key


def test_a_connection_without_an_offer_is_reaped_and_its_slot_freed(serve_with) -> None:
    served = serve_with(limits=Limits(offer_timeout=0.3))
    with served.client() as http:
        http.post("/start_session")
        cids = [http.post(T + "/connections").json()["connection_id"] for _ in range(4)]
        assert http.post(T + "/connections").status_code == 503
        wait_for(lambda: served.runtime.connection_count == 0, timeout=3)
        assert http.get(f"{T}/connections/{cids[0]}/sdp_params").status_code == 404
        assert counter(http, "connections_reaped", 'reason="no_offer"') == 4
        assert http.post(T + "/connections").status_code == 201


def test_a_peer_not_connected_in_time_is_reaped_and_a_connected_one_kept(serve_with) -> None:
    served = serve_with(peer_factory=StallingPeer, limits=Limits(connect_timeout=0.4))
    with served.client() as http:
        http.post("/start_session")
        kept, stalled = f"{T}/connections/2001/sdp_params", f"{T}/connections/2002/sdp_params"
        assert http.post(kept, json=offer_body()).status_code == 202
        assert poll_answer(http, kept).status_code == 200
        assert http.post(stalled, json=offer_body("stal")).status_code == 202
        good, slow = FakePeer.created
        wait_for(lambda: slow.closed_with, timeout=3)
        assert slow.closed_with == ["not connected within 0.4 s of the offer"]
        assert http.get(stalled).status_code == 404
        # The kept one's deadline passed before the stalled one's: it is still there.
        assert good.closed_with == [] and good.state == "connected"
        assert http.get(kept).status_code == 200
        assert served.runtime.connection_count == 1
        assert counter(http, "connections_reaped", 'reason="not_connected"') == 1


async def real_offer(pc: RTCPeerConnection) -> dict:
    video = pc.addTransceiver("video", direction="recvonly")
    audio = pc.addTransceiver("audio", direction="recvonly")
    pc.createDataChannel("data")
    await pc.setLocalDescription(await pc.createOffer())
    mapping = [
        {"mid": video.mid, "name": "main_video", "kind": "video", "direction": "recvonly"},
        {"mid": audio.mid, "name": "main_audio", "kind": "audio", "direction": "recvonly"},
    ]
    return {"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping}


async def test_a_real_viewer_that_never_connects_is_reaped_and_one_that_does_is_kept() -> None:
    limits = Limits(connect_timeout=3.0)
    served = ServedRuntime(sample_runtime(fake=False, limits=limits)).start()
    joining = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    vanishing = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=10) as api:
            await api.post("/start_session")
            for cid, pc in ((3001, joining), (3002, vanishing)):
                path = f"{T}/connections/{cid}/sdp_params"
                assert (await api.post(path, json=await real_offer(pc))).status_code == 202
            answer = None
            while answer is None:
                response = await api.get(f"{T}/connections/3001/sdp_params")
                answer = response.json()["sdp_answer"] if response.status_code == 200 else None
                await asyncio.sleep(0.05)
            # The vanishing viewer never applies its answer: the server's ICE checks go
            # unanswered and its peer stays short of "connected".
            await joining.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            deadline = time.monotonic() + 12
            while joining.connectionState != "connected":
                assert time.monotonic() < deadline, joining.connectionState
                await asyncio.sleep(0.05)
            while served.runtime.limit_counts.reaped["not_connected"] < 1:
                assert time.monotonic() < deadline, "the silent connection was never reaped"
                await asyncio.sleep(0.05)
            assert (await api.get(f"{T}/connections/3002/sdp_params")).status_code == 404
            assert (await api.get(f"{T}/connections/3001/sdp_params")).status_code == 200
            assert joining.connectionState == "connected"
            assert served.runtime.connection_count == 1
            metrics = (await api.get("/metrics")).text
            assert re.search(r'connections_reaped_total\{reason="not_connected"\} 1\.0', metrics)
    finally:
        await joining.close()
        await vanishing.close()
        served.stop()
