"""Request bounds checked before parsing: body size, JSON depth, SDP size and counts."""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from server_harness import SAMPLE_MAPPING, T, fake_offer, offer_body

from reactor_runtime.server.limit_options import from_args
from reactor_runtime.server.limits import Limits
from reactor_runtime.server.main import add_arguments, main
from reactor_runtime.server.requests import json_depth

DEEP = b"[" * 100_000 + b"]" * 100_000
JSON = {"content-type": "application/json"}


def refused(http: httpx.Client, limit: str) -> float:
    """`reactor_requests_refused_total{limit=...}` as `/metrics` shows it now."""
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'reactor_requests_refused_total{{limit="{limit}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no refusal counter for {limit}")


def candidate(port: int) -> dict:
    return {"candidate": f"candidate:1 1 udp 2122260223 10.0.0.2 {port} typ host", "sdp_mid": "0"}


@pytest.mark.parametrize(
    "route",
    [
        "/start_session",
        T + "/sdp_params",
        T + "/connections/2000/sdp_params",
        T + "/ice_candidates",
    ],
)
def test_deep_json_is_refused_with_400_naming_the_limit(started: httpx.Client, route: str) -> None:
    response = started.post(route, content=DEEP, headers=JSON)
    assert response.status_code == 400
    assert (
        "nested 100000 levels deep, more than 32 (limit max_json_depth)"
        in (response.json()["detail"])
    )
    assert refused(started, "max_json_depth") == 1
    assert started.get("/session").json()["state"] == "WAITING"


def test_deep_json_on_stop_session_still_stops_and_is_counted(started: httpx.Client) -> None:
    assert started.post("/stop_session", content=DEEP, headers=JSON).status_code == 200
    assert started.get("/session").json()["state"] == "READY"
    assert refused(started, "max_json_depth") == 1


def test_brackets_inside_strings_do_not_count_as_nesting(started: httpx.Client) -> None:
    tricky = '[[[[\\"{{{{' * 100
    body = {"extra_args": {"note": tricky, "list": [[[["four"]]]]}}
    assert started.post("/start_session", json=body).status_code == 200
    assert refused(started, "max_json_depth") == 0


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["]]]]", "[[[[", "\\"[[["]', 1),
        (b'{"a": "\\\\", "b": [[]]}', 3),
        (b'"[[[[', 0),
        (DEEP, 100_000),
    ],
)
def test_json_depth_is_counted_outside_strings(text: bytes, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_takes_linear_time_on_unterminated_strings() -> None:
    hostile = b'"\\' * (1 << 19)
    started = time.perf_counter()
    json_depth(hostile + b"[" * 40)
    assert time.perf_counter() - started < 1.0


def test_a_body_larger_than_its_limit_is_refused_by_its_content_length(serve_with) -> None:
    served = serve_with(limits=Limits(max_body_bytes=1000))
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        # Headers only: the answer must come without the server waiting for the body.
        sock.sendall(
            b"POST /start_session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        reply = b""
        # The headers and the body may come in separate segments (TCP_NODELAY).
        while b"limit max_body_bytes" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413")
    assert b"1000000000 bytes declared, at most 1000 (limit max_body_bytes)" in reply


def test_a_streamed_body_is_cut_off_at_its_limit(serve_with) -> None:
    served = serve_with(limits=Limits(max_body_bytes=1000))
    sent = []

    def chunks() -> Iterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 500

    with served.client() as http:
        response = http.post("/start_session", content=chunks(), headers=JSON)
        assert response.status_code == 413
        assert "more than 1000 bytes sent" in response.json()["detail"]
        assert refused(http, "max_body_bytes") == 1
        assert http.post("/start_session", json={}).status_code == 200


def test_an_offer_past_its_sdp_limits_is_refused_naming_each(serve_with) -> None:
    limits = Limits(max_sdp_bytes=2000, max_m_lines=3, max_candidates_per_request=2)
    served = serve_with(limits=limits)
    line = "a=candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host\r\n"
    cases = [
        (fake_offer() + "a=x-padding:" + "p" * 2000 + "\r\n", 413, "max_sdp_bytes"),
        (fake_offer(mids=("0", "1", "2", "3")), 400, "max_m_lines"),
        (fake_offer() + line * 3, 400, "max_candidates_per_request"),
    ]
    with served.client() as http:
        http.post("/start_session")
        for sdp, status, limit in cases:
            body = {"sdp_offer": sdp, "track_mapping": SAMPLE_MAPPING}
            response = http.post(T + "/sdp_params", json=body)
            assert response.status_code == status, limit
            assert f"(limit {limit})" in response.json()["detail"]
            assert refused(http, limit) == 1
        assert http.post(T + "/sdp_params", json=offer_body()).status_code == 202


def test_candidates_are_bounded_per_request_and_per_connection(serve_with) -> None:
    limits = Limits(max_candidates_per_request=4, max_candidates_per_connection=6)
    served = serve_with(limits=limits)
    path = T + "/connections/3000/ice_candidates"
    with served.client() as http:
        http.post("/start_session")
        many = {"candidates": [candidate(p) for p in range(5)], "is_final": False}
        response = http.post(path, json=many)
        assert response.status_code == 400
        assert (
            "5 in one request, more than 4 (limit max_candidates_per_request)"
            in (response.json()["detail"])
        )
        four = {"candidates": [candidate(p) for p in range(4)], "is_final": False}
        assert http.post(path, json=four).status_code == 202
        response = http.post(path, json=four)
        assert response.status_code == 400
        assert "(limit max_candidates_per_connection)" in response.json()["detail"]
        assert refused(http, "max_candidates_per_connection") == 1
        # A new offer opens a new budget (kept candidates count against it).
        assert http.post(T + "/connections/3000/sdp_params", json=offer_body()).status_code == 202
        two = {"candidates": [candidate(p) for p in range(2)], "is_final": True}
        assert http.post(path, json=two).status_code == 202
        assert http.post(path, json=two).status_code == 400


def test_reactor_run_flags_set_the_limits_and_refuse_bad_values() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--max-body", "2048", "--max-pending-per-ip", "2", "--offer-timeout", "3"]
    )
    assert from_args(args) == Limits(max_body_bytes=2048, max_pending_per_ip=2, offer_timeout=3)
    with pytest.raises(ValueError, match="--max-pending-per-ip: expected an integer >= 1, got 0"):
        from_args(parser.parse_args(["--max-pending-per-ip", "0"]))
    assert main(parser.parse_args(["--connect-timeout", "-1"])) == 2  # a usage error
