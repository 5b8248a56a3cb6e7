"""The upload routes (WIRE.md §2.11): announce a file, then PUT its bytes to the URL given.

`POST /sessions/{sid}/uploads` takes `{"name", "size", "mime_type"}` and answers
201 `{"presigned_id", "presigned_url", "path"}`. It is guarded like every session
route. The `presigned_url` is absolute and carries, in its path, a secret minted
for that one upload: the `PUT` to it needs no `Authorization` (browsers and the
official clients send none there), the secret is its authority. The PUT body is
exactly the announced size, streamed to the session's upload folder
(`upload_store.UploadStore`); 404 unknown URL, 409 written already, 400 size
mismatch. Files are deleted when the session ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..upload_store import UploadError, UploadStore
from .errors import ApiError
from .limits import LimitExceeded, Limits
from .requests import json_body
from .runtime import Runtime

PUT_PREFIX = "/uploads/"
"""Where presigned URLs point; the rest of the path is the upload's secret."""
MAX_NAME_CHARS = 255
"""A file name, as file systems allow it; the name is only reported back to the model."""


def store_for(limits: Limits) -> UploadStore:
    """An empty upload store bounded by the `max_upload*` fields of `limits`."""
    return UploadStore(
        max_upload_bytes=limits.max_upload_bytes,
        max_session_upload_bytes=limits.max_session_upload_bytes,
        max_uploads=limits.max_uploads,
    )


def install(app: FastAPI, runtime: Runtime, guarded: Sequence[Any]) -> None:
    """Add the upload routes to `app`; `guarded` are the session routes' dependencies."""
    runtime.session.uploads = store_for(runtime.limits)

    @app.post("/sessions/{sid}/uploads", dependencies=list(guarded))
    async def announce(sid: str, request: Request) -> JSONResponse:
        runtime.require_session(sid)
        name, size, mime_type = _announcement(
            await json_body(request, required=True, limits=runtime.limits)
        )
        try:
            upload = runtime.session.uploads.reserve(name, size, mime_type)
        except UploadError as exc:
            raise _api_error(exc) from None
        base = str(request.base_url).rstrip("/")
        body = {
            "presigned_id": upload.upload_id,
            "presigned_url": f"{base}{PUT_PREFIX}{upload.key}",
            "path": f"sessions/{sid}/uploads/{upload.upload_id}/{name}",
        }
        return JSONResponse(body, status_code=201)

    @app.put(PUT_PREFIX + "{key}")
    async def put(key: str, request: Request) -> JSONResponse:
        length = _content_length(request.headers.get("content-length"))
        runtime.touch()  # a long upload is client activity: no orphan timeout meanwhile
        try:
            upload = await runtime.session.uploads.write(key, request.stream(), length)
        except UploadError as exc:
            raise _api_error(exc) from None
        runtime.touch()
        return JSONResponse({"upload_id": upload.upload_id, "size": upload.size})


def _announcement(body: dict[str, Any]) -> tuple[str, int, str]:
    """`(name, size, mime_type)` of a POST body.

    Raises:
        ApiError: 400 naming the field, what it must be and what it was.
    """
    name, size, mime_type = body.get("name"), body.get("size"), body.get("mime_type")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        expected = f"a file name of 1 to {MAX_NAME_CHARS} characters"
        raise ApiError(400, f"name: expected {expected}, got {_show(name)}")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ApiError(400, f"size: expected an integer number of bytes > 0, got {_show(size)}")
    if not isinstance(mime_type, str) or not mime_type.strip():
        expected = "a MIME type such as image/png"
        raise ApiError(400, f"mime_type: expected {expected}, got {_show(mime_type)}")
    return name, size, mime_type


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"Content-Length: expected an integer, got {value[:32]!r}") from None


def _api_error(exc: UploadError) -> ApiError:
    if exc.limit is not None:
        return LimitExceeded(exc.status, exc.limit, exc.message)
    return ApiError(exc.status, exc.message)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
