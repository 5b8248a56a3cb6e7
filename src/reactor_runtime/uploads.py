"""`UploadedFile`: a file a viewer uploaded, as a model receives it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class UploadedFile:
    """A file a viewer uploaded: its original `name`, declared `mime_type` and its bytes.

    Declared here so models can annotate with it; uploads themselves (the HTTP
    endpoints, `@file_uploaded`, resolving a command's `UploadedFile`
    parameters) are not served yet (issue 12, item 6).
    """

    name: str
    mime_type: str
    data: bytes

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return len(self.data)
