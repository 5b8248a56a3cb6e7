"""Uploading a file to a runtime (WIRE.md §2.11) for a command to take.

`announce_and_put` announces the file (`POST /sessions/{sid}/uploads`, with the
client's token), then streams its bytes to the `presigned_url` it got back with a
`PUT` that carries no `Authorization` (the URL is its own authority). The
returned `FileRef` goes in a command's arguments; `ClientSession.command` sends
it in the command's `uploads` map, as the official Python SDK does.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .signalling import ConnectError, Signalling, _json

CHUNK = 256 * 1024
"""Bytes read from a file per chunk of the PUT: a file is never read whole."""


@dataclass(frozen=True)
class FileRef:
    """An uploaded file, as a command argument names it (the wire's `UploadReference`)."""

    upload_id: str
    name: str
    mime_type: str
    size: int


async def announce_and_put(
    signalling: Signalling,
    file: bytes | str | os.PathLike[str],
    name: str | None = None,
    mime_type: str | None = None,
) -> FileRef:
    """Upload `file` (bytes or a path) to the running session.

    `name` defaults to the path's file name (`upload` for bytes); `mime_type` is
    guessed from the name, else `application/octet-stream`.

    Raises:
        ConnectError: the runtime refused the announcement or the PUT (its detail).
    """
    if isinstance(file, bytes):
        size, name = len(file), name or "upload"
        content: bytes | AsyncIterator[bytes] = file
    else:
        path = Path(file)
        size, name = path.stat().st_size, name or path.name
        content = _chunks(path)
    mime_type = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    route = f"/sessions/{signalling.session_id}/uploads"
    announced = await signalling._call(
        "POST", route, json={"name": name, "size": size, "mime_type": mime_type}
    )
    body = _json(announced, f"POST {route}", 201)
    request = signalling.http.build_request(
        "PUT", body["presigned_url"], content=content, headers={"Content-Length": str(size)}
    )
    request.headers.pop("Authorization", None)
    try:
        put = await signalling.http.send(request)
    except Exception as exc:
        raise ConnectError(f"PUT of upload {body['presigned_id']}: {exc!r}") from exc
    _json(put, f"PUT of upload {body['presigned_id']}", 200)
    return FileRef(body["presigned_id"], name, mime_type, size)


def split_uploads(args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, FileRef]]:
    """`args` without their `FileRef` values, and those values by parameter name."""
    refs = {k: v for k, v in args.items() if isinstance(v, FileRef)}
    return {k: v for k, v in args.items() if k not in refs}, refs


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
