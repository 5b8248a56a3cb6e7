"""Odd paths and methods get a 404 or a 405 from the real server, never a 500."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from server_harness import ServedRuntime, T

from reactor_runtime.server import pages

ODD_PATHS = [
    "/" + "a" * 70,
    "/" + "%C3%A9" * 200,
    "/x/" + "b" * 5000,
    "/x/%00",
    "/%00",
    "/x/%ff%fe",
    "/..%2f..%2fetc%2fpasswd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/x/..%5c..%5cwin.ini",
    "/%5c%5c.%5cpipe",
    "/x/%0d%0aSet-Cookie:a=b",
    "//etc/passwd",
]


def raw_get(served: ServedRuntime, target: str) -> int:
    """The status of `GET target`, sent byte for byte (no client normalises it)."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


@pytest.mark.parametrize("path", ODD_PATHS, ids=lambda path: path[:24])
def test_odd_paths_are_not_found_rather_than_an_error(served: ServedRuntime, path: str) -> None:
    assert raw_get(served, path) == 404


def test_the_catch_all_never_leaves_the_page_directory(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not for clients")
    web = tmp_path / "web"
    web.mkdir()
    (web / "app.js").write_text("// page code")
    (web / "leak.txt").symlink_to(outside)
    (web / "loop").symlink_to(web / "loop")
    monkeypatch.setattr(pages, "WEB_DIR", web)
    assert http.get("/app.js").text == "// page code"
    for path in ("/leak.txt", "/loop", "/loop/x", "/../secret.txt", "/%2e%2e/secret.txt"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert "not for clients" not in response.text


def test_unknown_methods_on_known_routes_answer_405(started: httpx.Client) -> None:
    routes = ["/", "/health", "/session", "/start_session", T + "/sdp_params", "/page.js"]
    for method in ("DELETE", "PATCH", "TRACE", "PROPFIND", "HEAD", "X-ODD"):
        for route in routes:
            assert started.request(method, route).status_code == 405, (method, route)
    assert started.get("/session").json()["state"] == "WAITING"
