"""The upload routes (WIRE.md §2.11): announce, PUT exactly the size, limits, token, CORS, cleanup."""

from __future__ import annotations

import argparse

import httpx
import pytest
from server_harness import ServedRuntime, sample_runtime, wait_for

from reactor_runtime.server.auth import TokenSet
from reactor_runtime.server.limit_options import add_arguments, from_args
from reactor_runtime.server.limits import Limits
from reactor_runtime.server.runtime import NIL_SESSION_ID

UPLOADS = f"/sessions/{NIL_SESSION_ID}/uploads"
PNG = {"name": "a.png", "size": 5, "mime_type": "image/png"}


def refused(http: httpx.Client, limit: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'reactor_requests_refused_total{{limit="{limit}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no refusal counter for {limit}")


def test_an_announced_file_is_put_in_chunks_and_kept_in_the_session_folder(
    served: ServedRuntime, started: httpx.Client
) -> None:
    announced = started.post(UPLOADS, json=PNG)
    assert announced.status_code == 201
    body = announced.json()
    assert body["presigned_url"].startswith(served.url + "/uploads/")
    assert body["path"] == f"sessions/{NIL_SESSION_ID}/uploads/{body['presigned_id']}/a.png"
    chunks = iter([b"he", b"llo"])
    put = httpx.put(body["presigned_url"], content=chunks, timeout=5)
    assert put.status_code == 200, put.text
    assert put.json() == {"upload_id": body["presigned_id"], "size": 5}
    folder = served.runtime.session.uploads.folder
    assert (folder / body["presigned_id"]).read_bytes() == b"hello"


def test_unknown_urls_are_404_and_a_written_upload_is_409(started: httpx.Client) -> None:
    url = started.post(UPLOADS, json=PNG).json()["presigned_url"]
    assert httpx.put(url + "x", content=b"hello").status_code == 404
    assert httpx.put(url, content=b"hello").status_code == 200
    again = httpx.put(url, content=b"hello")
    assert again.status_code == 409 and "done already" in again.json()["detail"]


@pytest.mark.parametrize("content", [b"hell", b"hello!"])
def test_a_put_of_another_size_is_400_and_may_be_retried(
    started: httpx.Client, content: bytes
) -> None:
    url = started.post(UPLOADS, json=PNG).json()["presigned_url"]
    wrong = httpx.put(url, content=content)
    assert wrong.status_code == 400
    assert "expected exactly 5 bytes (the announced size)" in wrong.json()["detail"]
    assert httpx.put(url, content=b"hello").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"size": 0}, "size"),
        ({"size": "5"}, "size"),
        ({"size": True}, "size"),
        ({"name": ""}, "name"),
        ({"name": "x" * 300}, "name"),
        ({"mime_type": None}, "mime_type"),
    ],
)
def test_an_announcement_with_a_bad_field_is_400_naming_it(
    started: httpx.Client, change: dict, field: str
) -> None:
    response = started.post(UPLOADS, json={**PNG, **change})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: expected ")


def test_no_upload_without_a_session_or_for_another_one(http: httpx.Client) -> None:
    assert http.post(UPLOADS, json=PNG).status_code == 400
    http.post("/start_session", json={})
    assert http.post("/sessions/other/uploads", json=PNG).status_code == 404


def test_size_and_count_limits_refuse_naming_themselves_and_are_counted(serve_with) -> None:
    limits = Limits(max_upload_bytes=8, max_session_upload_bytes=12, max_uploads=3)
    server = serve_with(limits=limits)
    with server.client() as http:
        http.post("/start_session", json={})
        big = http.post(UPLOADS, json={**PNG, "size": 9})
        assert big.status_code == 413 and "(max_upload_bytes)" in big.json()["detail"]
        assert http.post(UPLOADS, json={**PNG, "size": 8}).status_code == 201
        total = http.post(UPLOADS, json=PNG)
        assert total.status_code == 413 and "(max_session_upload_bytes)" in total.json()["detail"]
        assert http.post(UPLOADS, json={**PNG, "size": 2}).status_code == 201
        assert http.post(UPLOADS, json={**PNG, "size": 1}).status_code == 201
        many = http.post(UPLOADS, json={**PNG, "size": 1})
        assert many.status_code == 429 and "(max_uploads)" in many.json()["detail"]
        for limit in ("max_upload_bytes", "max_session_upload_bytes", "max_uploads"):
            assert refused(http, limit) == 1


def test_the_announcement_needs_the_token_and_the_put_carries_none() -> None:
    server = ServedRuntime(sample_runtime(), tokens=TokenSet(["s3cret"])).start()
    try:
        auth = {"Authorization": "Bearer s3cret"}
        with server.client() as http:
            assert http.post("/start_session", json={}, headers=auth).status_code == 200
            assert http.post(UPLOADS, json=PNG).status_code == 401
            url = http.post(UPLOADS, json=PNG, headers=auth).json()["presigned_url"]
            assert "s3cret" not in url
            assert httpx.put(url, content=b"hello").status_code == 200
    finally:
        server.stop()


def test_browsers_may_put_cross_origin(started: httpx.Client) -> None:
    url = started.post(UPLOADS, json=PNG).json()["presigned_url"]
    origin = {"Origin": "http://page.example"}
    preflight = httpx.options(url, headers={**origin, "Access-Control-Request-Method": "PUT"})
    assert preflight.status_code in (200, 204)
    assert "PUT" in preflight.headers["access-control-allow-methods"]
    put = httpx.put(url, content=b"hello", headers=origin)
    assert put.headers["access-control-allow-origin"] == "*"


def test_uploads_are_deleted_when_the_session_ends(
    served: ServedRuntime, started: httpx.Client
) -> None:
    url = started.post(UPLOADS, json=PNG).json()["presigned_url"]
    assert httpx.put(url, content=b"hello").status_code == 200
    folder = served.runtime.session.uploads.folder
    assert folder is not None and folder.exists()
    started.post("/stop_session", json={})
    wait_for(lambda: not folder.exists())
    assert httpx.put(url, content=b"hello").status_code == 404


def test_reactor_run_flags_set_the_upload_limits() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = ["--max-upload", "10", "--max-session-uploads", "20", "--max-uploads", "2"]
    limits = from_args(parser.parse_args(flags))
    assert (limits.max_upload_bytes, limits.max_session_upload_bytes, limits.max_uploads) == (
        10,
        20,
        2,
    )
    with pytest.raises(ValueError, match="--max-uploads: expected an integer >= 1, got 0"):
        from_args(parser.parse_args(["--max-uploads", "0"]))


def test_uploads_are_deleted_when_the_server_stops() -> None:
    server = ServedRuntime(sample_runtime()).start()
    with server.client() as http:
        http.post("/start_session", json={})
        url = http.post(UPLOADS, json=PNG).json()["presigned_url"]
        assert httpx.put(url, content=b"hello").status_code == 200
    folder = server.runtime.session.uploads.folder
    server.stop()
    assert not folder.exists()


def test_upload_counters_are_in_metrics(started: httpx.Client) -> None:
    url = started.post(UPLOADS, json=PNG).json()["presigned_url"]
    httpx.put(url, content=b"hello")
    text = started.get("/metrics").text
    assert "reactor_uploads 1.0" in text and "reactor_upload_bytes 5.0" in text
    assert "reactor_uploads_completed_total 1.0" in text
