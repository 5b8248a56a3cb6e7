"""WIRE.md §2.2-2.4 and §6, checklist items 2-5: start, stop, adopt, the descriptor."""

from __future__ import annotations

import threading

import httpx
import pytest
from server_harness import SID, FakePeer, ServedRuntime, T, offer_body, sample_runtime, wait_for

from reactor_runtime import Output, ReactorModel, Video
from reactor_runtime.tracks import Audio, Input


def assert_descriptor(d: dict) -> None:
    """Every "req" key of WIRE.md §6, with its type."""
    assert d["session_id"] == SID
    assert isinstance(d["state"], str)
    assert d["cluster"] == "local"
    assert d["model"] == {"name": "sample", "version": "1.2"}
    assert isinstance(d["server_info"]["server_version"], str)
    assert d["selected_transport"] == {"protocol": "webrtc", "version": "1.0"}
    caps = d["capabilities"]
    assert caps["protocol_version"] == "v0"
    assert caps["tracks"] == [
        {"name": "main_video", "kind": "video", "direction": "recvonly"},
        {"name": "main_audio", "kind": "audio", "direction": "recvonly"},
    ]
    assert caps["emission_fps"] == 30
    (command,) = caps["commands"]
    assert command["name"] == "set_gray"
    assert isinstance(command["description"], str) and command["description"]
    assert command["schema"]["value"]["type"] == "integer"
    assert command["schema"]["value"]["required"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {}},
        {"json": {"extra_args": {"a": 1}}},
        {},
        {"content": b"null", "headers": {"Content-Type": "application/json"}},
        {"json": {"unknown_key": True}},
    ],
    ids=["empty-object", "extra-args", "no-body", "null", "unknown-key"],
)
def test_start_session_accepts_every_client_body_and_returns_a_descriptor(
    http: httpx.Client, kwargs: dict
) -> None:
    response = http.post("/start_session", **kwargs)
    assert response.status_code == 200, response.text
    assert_descriptor(response.json())
    assert response.json()["state"] == "WAITING"


def test_a_second_start_session_returns_the_same_session_and_keeps_connections(
    started: httpx.Client, served: ServedRuntime
) -> None:
    assert started.post(T + "/sdp_params", json=offer_body()).status_code == 202
    wait_for(lambda: started.get(T + "/sdp_params").status_code == 200)
    again = started.post("/start_session", json={})
    assert again.status_code == 200
    assert again.json()["session_id"] == SID
    assert again.json()["state"] == "STREAMING"
    assert FakePeer.created[0].closed_with == []
    assert started.get(T + "/sdp_params").status_code == 200


def test_get_session_returns_the_started_session_and_ready_when_none_runs(
    http: httpx.Client,
) -> None:
    idle = http.get("/session")
    assert idle.status_code == 200
    assert idle.json()["state"] == "READY"
    started = http.post("/start_session").json()
    current = http.get("/session")
    assert current.status_code == 200
    assert_descriptor(current.json())
    assert current.json()["session_id"] == started["session_id"]


def test_stop_session_is_200_with_an_empty_body_even_when_nothing_runs(http: httpx.Client) -> None:
    for kwargs in ({}, {"json": {"reason": "bye"}}, {"content": b"{not json"}):
        response = http.post("/stop_session", **kwargs)
        assert response.status_code == 200
        assert response.content == b""


def test_stop_session_tells_and_closes_every_peer_then_a_new_session_can_start(
    started: httpx.Client, served: ServedRuntime
) -> None:
    started.post(T + "/sdp_params", json=offer_body("flat"))
    cid = started.post(T + "/connections", json={}).json()["connection_id"]
    started.post(f"{T}/connections/{cid}/sdp_params", json=offer_body("conn"))
    wait_for(lambda: started.get(f"{T}/connections/{cid}/sdp_params").status_code == 200)
    wait_for(lambda: started.get("/session").json()["state"] == "STREAMING")
    assert (
        started.post("/stop_session", json={"moderate": False, "reason": "done"}).status_code == 200
    )
    assert [p.closed_with for p in FakePeer.created] == [["done"], ["done"]]
    assert started.get("/session").json()["state"] == "READY"
    assert served.runtime.session.viewers == set()
    model = served.runtime.session.model
    # The session's end runs no per-viewer @disconnected hooks (3.x semantics).
    assert model.connects == 2 and model.disconnects == 0
    assert not model.connected.is_set()
    assert started.get(T + "/sdp_params").status_code == 400
    again = started.post("/start_session")
    assert again.status_code == 200 and again.json()["state"] == "WAITING"
    assert started.get(T + "/sdp_params").status_code == 404


def test_stop_session_without_a_reason_still_sends_one(started: httpx.Client) -> None:
    started.post(T + "/sdp_params", json=offer_body())
    wait_for(lambda: started.get(T + "/sdp_params").status_code == 200)
    started.post("/stop_session")
    assert FakePeer.created[0].closed_with == ["the session was stopped"]


def test_start_session_answers_503_with_retry_after_while_the_model_loads() -> None:
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
            loading = http.post("/start_session", json={})
            assert loading.status_code == 503
            assert int(loading.headers["Retry-After"]) > 0
            assert loading.headers["access-control-allow-origin"] == "*"
            assert http.get("/health").json()["status"] == "loading"
            assert http.get("/session").json()["state"] == "READY"
            release.set()
            wait_for(lambda: runtime.loaded)
            assert http.post("/start_session", json={}).status_code == 200
    finally:
        release.set()
        served.stop()


def test_a_model_that_fails_to_load_is_reported_not_served() -> None:
    class BrokenOutput(Output):
        main_video: Video

    class BrokenModel(ReactorModel):
        output_type = BrokenOutput

        def load(self, config: dict) -> None:
            raise RuntimeError("weights missing")

    runtime = sample_runtime(model_class=BrokenModel)
    served = ServedRuntime(runtime).start(wait_loaded=False)
    try:
        with served.client() as http:
            wait_for(lambda: runtime.load_error is not None)
            health = http.get("/health")
            assert health.status_code == 503
            assert "weights missing" in health.json()["model"]["error"]
            refused = http.post("/start_session")
            assert refused.status_code == 500
            assert "weights missing" in refused.json()["detail"]
    finally:
        served.stop()


def test_descriptor_lists_output_tracks_recvonly_then_input_tracks_sendonly() -> None:
    class AvOutput(Output):
        picture: Video
        sound: Audio

    class CamInput(Input):
        webcam: Video
        mic: Audio

    class EchoModel(ReactorModel):
        output_type = AvOutput
        input_type = CamInput

    runtime = sample_runtime(model_class=EchoModel)
    assert runtime.descriptor()["capabilities"]["tracks"] == [
        {"name": "picture", "kind": "video", "direction": "recvonly"},
        {"name": "sound", "kind": "audio", "direction": "recvonly"},
        {"name": "webcam", "kind": "video", "direction": "sendonly"},
        {"name": "mic", "kind": "audio", "direction": "sendonly"},
    ]


def test_concurrent_start_sessions_start_one_session(
    http: httpx.Client, served: ServedRuntime
) -> None:
    results: list[int] = []

    def start() -> None:
        with served.client() as client:
            results.append(client.post("/start_session").status_code)

    threads = [threading.Thread(target=start) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 5
    assert served.runtime.sessions_started == 1
