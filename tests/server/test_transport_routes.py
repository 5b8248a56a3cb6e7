"""WIRE.md §2.5-2.9 with a fake transport: checklist items 6, 7, 10, 11 and 14, precisely."""

from __future__ import annotations

import httpx
import pytest
from server_harness import SAMPLE_MAPPING, FakePeer, T, fake_offer, offer_body, wait_for

from reactor_runtime.server import connections
from reactor_runtime.server.limits import Limits

TRANSPORT_CALLS = [
    ("GET", "/ice_servers", None),
    ("POST", "/sdp_params", offer_body()),
    ("PUT", "/sdp_params", offer_body()),
    ("GET", "/sdp_params", None),
    ("POST", "/ice_candidates", {"candidates": [], "is_final": True}),
    ("POST", "/connections", {}),
    ("POST", "/connections/1234/sdp_params", offer_body()),
    ("PUT", "/connections/1234/sdp_params", offer_body()),
    ("GET", "/connections/1234/sdp_params", None),
    ("POST", "/connections/1234/ice_candidates", {"candidates": [], "is_final": True}),
]


def candidate(port: int, ufrag: str | None = None) -> dict:
    line = f"candidate:1 1 udp 2122260223 10.77.0.2 {port} typ host generation 0"
    return {"candidate": line + (f" ufrag {ufrag}" if ufrag else ""), "sdp_mid": "0"}


def poll_answer(http: httpx.Client, path: str) -> httpx.Response:
    seen: list[int] = []

    def ready() -> httpx.Response | None:
        response = http.get(path)
        seen.append(response.status_code)
        return response if response.status_code != 202 else None

    response = wait_for(ready, timeout=6)
    assert set(seen) <= {202, response.status_code}
    return response


def test_ice_servers_is_an_empty_list_by_default(started: httpx.Client) -> None:
    response = started.get(T + "/ice_servers")
    assert response.status_code == 200
    assert response.json() == {"ice_servers": []}


def test_configured_ice_servers_reach_clients_and_peers(serve_with) -> None:
    servers = [{"uris": ["turn:10.0.0.1:3478"], "credentials": {"username": "u", "password": "p"}}]
    served = serve_with(ice_servers=servers)
    with served.client() as http:
        http.post("/start_session")
        assert http.get(T + "/ice_servers").json() == {"ice_servers": servers}
        http.post(T + "/sdp_params", json=offer_body())
        assert FakePeer.created[0].ice_servers == servers


@pytest.mark.parametrize(("method", "suffix", "body"), TRANSPORT_CALLS)
def test_transport_routes_answer_400_when_no_session_runs(
    http: httpx.Client, method: str, suffix: str, body: dict | None
) -> None:
    response = http.request(method, T + suffix, json=body)
    assert response.status_code == 400
    assert response.json() == {"detail": "No session running"}


@pytest.mark.parametrize(("method", "suffix", "body"), TRANSPORT_CALLS)
def test_transport_routes_answer_404_for_another_session_id(
    started: httpx.Client, method: str, suffix: str, body: dict | None
) -> None:
    path = "/sessions/local/transport/webrtc" + suffix
    assert started.request(method, path, json=body).status_code == 404


def test_flat_offer_is_202_then_the_answer_is_polled_and_stays_available(
    started: httpx.Client,
) -> None:
    FakePeer.answer_delay = 0.3
    try:
        posted = started.post(T + "/sdp_params", json=offer_body())
        assert posted.status_code == 202
        assert started.get(T + "/sdp_params").status_code == 202
        assert started.get(T + "/sdp_params").content == b""
        answer = poll_answer(started, T + "/sdp_params")
    finally:
        FakePeer.answer_delay = 0.05
    assert answer.status_code == 200
    assert isinstance(answer.json()["sdp_answer"], str)
    for _ in range(3):
        assert started.get(T + "/sdp_params").json() == answer.json()
    (peer,) = FakePeer.created
    assert peer.family == "v0"
    assert peer.mapping == SAMPLE_MAPPING


def test_flat_put_replaces_the_previous_peer_with_a_fresh_answer(
    started: httpx.Client, served
) -> None:
    started.post(T + "/sdp_params", json=offer_body("one1"))
    first = poll_answer(started, T + "/sdp_params").json()["sdp_answer"]
    assert started.put(T + "/sdp_params", json=offer_body("two2")).status_code == 202
    second = poll_answer(started, T + "/sdp_params").json()["sdp_answer"]
    assert second != first
    old, new = FakePeer.created
    wait_for(lambda: old.closed_with == [None])
    assert new.closed_with == []
    assert served.runtime.connection_count == 1


def test_connections_get_unique_u32_ids_in_the_recommended_range(serve_with) -> None:
    ids = []
    with serve_with(limits=Limits(max_pending_per_ip=8)).client() as http:
        http.post("/start_session")
        for _ in range(8):
            response = http.post(T + "/connections", json={})
            assert response.status_code == 201
            ids.append(response.json()["connection_id"])
    assert all(isinstance(i, int) and 1002 <= i <= 9999 for i in ids)
    assert len(set(ids)) == len(ids)


def test_connection_offer_and_put_answer_with_the_connection_id(started: httpx.Client) -> None:
    cid = started.post(T + "/connections").json()["connection_id"]
    path = f"{T}/connections/{cid}/sdp_params"
    posted = started.post(path, json=offer_body("aaaa"))
    assert posted.status_code == 202 and posted.json() == {"connection_id": cid}
    first = poll_answer(started, path).json()
    assert first["connection_id"] == cid and isinstance(first["sdp_answer"], str)
    assert started.put(path, json=offer_body("bbbb")).status_code == 202
    second = poll_answer(started, path).json()
    assert second["connection_id"] == cid and second["sdp_answer"] != first["sdp_answer"]
    assert FakePeer.created[0].family is None


@pytest.mark.parametrize("cid", [7, 123000, 1001])
def test_an_offer_on_an_unminted_connection_id_is_adopted(started: httpx.Client, cid: int) -> None:
    path = f"{T}/connections/{cid}/sdp_params"
    assert started.post(path, json=offer_body()).status_code == 202
    assert poll_answer(started, path).json()["connection_id"] == cid


def test_candidates_posted_before_the_offer_are_applied_once_it_arrives(
    started: httpx.Client,
) -> None:
    cid = started.post(T + "/connections").json()["connection_id"]
    base = f"{T}/connections/{cid}"
    early = [candidate(5000, "abcd"), candidate(5000, "abcd"), candidate(5001)]
    assert started.post(base + "/ice_candidates", json={"candidates": early[:2]}).status_code == 202
    response = started.post(base + "/ice_candidates", json={"candidates": early[2:], "x": 1})
    assert response.status_code == 202
    started.post(base + "/sdp_params", json=offer_body("abcd"))
    poll_answer(started, base + "/sdp_params")
    (peer,) = FakePeer.created
    wait_for(lambda: len(peer.candidates) == 3)
    late = {"candidates": [candidate(5002, "abcd")], "is_final": False}
    assert started.post(base + "/ice_candidates", json=late).status_code == 202
    final = {"candidates": [], "is_final": True}
    assert started.post(base + "/ice_candidates", json=final).status_code == 202
    wait_for(lambda: peer.finals == 1)
    assert [c["candidate"] for c in peer.candidates] == [
        c["candidate"] for c in [*early, *late["candidates"]]
    ]


def test_after_a_put_stale_candidates_are_dropped_and_new_ones_reach_the_new_peer(
    started: httpx.Client,
) -> None:
    base = f"{T}/connections/4321"
    started.post(base + "/sdp_params", json=offer_body("old1"))
    poll_answer(started, base + "/sdp_params")
    # The client announces its new ICE session before PUTting the offer that carries it.
    early_new = {"candidates": [candidate(6000, "new2")]}
    started.post(base + "/ice_candidates", json=early_new)
    started.put(base + "/sdp_params", json=offer_body("new2"))
    poll_answer(started, base + "/sdp_params")
    stale = {"candidates": [candidate(5000, "old1"), candidate(6001, "new2")], "is_final": True}
    started.post(base + "/ice_candidates", json=stale)
    old, new = FakePeer.created
    wait_for(lambda: new.finals == 1)
    assert [c["candidate"].split()[5] for c in new.candidates] == ["6000", "6001"]
    assert all("new2" not in c["candidate"] for c in old.candidates)


BAD_OFFERS = [
    ({}, "sdp_offer"),
    ({"sdp_offer": 42, "track_mapping": SAMPLE_MAPPING}, "sdp_offer"),
    ({"sdp_offer": "hello", "track_mapping": SAMPLE_MAPPING}, "sdp_offer"),
    ({"sdp_offer": fake_offer().replace("a=fingerprint", "a=x"), "track_mapping": []}, "sdp_offer"),
    ({"sdp_offer": fake_offer().replace("a=ice-ufrag", "a=x"), "track_mapping": []}, "sdp_offer"),
    ({"sdp_offer": fake_offer()}, "track_mapping"),
    ({"sdp_offer": fake_offer(), "track_mapping": {"mid": "0"}}, "track_mapping"),
    ({"sdp_offer": fake_offer(), "track_mapping": ["x"]}, "track_mapping[0]"),
    (
        {"sdp_offer": fake_offer(), "track_mapping": [{**SAMPLE_MAPPING[0], "name": "webcam"}]},
        "track_mapping[0].name",
    ),
    (
        {"sdp_offer": fake_offer(), "track_mapping": [{**SAMPLE_MAPPING[0], "kind": "audio"}]},
        "track_mapping[0].kind",
    ),
    (
        {
            "sdp_offer": fake_offer(),
            "track_mapping": [{**SAMPLE_MAPPING[0], "direction": "sendonly"}],
        },
        "track_mapping[0].direction",
    ),
    (
        {"sdp_offer": fake_offer(), "track_mapping": [{**SAMPLE_MAPPING[0], "mid": "9"}]},
        "track_mapping[0].mid",
    ),
    (
        {"sdp_offer": fake_offer(), "track_mapping": [SAMPLE_MAPPING[0], SAMPLE_MAPPING[0]]},
        "track_mapping[1]",
    ),
]


@pytest.mark.parametrize("suffix", ["/sdp_params", "/connections/2000/sdp_params"])
@pytest.mark.parametrize(("body", "field"), BAD_OFFERS)
def test_a_malformed_offer_fails_fast_with_400_naming_the_field(
    started: httpx.Client, suffix: str, body: dict, field: str
) -> None:
    for method in ("POST", "PUT"):
        response = started.request(method, T + suffix, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["detail"].startswith(field)
    assert FakePeer.created == []


@pytest.mark.parametrize(
    "content", [b"{", b"\xff\xfe", b"[1, 2]", b'"offer"', b"null", b""], ids=repr
)
def test_garbage_offer_bodies_get_400_with_a_message(started: httpx.Client, content: bytes) -> None:
    response = started.post(
        T + "/sdp_params", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "request body" in response.json()["detail"]


def test_garbage_candidate_bodies_get_400_naming_the_field(started: httpx.Client) -> None:
    base = f"{T}/connections/3000/ice_candidates"
    for body, field in [
        ({"candidates": "x"}, "candidates"),
        ({"candidates": [{"sdp_mid": "0"}]}, "candidates[0].candidate"),
        ({"candidates": [], "is_final": "yes"}, "is_final"),
        ({"candidates": [{"candidate": "c", "sdp_mline_index": "0"}]}, "candidates[0]"),
    ]:
        response = started.post(base, json=body)
        assert response.status_code == 400
        assert response.json()["detail"].startswith(field)


def test_an_offer_the_transport_rejects_fails_on_the_next_get_not_202_forever(
    started: httpx.Client,
) -> None:
    body = offer_body()
    body["sdp_offer"] += "a=x-fail\r\n"
    assert started.post(T + "/sdp_params", json=body).status_code == 202
    failed = poll_answer(started, T + "/sdp_params")
    assert failed.status_code == 400
    assert "broken on purpose" in failed.json()["detail"]
    (peer,) = FakePeer.created
    wait_for(lambda: peer.closed_with == [None])
    assert started.put(T + "/sdp_params", json=offer_body()).status_code == 202
    assert poll_answer(started, T + "/sdp_params").status_code == 200


def test_an_answer_that_never_comes_is_reported_instead_of_202_forever(
    started: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections, "ANSWER_DEADLINE", 0.2)
    monkeypatch.setattr(FakePeer, "answer_delay", 5)
    started.post(T + "/sdp_params", json=offer_body())
    assert poll_answer(started, T + "/sdp_params").status_code == 504


def test_unknown_or_unanswered_connections_are_404(started: httpx.Client) -> None:
    cid = started.post(T + "/connections").json()["connection_id"]
    assert started.get(f"{T}/connections/{cid}/sdp_params").status_code == 404
    assert started.get(f"{T}/connections/5555/sdp_params").status_code == 404
    assert started.get(f"{T}/connections/abc/sdp_params").status_code == 404
    assert started.get(f"{T}/connections/99999999999/sdp_params").status_code == 404
    assert started.get(T + "/sdp_params").status_code == 404


def test_the_connection_limit_answers_503(serve_with) -> None:
    served = serve_with(max_connections=2)
    with served.client() as http:
        http.post("/start_session")
        assert http.post(T + "/connections").status_code == 201
        assert http.post(T + "/sdp_params", json=offer_body()).status_code == 202
        assert http.post(T + "/connections").status_code == 503
        assert http.post(f"{T}/connections/77/sdp_params", json=offer_body()).status_code == 503


def test_a_peer_that_goes_away_frees_its_connection(started: httpx.Client, served) -> None:
    base = f"{T}/connections/2500"
    started.post(base + "/sdp_params", json=offer_body())
    poll_answer(started, base + "/sdp_params")
    assert served.runtime.connection_count == 1
    served.call(FakePeer.created[0].drop())
    assert served.runtime.connection_count == 0
    assert started.get(base + "/sdp_params").status_code == 404
    assert served.runtime.session.viewers == set()
