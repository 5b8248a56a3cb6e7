"""The HTTP side of `reactor run`: WIRE.md session and transport routes over one `Runtime`."""

from .app import create_app
from .errors import ApiError
from .runtime import NIL_SESSION_ID, Runtime

__all__ = ["NIL_SESSION_ID", "ApiError", "Runtime", "create_app"]
