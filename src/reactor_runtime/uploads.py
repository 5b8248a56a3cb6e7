"""`UploadedFile`: a file a viewer uploaded, as a model receives it."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import IO, Any

from pydantic_core import core_schema


class UploadedFile:
    """A file a viewer uploaded: its original `name`, declared `mime_type`, `size` and bytes.

    A served upload lives on disk (`path`, in the session's upload folder, deleted
    when the session ends) and `data` reads it on first use; `open()` streams it
    instead. Built from bytes (`UploadedFile(name, mime_type, data)`, as 3.x tests
    do), it has no `path`.
    """

    __slots__ = ("_data", "mime_type", "name", "path", "size")

    def __init__(
        self,
        name: str,
        mime_type: str,
        data: bytes | None = None,
        *,
        path: str | Path | None = None,
    ) -> None:
        """Hold `data`, or refer to the file at `path` (exactly one of them).

        Raises:
            ValueError: both or neither of `data` and `path` are given.
        """
        if (data is None) == (path is None):
            raise ValueError("UploadedFile: give its bytes (data) or its file (path), not both")
        self.name = name
        self.mime_type = mime_type
        self.path = None if path is None else Path(path)
        self._data = None if data is None else bytes(data)
        self.size = len(self._data) if self._data is not None else self.path.stat().st_size  # type: ignore[union-attr]

    @property
    def data(self) -> bytes:
        """The file's bytes (read from `path` on first use, then kept)."""
        if self._data is None:
            assert self.path is not None
            self._data = self.path.read_bytes()
        return self._data

    def open(self) -> IO[bytes]:
        """A binary file object over the bytes, to read them without holding them whole."""
        if self.path is not None and self._data is None:
            return self.path.open("rb")
        import io

        return io.BytesIO(self.data)

    def __repr__(self) -> str:
        """Name, type and size; never the bytes."""
        return f"UploadedFile(name={self.name!r}, mime_type={self.mime_type!r}, size={self.size})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        """Arguments typed `UploadedFile` accept resolved uploads only (no raw dicts)."""
        return core_schema.is_instance_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        """Described as an object; the published schema refers to the upload reference."""
        return {"type": "object", "format": "reactor-upload-reference"}


def upload_kind(annotation: Any) -> str | None:
    """How a parameter annotated `annotation` takes uploads, if it does.

    Returns:
        `"file"` for `UploadedFile` (or `UploadedFile | None`), `"list"` for
        `list[UploadedFile]`, else None.
    """
    if isinstance(annotation, type) and issubclass(annotation, UploadedFile):
        return "file"
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args:
        return "list" if upload_kind(args[0]) == "file" else None
    if type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        return "file" if upload_kind(inner) == "file" else None
    return None
