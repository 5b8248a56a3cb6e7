"""`UploadStore`: the files a session's viewers uploaded, kept on disk until the session ends.

An upload is first announced (`reserve`: name, size, MIME type), which mints its
`upload_id` and the secret `key` of the one write that may fill it; the bytes
then arrive in that write (`write`), exactly the announced size, streamed in
chunks to a file of the session's temporary folder. Commands and `fileUploaded`
notices name an upload by its id; `fetch` hands it to the model as an
`UploadedFile`, waiting a bounded time for bytes still on their way (a client
may send the command while its upload is in flight). `clear` deletes every file.

The folder must not outlive its session on an operator's disk, whatever ends it:
`clear` at session end; a store dropped without `clear`, or a process exiting
without ending its session, deletes it then (a `weakref.finalize`, run at exit too);
a process killed outright cannot, so its folder is named with its pid
(`reactor-uploads-<pid>-*`) and the next store this machine makes deletes the folders
of pids no longer running (`sweep_orphans`).

The store belongs to one event loop (the caller's, see `Session`); its bounds
are the `max_upload*` fields of `server.limits.Limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import tempfile
import uuid
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .events import CommandError
from .uploads import UploadedFile

log = logging.getLogger(__name__)

FOLDER_PREFIX = "reactor-uploads-"
"""Each store's folder in the temporary directory is `FOLDER_PREFIX<pid>-<random>`."""
_ORPHAN = re.compile(re.escape(FOLDER_PREFIX) + r"(\d+)-")

UPLOAD_WAIT = 5.0
"""Seconds a command or notice naming an upload waits for its bytes to finish
arriving; well under the 10 s an official client waits for a command's reply."""

UNRESOLVED_UPLOAD = "unresolved_upload"
"""The error code of a command naming an upload the store cannot produce (WIRE.md §5.3)."""


class UploadError(Exception):
    """An upload request refused: `status` is its HTTP status, `limit` the bound it broke."""

    def __init__(self, status: int, message: str, limit: str | None = None) -> None:
        """Refuse with `status` and `message` (which names `limit`, if one)."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.limit = limit


class UnresolvedUpload(LookupError):
    """No upload with this id has all its bytes (within the wait)."""

    def __init__(self, upload_id: str, why: str) -> None:
        """Name the upload and why it cannot be produced."""
        super().__init__(f"upload {upload_id!r} {why}")
        self.upload_id = upload_id


@dataclass(eq=False)
class Upload:
    """One announced upload; `state` goes `empty`, `writing`, `done` (`empty` on a failed write)."""

    upload_id: str
    key: str
    name: str
    mime_type: str
    size: int
    path: Path
    state: str = "empty"
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def file(self) -> UploadedFile:
        """The model's view of the written upload."""
        return UploadedFile(self.name, self.mime_type, path=self.path)


class UploadStore:
    """The uploads of one session, their files in a temporary folder of their own."""

    def __init__(
        self,
        *,
        max_upload_bytes: int | None = None,
        max_session_upload_bytes: int | None = None,
        max_uploads: int | None = None,
    ) -> None:
        """An empty store with these bounds (default: the constants of `server.limits`)."""
        # Imported here: `reactor_runtime.server` imports the session, which imports this.
        from .server import limits

        self.max_upload_bytes = max_upload_bytes or limits.MAX_UPLOAD_BYTES
        self.max_session_upload_bytes = max_session_upload_bytes or limits.MAX_SESSION_UPLOAD_BYTES
        self.max_uploads = max_uploads or limits.MAX_UPLOADS
        self._by_id: dict[str, Upload] = {}
        self._by_key: dict[str, Upload] = {}
        self._notified: set[str] = set()
        self._root: Path | None = None
        self._remove_root: weakref.finalize[Any, Any] | None = None
        self.completed = 0
        self.unresolved = 0

    # announcing and writing --------------------------------------------------------------

    def reserve(self, name: str, size: int, mime_type: str) -> Upload:
        """Announce an upload of `size` bytes; its file is written later by `write`.

        Raises:
            UploadError: 413 past `max_upload_bytes` or `max_session_upload_bytes`,
                429 past `max_uploads`.
        """
        if size > self.max_upload_bytes:
            raise UploadError(
                413,
                f"size: {size} bytes is over the limit of {self.max_upload_bytes} bytes per "
                f"file (max_upload_bytes)",
                "max_upload_bytes",
            )
        if len(self._by_id) >= self.max_uploads:
            raise UploadError(
                429,
                f"this session already has {len(self._by_id)} uploads, the limit "
                f"(max_uploads); they are deleted when the session ends",
                "max_uploads",
            )
        taken = sum(u.size for u in self._by_id.values())
        if taken + size > self.max_session_upload_bytes:
            raise UploadError(
                413,
                f"size: {size} more bytes would bring this session's uploads to "
                f"{taken + size} bytes, over the limit of {self.max_session_upload_bytes} "
                f"(max_session_upload_bytes)",
                "max_session_upload_bytes",
            )
        if self._root is None:
            sweep_orphans()
            self._root = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-"))
            self._remove_root = weakref.finalize(
                self, shutil.rmtree, self._root, ignore_errors=True
            )
        upload_id = str(uuid.uuid4())
        upload = Upload(
            upload_id, secrets.token_urlsafe(32), name, mime_type, size, self._root / upload_id
        )
        self._by_id[upload_id] = upload
        self._by_key[upload.key] = upload
        return upload

    async def write(
        self, key: str, chunks: AsyncIterator[bytes], length: int | None = None
    ) -> Upload:
        """Write the bytes of the upload whose secret is `key`, streamed chunk by chunk.

        `length` (the request's `Content-Length`, if any) is checked before reading.
        A failed write leaves the upload empty, to be written again.

        Raises:
            UploadError: 404 for an unknown key, 409 for an upload written (or being
                written) already, 400 when the bytes are not exactly the announced size.
        """
        upload = self._by_key.get(key)
        if upload is None:
            raise UploadError(404, "no upload at this address (unknown, or its session ended)")
        if upload.state != "empty":
            raise UploadError(409, f"upload {upload.upload_id} is {upload.state} already")
        if length is not None and length != upload.size:
            raise UploadError(400, _mismatch(upload, f"Content-Length {length}"))
        upload.state = "writing"
        written = 0
        handle: IO[bytes] | None = None
        try:
            handle = await asyncio.to_thread(upload.path.open, "wb")
            async for chunk in chunks:
                written += len(chunk)
                if written > upload.size:
                    raise UploadError(400, _mismatch(upload, f"more than {upload.size} bytes"))
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            if written != upload.size:
                raise UploadError(400, _mismatch(upload, f"{written} bytes"))
        except BaseException:
            if handle is not None:
                handle.close()
            upload.path.unlink(missing_ok=True)
            if upload.state == "writing":
                upload.state = "empty"
            raise
        if upload.state != "writing":  # the session ended meanwhile
            upload.path.unlink(missing_ok=True)
            raise UploadError(404, "the session ended during the upload")
        upload.state = "done"
        upload.done.set()
        self.completed += 1
        return upload

    # resolving ---------------------------------------------------------------------------

    async def fetch(self, upload_id: Any, wait: float = UPLOAD_WAIT) -> UploadedFile:
        """The written upload `upload_id`, waiting up to `wait` s for bytes on their way.

        Raises:
            UnresolvedUpload: no such upload, or its bytes did not all arrive in time.
        """
        upload = self._by_id.get(upload_id) if isinstance(upload_id, str) else None
        if upload is None:
            self.unresolved += 1
            raise UnresolvedUpload(str(upload_id), "was never announced in this session")
        if not upload.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(upload.done.wait(), wait)
        if upload.state != "done":
            self.unresolved += 1
            raise UnresolvedUpload(upload_id, f"has not been written within {wait:g} s")
        return upload.file()

    def first_notice(self, upload_id: str) -> bool:
        """True the first time a `fileUploaded` notice names `upload_id`, False after."""
        if upload_id in self._notified:
            return False
        self._notified.add(upload_id)
        return True

    # ending ------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every upload and delete their files (the session ended)."""
        for upload in self._by_id.values():
            upload.state = "deleted"
            upload.done.set()
        self._by_id.clear()
        self._by_key.clear()
        self._notified.clear()
        self._root = None
        remove, self._remove_root = self._remove_root, None
        if remove is not None:
            remove()

    @property
    def folder(self) -> Path | None:
        """The temporary folder of the session's files (None before the first upload)."""
        return self._root

    def stats(self) -> dict[str, int]:
        """Counts: uploads announced now, bytes announced, written ever, unresolved ever."""
        return {
            "uploads": len(self._by_id),
            "bytes": sum(u.size for u in self._by_id.values()),
            "completed": self.completed,
            "unresolved": self.unresolved,
        }


def sweep_orphans(directory: str | None = None) -> int:
    """Delete the upload folders of processes no longer running; returns how many.

    Only folders named `FOLDER_PREFIX<pid>-*` in `directory` (default: the temporary
    directory) whose pid is not a running process are deleted: those of a runtime
    killed with a live session.
    """
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory or tempfile.gettempdir()):
            match = _ORPHAN.match(entry.name)
            if match is None or not entry.is_dir(follow_symlinks=False):
                continue
            if _running(int(match.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    if removed:
        log.warning("deleted %d upload folder(s) left by stopped processes", removed)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def _mismatch(upload: Upload, got: str) -> str:
    return f"body: expected exactly {upload.size} bytes (the announced size), got {got}"


# commands naming uploads -------------------------------------------------------------------


async def resolve_uploads(
    store: UploadStore,
    command: str,
    kinds: Mapping[str, str],
    args: Any,
    uploads: Mapping[str, str] | None = None,
    wait: float = UPLOAD_WAIT,
) -> Any:
    """`args` with every upload a command names swapped for its `UploadedFile`.

    An upload is named beside the arguments (`uploads`: parameter -> upload id, the
    wire's `uploads` map) or inline, as `{"upload_id": ...}` in a parameter `kinds`
    types as a file (or in the items of a file list). Anything else is left for the
    command's validation to judge.

    Raises:
        CommandError: `unresolved_upload`, naming the parameter and the upload id.
    """
    if not isinstance(args, dict) or (not uploads and not kinds):
        return args
    resolved = dict(args)

    async def fetch(param: str, upload_id: Any) -> UploadedFile:
        try:
            return await store.fetch(upload_id, wait)
        except UnresolvedUpload as exc:
            raise CommandError(
                UNRESOLVED_UPLOAD, f"command '{command}': argument '{param}': {exc}"
            ) from None

    for param, upload_id in (uploads or {}).items():
        resolved[param] = await fetch(param, upload_id)
    for param, kind in kinds.items():
        value = resolved.get(param)
        if kind == "file" and _reference(value):
            resolved[param] = await fetch(param, value["upload_id"])
        elif kind == "list" and isinstance(value, list):
            resolved[param] = [
                await fetch(f"{param}.{i}", v["upload_id"]) if _reference(v) else v
                for i, v in enumerate(value)
            ]
    return resolved


def _reference(value: Any) -> bool:
    return isinstance(value, dict) and "upload_id" in value
