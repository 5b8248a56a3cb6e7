"""The CORS allow-list: listed origins get themselves back; others, and guarded runtimes, none."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_harness import FakePeer, ServedRuntime, sample_runtime

from reactor_runtime.server.auth import TokenSet
from reactor_runtime.server.cors import CorsPolicy, normalise_origin

TOKEN = "cors-test-token"
LISTED = "https://app.example:8443"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ServedRuntime]]:
    """One runtime per policy: allow-listed (with tokens), guarded without a list."""
    FakePeer.created = []
    tokens = TokenSet([TOKEN])
    started = {
        "listed": ServedRuntime(
            sample_runtime(),
            tokens=tokens,
            cors=CorsPolicy(["HTTPS://App.Example:8443/", "http://localhost:5173"], guarded=True),
        ).start(),
        "guarded": ServedRuntime(sample_runtime(), tokens=tokens).start(),
    }
    try:
        yield started
    finally:
        for server in started.values():
            server.stop()


def call(server: ServedRuntime, method: str, path: str, origin: str, **headers: str):
    with server.client() as http:
        return http.request(
            method, path, headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}", **headers}
        )


@pytest.mark.parametrize("origin", [LISTED, "http://localhost:5173"])
def test_a_listed_origin_gets_itself_back_with_vary_on_preflights_and_answers(
    servers, origin: str
) -> None:
    preflight = call(servers["listed"], "OPTIONS", "/start_session", origin, **PREFLIGHT)
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert preflight.headers["vary"] == "Origin"
    answer = call(servers["listed"], "GET", "/session", origin)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == origin
    assert "Origin" in answer.headers.get_list("vary")
    assert "access-control-allow-credentials" not in answer.headers


@pytest.mark.parametrize("server", ["listed", "guarded"])
@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "https://app.example:8444", "http://app.example:8443", "null"],
)
def test_other_origins_get_no_cors_grant_at_all(servers, server: str, origin: str) -> None:
    for method, path in [("OPTIONS", "/start_session"), ("GET", "/session"), ("GET", "/nope")]:
        response = call(servers[server], method, path, origin, **PREFLIGHT)
        assert not any(h.startswith("access-control-") for h in response.headers), (method, path)
        assert "Origin" in response.headers.get_list("vary")


def test_a_guarded_runtime_still_serves_its_own_page_same_origin(servers) -> None:
    server = servers["guarded"]
    response = call(server, "GET", "/session", server.url)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://App.Example:443", "https://app.example"),
        ("http://10.0.0.5:80/", "http://10.0.0.5"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("*", "*"),
    ],
)
def test_origins_are_normalised_as_browsers_send_them(text: str, expected: str) -> None:
    assert normalise_origin(text) == expected


@pytest.mark.parametrize(
    "text", ["app.example", "ftp://app.example", "https://app.example/path", "https://u@x", ""]
)
def test_a_malformed_origin_is_refused_naming_the_flag(text: str) -> None:
    with pytest.raises(ValueError, match=r"--cors-origin: expected an origin"):
        CorsPolicy([text])


def test_an_explicit_star_allows_any_origin_even_when_guarded() -> None:
    policy = CorsPolicy(["*"], guarded=True)
    assert policy.allow("https://anywhere.example") == "*" and not policy.varies
