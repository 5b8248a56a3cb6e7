"""`ClientInfo`: one connected viewer, as a handler or hook sees it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .messages import ModelMessage


@dataclass(frozen=True)
class ClientInfo:
    """A connected viewer: its connection `id`, when it joined, and a send to it alone.

    `joined_at` is `time.monotonic()` at connection; `system` marks the
    runtime's own client rather than a viewer. Declared here so models can
    annotate with it; the runtime does not pass it to handlers and hooks yet (a
    reserved `client` parameter, issue 12 item 7).
    """

    id: str
    joined_at: float
    system: bool = False
    _send: Callable[[ModelMessage], None] | None = field(default=None, compare=False, repr=False)

    async def send(self, message: ModelMessage) -> None:
        """Send `message` to this viewer only (nothing when no viewer is bound).

        Raises:
            TypeError: `message` is not a `ModelMessage`.
        """
        if not isinstance(message, ModelMessage):
            raise TypeError(
                f"client.send: expected a ModelMessage instance, got {type(message).__name__}"
            )
        if self._send is not None:
            self._send(message)
