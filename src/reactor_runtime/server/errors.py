"""`ApiError`: a refusal that becomes an HTTP answer `{"detail": ...}`."""

from __future__ import annotations


class ApiError(Exception):
    """A request the runtime refuses; `status` and `detail` become the HTTP answer."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
