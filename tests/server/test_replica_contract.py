"""The replica contract an orchestrator drives: ready, idle, external session id, drain."""

from __future__ import annotations

import asyncio
import os
import re
import selectors
import signal
import subprocess
import threading
import time

import httpx
import pytest
from server_harness import (
    SAMPLE_DIR,
    FakePeer,
    ServedRuntime,
    offer_body,
    sample_runtime,
    wait_for,
)
from test_reactor_run_cli import REACTOR

from reactor_runtime import Output, ReactorModel, Video
from reactor_runtime.server.auth import TokenSet
from reactor_runtime.server.ice import with_public_ip
from reactor_runtime.server.replica import Replica

NIL = "00000000-0000-0000-0000-000000000000"
SID = "6f1c1c3e-2d4b-4c8e-9a57-0b3f7d2e1a90"


def transport(sid: str) -> str:
    return f"/sessions/{sid}/transport/webrtc"


def served_replica(**replica_options: object) -> tuple[ServedRuntime, Replica, threading.Event]:
    FakePeer.created = []
    runtime = sample_runtime()
    drained = threading.Event()
    replica = Replica(runtime, on_drained=drained.set, **replica_options)
    return ServedRuntime(runtime, replica=replica).start(), replica, drained


@pytest.fixture
def replica_server():
    served, replica, drained = served_replica(drain_timeout=30)
    try:
        yield served, replica, drained
    finally:
        served.stop()


def test_ready_is_503_while_loading_200_when_loaded_even_busy() -> None:
    release = threading.Event()

    class SlowOutput(Output):
        main_video: Video

    class SlowModel(ReactorModel):
        output_type = SlowOutput

        def load(self, config: dict) -> None:
            release.wait(10)

        async def run(self) -> None:
            await self.connected.wait()

    runtime = sample_runtime(model_class=SlowModel)
    served = ServedRuntime(runtime).start(wait_loaded=False)
    try:
        with served.client() as http:
            loading = http.get("/ready")
            assert loading.status_code == 503
            assert loading.json() == {"ready": False, "state": "loading"}
            release.set()
            wait_for(lambda: http.get("/ready").status_code == 200)
            assert http.post("/start_session", headers={"Reactor-Session-Id": SID}).is_success
            busy = http.get("/ready")
            assert busy.status_code == 200 and busy.json() == {"ready": True, "state": "busy"}
    finally:
        release.set()
        served.stop()


def test_health_says_whether_the_replica_is_idle(replica_server) -> None:
    served, _, _ = replica_server
    with served.client() as http:
        idle = http.get("/health").json()
        assert (idle["state"], idle["sessions"], idle["viewers"], idle["replica"]) == (
            "READY",
            0,
            0,
            "idle",
        )
        http.post("/start_session", json={"session_id": SID})
        http.post(transport(SID) + "/sdp_params", json=offer_body())
        wait_for(lambda: http.get("/health").json()["viewers"] == 1)
        busy = http.get("/health").json()
        assert (busy["state"], busy["sessions"], busy["replica"]) == ("STREAMING", 1, "busy")


def test_an_external_session_id_names_the_session_and_its_transport_routes(
    replica_server,
) -> None:
    served, _, _ = replica_server
    with served.client() as http:
        started = http.post("/start_session", headers={"Reactor-Session-Id": SID}, json={})
        assert started.status_code == 200 and started.json()["session_id"] == SID
        assert http.get("/session").json()["session_id"] == SID
        assert http.get(transport(SID) + "/ice_servers").status_code == 200
        assert http.get(transport(NIL) + "/ice_servers").status_code == 404
        assert http.post(transport(SID) + "/sdp_params", json=offer_body()).status_code == 202
        wait_for(lambda: http.get(transport(SID) + "/sdp_params").status_code == 200)
        http.post("/stop_session")
        after = http.get("/session").json()
        assert (after["state"], after["session_id"]) == ("READY", NIL)


def test_a_busy_replica_refuses_another_session_id_with_409_and_counts_it(
    replica_server,
) -> None:
    served, _, _ = replica_server
    with served.client() as http:
        assert http.post("/start_session", json={"session_id": SID}).status_code == 200
        again = http.post("/start_session", json={"session_id": SID})
        assert again.status_code == 200 and again.json()["session_id"] == SID
        other = http.post("/start_session", headers={"Reactor-Session-Id": "other-session"})
        assert other.status_code == 409
        assert SID in other.json()["detail"] and "other-session" in other.json()["detail"]
        assert 'reactor_sessions_refused_total{reason="busy"} 1.0' in http.get("/metrics").text
        joined = http.post("/start_session", json={})
        assert joined.status_code == 200 and joined.json()["session_id"] == SID


def test_a_session_started_without_an_id_is_joined_but_not_taken_over(replica_server) -> None:
    served, _, _ = replica_server
    with served.client() as http:
        assert http.post("/start_session").json()["session_id"] == NIL
        assert http.post("/start_session").json()["session_id"] == NIL
        assert http.post("/start_session", json={"session_id": SID}).status_code == 409


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"Reactor-Session-Id": "a/b"}, {}, "Reactor-Session-Id"),
        ({}, {"session_id": 7}, "session_id"),
        ({}, {"session_id": "x" * 129}, "MAX_SESSION_ID"),
        ({"Reactor-Session-Id": "a"}, {"session_id": "b"}, "differs"),
    ],
)
def test_a_bad_session_id_is_refused_with_400_naming_it(
    replica_server, headers: dict, body: dict, field: str
) -> None:
    served, _, _ = replica_server
    with served.client() as http:
        refused = http.post("/start_session", headers=headers, json=body)
        assert refused.status_code == 400 and field in refused.json()["detail"]
        assert http.get("/session").json()["state"] == "READY"


def test_a_drain_refuses_new_sessions_and_keeps_the_live_one_until_it_ends(
    replica_server,
) -> None:
    served, replica, drained = replica_server
    with served.client() as http:
        http.post("/start_session", json={"session_id": SID})
        http.post(transport(SID) + "/sdp_params", json=offer_body())
        wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")
        assert http.post("/drain").status_code == 202
        assert http.get("/ready").status_code == 503
        refused = http.post("/start_session", json={"session_id": "next"})
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        assert http.get("/session").json()["state"] == "STREAMING"
        assert not drained.wait(0.3)
        metrics = http.get("/metrics").text
        assert "reactor_draining 1.0" in metrics
        assert 'reactor_state{state="draining"} 1.0' in metrics
        assert "reactor_session_active 1.0" in metrics
        http.post("/stop_session", json={"reason": "the viewer is done"})
        assert drained.wait(3)
        assert FakePeer.created[0].closed_with == ["the viewer is done"]


def test_a_drain_ends_a_session_at_its_timeout_telling_viewers_why(replica_server) -> None:
    served, _, drained = replica_server
    with served.client() as http:
        http.post("/start_session", json={"session_id": SID})
        http.post(transport(SID) + "/sdp_params", json=offer_body())
        wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")
        started = time.monotonic()
        assert http.post("/drain", json={"timeout": 0.5}).status_code == 202
        assert drained.wait(5)
        assert 0.4 < time.monotonic() - started < 3
        (reason,) = FakePeer.created[0].closed_with
        assert "drain timeout (0.5 s)" in reason
        assert http.get("/session").json()["state"] == "READY"


def test_a_bad_drain_timeout_is_refused_with_400(replica_server) -> None:
    served, replica, _ = replica_server
    with served.client() as http:
        refused = http.post("/drain", json={"timeout": "soon"})
        assert refused.status_code == 400 and "timeout" in refused.json()["detail"]
        assert not replica.draining


def test_with_tokens_drain_needs_one_and_ready_does_not() -> None:
    runtime = sample_runtime()
    served = ServedRuntime(runtime, tokens=TokenSet(["tok-en"])).start()
    try:
        with served.client() as http:
            assert http.get("/ready").status_code == 200
            assert http.post("/drain").status_code == 401
            assert http.get("/ready").status_code == 200
            ok = http.post("/drain", headers={"Authorization": "Bearer tok-en"})
            assert ok.status_code == 202
            assert http.get("/ready").status_code == 503
    finally:
        served.stop()


async def test_public_ip_replaces_the_host_candidates_of_a_real_answer() -> None:
    from aiortc import RTCPeerConnection

    offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
    try:
        offerer.addTransceiver("video", direction="recvonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        sdp = answerer.localDescription.sdp
    finally:
        await asyncio.gather(offerer.close(), answerer.close())
    hosts = re.findall(r"a=candidate:\S+ \d \S+ \d+ (\S+) (\d+) typ host", sdp)
    assert hosts, "aiortc gathered no host candidate"
    rewritten = with_public_ip(sdp, "203.0.113.7")
    after = re.findall(r"a=candidate:\S+ \d \S+ \d+ (\S+) (\d+) typ host", rewritten)
    expected = [
        (address if ":" in address or address.startswith("127.") else "203.0.113.7", port)
        for address, port in hosts
    ]
    assert after == expected
    assert "203.0.113.7" in rewritten


def _read_until(process: subprocess.Popen, pattern: str, timeout: float = 30) -> re.Match:
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline and process.poll() is None:
        if selector.select(0.1):
            line = process.stdout.readline()
            seen += line
            found = re.search(pattern, line)
            if found:
                return found
    raise AssertionError(f"{pattern!r} never printed; stdout {seen!r}")


def test_reactor_run_prints_its_port_and_drains_on_sigterm_then_exits_0() -> None:
    env = {**os.environ, "REACTOR_ICE_SERVERS": ""}
    process = subprocess.Popen(
        [REACTOR, "run", str(SAMPLE_DIR), "--port", "0", "--drain-timeout", "1.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        port = int(_read_until(process, r"^reactor: listening port=(\d+)$").group(1))
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(url + "/ready", timeout=5).status_code == 200, timeout=30)
        httpx.post(url + "/start_session", json={"session_id": SID}, timeout=5)
        process.send_signal(signal.SIGTERM)
        wait_for(lambda: httpx.get(url + "/ready", timeout=5).status_code == 503)
        assert httpx.get(url + "/session", timeout=5).json()["session_id"] == SID
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
