"""Uploads in `reactor render` scripts: a file handed to the model as a viewer would upload it.

A script step `{at: 1.0, upload: pictures/cat.png}` (optional `name`, `mime_type`)
uploads that file at that media time: its bytes go to the session's upload store
and the model's `@file_uploaded` hooks run. A command then names it with
`{upload: pictures/cat.png}` (the same text) where an `UploadedFile` argument
goes; a file named that way but never uploaded by a step is uploaded then,
without the hook. Relative paths are read from the script's folder.
"""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError
from .session import Session
from .upload_store import UploadError

CHUNK = 256 * 1024
"""Bytes read from a scripted file per write: a file is never read whole."""


@dataclass(frozen=True)
class ScriptedUpload:
    """One upload of a render script: the file `path`, uploaded at media time `at` seconds."""

    at: float
    path: str
    base: Path | None = None
    name: str | None = None
    mime_type: str | None = None

    @classmethod
    def parse(cls, item: Mapping[str, Any], where: str, base: Path | None) -> ScriptedUpload:
        """Build from `{at: 1.0, upload: path, name?: str, mime_type?: str}`.

        Raises:
            ConfigError: a key has the wrong type, or the file cannot be read.
        """
        at, path = item.get("at"), item.get("upload")
        if isinstance(at, bool) or not isinstance(at, int | float) or not at >= 0:
            raise ConfigError(f"{where}: 'at' must be media seconds >= 0, got {at!r}")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: 'upload' must be a file path, got {path!r}")
        for key in ("name", "mime_type"):
            if item.get(key) is not None and not isinstance(item.get(key), str):
                raise ConfigError(f"{where}: '{key}' must be a string, got {item.get(key)!r}")
        upload = cls(float(at), path, base, item.get("name"), item.get("mime_type"))
        if not upload.file.is_file():
            raise ConfigError(f"{where}: 'upload': no file at {upload.file}")
        return upload

    @property
    def file(self) -> Path:
        """The file to upload (a relative `path` is read from `base`)."""
        path = Path(self.path)
        return path if path.is_absolute() or self.base is None else self.base / path


class ScriptUploads:
    """The files a render script uploaded, by the text that named them."""

    def __init__(self, session: Session) -> None:
        """Upload into `session`'s store."""
        self.session = session
        self.ids: dict[str, str] = {}

    async def upload(self, step: ScriptedUpload, notify: bool = True) -> dict[str, Any]:
        """Upload `step`'s file (then run `@file_uploaded` hooks, with `notify`).

        Returns:
            The event to record: `{"upload": name, "upload_id", "size"}`.

        Raises:
            ConfigError: the store refused the file (a limit, named).
        """
        name = step.name or step.file.name
        mime_type = step.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        store = self.session.uploads
        if not step.file.is_file():
            raise ConfigError(f"upload {step.path}: no file at {step.file}")
        try:
            upload = store.reserve(name, step.file.stat().st_size, mime_type)
            await store.write(upload.key, _chunks(step.file))
        except UploadError as exc:
            raise ConfigError(f"upload {step.path}: {exc.message}") from None
        self.ids[step.path] = upload.upload_id
        if notify:
            await self.session.file_uploaded(upload.upload_id, "render")
        return {"upload": name, "upload_id": upload.upload_id, "size": upload.size}

    async def arguments(self, args: dict[str, Any], base: Path | None) -> dict[str, Any]:
        """`args` with each `{upload: path}` value swapped for its `{upload_id}` reference."""
        resolved = dict(args)
        for key, value in args.items():
            if isinstance(value, Mapping) and set(value) == {"upload"}:
                path = value["upload"]
                if path not in self.ids:
                    await self.upload(ScriptedUpload(0.0, str(path), base), notify=False)
                resolved[key] = {"upload_id": self.ids[path]}
        return resolved


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
