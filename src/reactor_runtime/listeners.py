"""Who hears a session: message and notice listeners, for every viewer or for one.

A listener registered for a viewer (`viewer="v1"`) receives the messages sent
to every viewer and those addressed to that viewer alone (`client.send`); one
registered without a viewer receives only the messages sent to every viewer.
An addressed message no listener of its viewer takes is counted in
`undelivered`, never lost silently. Everything here runs on the caller's loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

MessageListener = Callable[[str, dict[str, Any]], None]
NoticeListener = Callable[[str, str], None]


class Listeners:
    """The message and notice listeners of one session, with their counters."""

    def __init__(self) -> None:
        """Start with no listeners and zero counters."""
        self._messages: list[tuple[MessageListener, str | None]] = []
        self._notices: list[NoticeListener] = []
        self.sent = 0
        self.addressed = 0
        self.undelivered = 0

    def on_message(
        self, listener: MessageListener, viewer: str | None = None
    ) -> Callable[[], None]:
        """Call `listener(type, data)` for each message (see the module); returns an unsubscribe."""
        entry = (listener, viewer)
        self._messages.append(entry)
        return lambda: self._messages.remove(entry)

    def on_notice(self, listener: NoticeListener) -> Callable[[], None]:
        """Call `listener(code, text)` for each runtime notice; returns an unsubscribe."""
        self._notices.append(listener)
        return lambda: self._notices.remove(listener)

    def broadcast(self, type_name: str, data: dict[str, Any]) -> None:
        """Give a message to every listener."""
        self.sent += 1
        for listener, _ in list(self._messages):
            _call(listener, type_name, data)

    def to_viewer(self, viewer: str, type_name: str, data: dict[str, Any]) -> None:
        """Give a message to the listeners of `viewer` only; count it if there is none."""
        targets = [listener for listener, v in list(self._messages) if v == viewer]
        if not targets:
            self.undelivered += 1
            log.debug("message %r for viewer %s: nobody listens for that viewer", type_name, viewer)
            return
        self.addressed += 1
        for listener in targets:
            _call(listener, type_name, data)

    def notify(self, code: str, text: str) -> None:
        """Give a runtime notice to every notice listener."""
        for listener in list(self._notices):
            _call(listener, code, text)


def _call(listener: Callable[..., None], *args: Any) -> None:
    try:
        listener(*args)
    except Exception:
        log.exception("listener %r failed", listener)
