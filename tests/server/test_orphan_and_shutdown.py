"""Session epochs over one loaded model: orphan timeout, the next session, clean shutdown."""

from __future__ import annotations

import time

from server_harness import FakePeer, ServedRuntime, T, offer_body, sample_runtime, wait_for

from reactor_runtime.server.limits import Limits


def test_a_session_whose_viewers_all_left_ends_after_the_orphan_timeout(serve_with) -> None:
    served = serve_with(orphan_timeout=0.6)
    with served.client() as http:
        http.post("/start_session")
        http.post(T + "/sdp_params", json=offer_body())
        wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")
        time.sleep(0.8)
        assert http.get("/session").json()["state"] == "STREAMING"
        served.call(FakePeer.created[0].drop())
        assert http.get("/session").json()["state"] == "ORPHANED"
        wait_for(lambda: http.get("/session").json()["state"] == "READY", timeout=3)
        assert http.get(T + "/ice_servers").status_code == 400
        model = served.runtime.session.model
        assert model.connects == 1 and model.disconnects == 1
        again = http.post("/start_session")
        assert again.status_code == 200 and again.json()["state"] == "WAITING"
        http.post(T + "/sdp_params", json=offer_body())
        wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")
        assert model.connects == 2


def test_a_session_nobody_ever_joins_ends_after_the_orphan_timeout(serve_with) -> None:
    served = serve_with(orphan_timeout=0.4)
    with served.client() as http:
        assert http.post("/start_session").json()["state"] == "WAITING"
        wait_for(lambda: http.get("/session").json()["state"] == "READY", timeout=3)
        assert served.runtime.sessions_started == 1


def test_signalling_requests_keep_a_connecting_session_alive(serve_with) -> None:
    # Eight connections that never connect: more than one address may hold by default.
    served = serve_with(orphan_timeout=0.5, limits=Limits(max_pending_per_ip=8))
    with served.client() as http:
        http.post("/start_session")
        for _ in range(8):
            time.sleep(0.15)
            assert http.post(T + "/connections").status_code == 201
        assert http.get("/session").json()["state"] == "WAITING"


def test_stopping_the_server_tells_viewers_and_ends_the_session_without_disconnect_hooks() -> None:
    FakePeer.created = []
    served = ServedRuntime(sample_runtime()).start()
    try:
        with served.client() as http:
            http.post("/start_session")
            http.post(T + "/sdp_params", json=offer_body())
            wait_for(lambda: http.get("/session").json()["state"] == "STREAMING")
        model = served.runtime.session.model
        hub = served.runtime.hub
        assert hub.running
    finally:
        started = time.monotonic()
        served.stop()
    assert time.monotonic() - started < 5
    assert FakePeer.created[0].closed_with == ["the server is shutting down"]
    # A session's end runs @session_ended, not each viewer's @disconnected (3.x semantics).
    assert model.disconnects == 0
    assert not hub.running
    assert not served.runtime.session.running
