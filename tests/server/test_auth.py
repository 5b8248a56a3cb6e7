"""Bearer tokens: every session, transport, schema and metrics route is guarded; /health is not."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from server_harness import FakePeer, ServedRuntime, T, offer_body, sample_runtime

from reactor_runtime.server.auth import TokenError, TokenSet

TOKEN = "s3cret-Token_for.tests~1"
OTHER = "second+token/with=="
GUARDED = [
    ("POST", "/start_session"),
    ("POST", "/stop_session"),
    ("GET", "/session"),
    ("GET", f"{T}/ice_servers"),
    ("POST", f"{T}/sdp_params"),
    ("PUT", f"{T}/sdp_params"),
    ("GET", f"{T}/sdp_params"),
    ("POST", f"{T}/ice_candidates"),
    ("POST", f"{T}/connections"),
    ("POST", f"{T}/connections/1/sdp_params"),
    ("GET", f"{T}/connections/1/sdp_params"),
    ("POST", f"{T}/connections/1/ice_candidates"),
    ("GET", "/schema"),
    ("GET", "/metrics"),
    ("POST", "/drain"),
]


@pytest.fixture(scope="module")
def guarded() -> Iterator[ServedRuntime]:
    """The sample model served with two tokens (fake peers)."""
    FakePeer.created = []
    server = ServedRuntime(sample_runtime(), tokens=TokenSet([TOKEN, OTHER])).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(guarded: ServedRuntime) -> Iterator[httpx.Client]:
    with guarded.client() as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "a bearer token is required"),
        ("Basic eDp5", "a bearer token is required"),
        ("Bearer local", "not accepted"),
        (f"Bearer {TOKEN}x", "not accepted"),
    ],
)
def test_guarded_routes_answer_401_without_an_accepted_token(
    http: httpx.Client, method: str, path: str, authorization: str | None, detail: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = http.request(method, path, headers=headers, json=offer_body())
    assert response.status_code == 401
    assert detail in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "local" not in response.text and "eDp5" not in response.text


def test_every_configured_token_opens_the_session_and_transport_routes(
    http: httpx.Client,
) -> None:
    for token in (TOKEN, OTHER):
        started = http.post("/start_session", json={}, headers=bearer(token))
        assert started.status_code == 200
        assert http.get(f"{T}/ice_servers", headers=bearer(token)).status_code == 200
        offered = http.post(f"{T}/sdp_params", json=offer_body(), headers=bearer(token))
        assert offered.status_code == 202
        assert http.get("/schema", headers=bearer(token)).status_code == 200
        assert "reactor_" in http.get("/metrics", headers=bearer(token)).text
        assert http.post("/stop_session", headers=bearer(token)).status_code == 200


def test_the_scheme_is_case_insensitive_and_extra_spaces_are_ignored(
    http: httpx.Client,
) -> None:
    response = http.get("/session", headers={"Authorization": f"bearer   {TOKEN}"})
    assert response.status_code == 200


def test_health_ready_and_the_page_files_stay_open(http: httpx.Client) -> None:
    assert http.get("/health").status_code == 200
    assert http.get("/ready").status_code == 200
    assert http.get("/").status_code == 200
    assert http.get("/connection.js").status_code == 200


def test_a_refused_token_is_neither_logged_nor_echoed(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-token-that-must-not-leak"
    with caplog.at_level(logging.DEBUG):
        response = http.post("/start_session", headers=bearer(wrong))
        accepted = http.get("/session", headers=bearer(TOKEN))
    assert response.status_code == 401 and accepted.status_code == 200
    assert wrong not in response.text
    assert all(wrong not in r.getMessage() and TOKEN not in r.getMessage() for r in caplog.records)


def test_token_sets_never_show_their_tokens() -> None:
    tokens = TokenSet([TOKEN, TOKEN, OTHER])
    assert len(tokens) == 2 and bool(tokens) and not TokenSet()
    assert TOKEN not in repr(tokens) and repr(tokens) == "TokenSet(2 tokens)"
    assert tokens.accepts(OTHER) and not tokens.accepts(OTHER[:-1]) and not tokens.accepts("")


def test_a_token_file_skips_blank_lines_and_comments(tmp_path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# the operators\n\n  {TOKEN}  \n#{OTHER}\n")
    tokens = TokenSet.from_sources(["extra-token"], path)
    assert len(tokens) == 2
    assert tokens.accepts(TOKEN) and tokens.accepts("extra-token") and not tokens.accepts(OTHER)


@pytest.mark.parametrize(
    ("line", "reason"), [("has space inside", "other characters"), ("tok\u00e9n", "other")]
)
def test_an_unusable_token_in_a_file_is_named_by_line_without_showing_it(
    tmp_path, line: str, reason: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{TOKEN}\n{line}\n")
    with pytest.raises(TokenError, match=f"line 2: expected letters.*{reason}") as caught:
        TokenSet.from_sources([], path)
    assert line not in str(caught.value)


def test_an_empty_command_line_token_is_refused() -> None:
    with pytest.raises(TokenError, match=r"--token 2: .*got an empty token"):
        TokenSet.from_sources([TOKEN, "  "])


def test_an_unreadable_token_file_says_which(tmp_path) -> None:
    with pytest.raises(TokenError, match=r"REACTOR_TOKENS: cannot read .*missing"):
        TokenSet.from_sources([], tmp_path / "missing")
