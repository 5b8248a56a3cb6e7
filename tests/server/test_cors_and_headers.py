"""WIRE.md §1.3 and §2.1, checklist items 1 and 13: CORS, auth, version headers."""

from __future__ import annotations

import httpx
import pytest
from server_harness import T, offer_body

ROUTES = [
    "/start_session",
    "/stop_session",
    "/session",
    f"{T}/ice_servers",
    f"{T}/sdp_params",
    f"{T}/ice_candidates",
    f"{T}/connections",
    f"{T}/connections/1234/sdp_params",
    f"{T}/connections/1234/ice_candidates",
    "/health",
    "/metrics",
    "/schema",
    "/",
]
WIRE_HEADERS = [
    "authorization",
    "content-type",
    "reactor-api-version",
    "reactor-api-accept-version",
    "reactor-webrtc-version",
]


def allowed(response: httpx.Response) -> set[str]:
    return {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}


@pytest.mark.parametrize("path", ROUTES)
def test_a_browser_preflight_on_every_route_is_allowed_with_authorization(
    http: httpx.Client, path: str
) -> None:
    response = http.options(
        path,
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,reactor-api-version,"
            "reactor-api-accept-version,reactor-webrtc-version,x-custom",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert 200 <= response.status_code < 300
    assert response.headers["access-control-allow-origin"] in ("*", "http://localhost:5173")
    assert "*" not in allowed(response)
    assert set(WIRE_HEADERS) | {"x-custom"} <= allowed(response)
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "OPTIONS"} <= methods
    assert response.headers["access-control-allow-private-network"] == "true"


def test_a_bare_options_without_preflight_headers_still_lists_the_wire_headers(
    http: httpx.Client,
) -> None:
    response = http.options("/start_session")
    assert response.status_code == 204
    assert set(WIRE_HEADERS) <= allowed(response)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/start_session"), ("GET", "/session"), ("GET", "/health"), ("GET", "/nowhere")],
)
def test_actual_responses_carry_allow_origin_including_errors(
    http: httpx.Client, method: str, path: str
) -> None:
    response = http.request(method, path, headers={"Origin": "http://example.test"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_error_responses_carry_allow_origin(started: httpx.Client) -> None:
    for response in (
        started.get("/sessions/other/transport/webrtc/ice_servers"),
        started.post(T + "/sdp_params", content=b"{"),
        started.post("/start_session", headers={"Reactor-API-Version": "9"}),
    ):
        assert response.status_code >= 400
        assert response.headers["access-control-allow-origin"] == "*"


def test_requests_without_reactor_or_authorization_headers_are_served(
    http: httpx.Client,
) -> None:
    bare = httpx.Client(base_url=str(http.base_url), headers={})
    with bare:
        assert bare.post("/start_session").status_code == 200
        assert bare.get("/session").status_code == 200
        assert bare.get(T + "/ice_servers").status_code == 200
        assert bare.post(T + "/sdp_params", json=offer_body()).status_code == 202
        assert bare.post(T + "/connections").status_code == 201
        assert bare.post("/stop_session").status_code == 200


@pytest.mark.parametrize("authorization", ["Bearer local", "Bearer whatever", "Basic eDp5", ""])
def test_any_authorization_value_is_accepted(started: httpx.Client, authorization: str) -> None:
    headers = {
        "Authorization": authorization,
        "Reactor-API-Version": "1",
        "Reactor-API-Accept-Version": "1",
        "Reactor-WebRTC-Version": "1.0",
    }
    assert started.get(T + "/ice_servers", headers=headers).status_code == 200
    assert started.post(T + "/sdp_params", json=offer_body(), headers=headers).status_code == 202


@pytest.mark.parametrize(("version", "status"), [("0", 426), ("2", 501), ("banana", 400)])
def test_an_explicitly_wrong_api_version_is_refused_with_426_or_501(
    http: httpx.Client, version: str, status: int
) -> None:
    response = http.post("/start_session", headers={"Reactor-API-Version": version})
    assert response.status_code == status
    assert (
        "Reactor-API-Version" in response.json()["detail"] or version in response.json()["detail"]
    )


def test_api_version_1_is_accepted_in_either_spelling(http: httpx.Client) -> None:
    for version in ("1", "1.0"):
        response = http.post("/start_session", headers={"Reactor-API-Version": version})
        assert response.status_code == 200
