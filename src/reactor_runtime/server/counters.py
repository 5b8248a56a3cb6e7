"""Counters the runtime keeps beside the session's own: commands, refusals, reaped peers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..events import CommandError
from ..session import Session


class CommandCounter:
    """Counts the commands a session dispatches, and their failures by error code.

    The session keeps no command counters of its own, so the session's `dispatch`
    is wrapped on the instance: every transport that dispatches through it is
    counted, whatever its wire protocol.
    """

    def __init__(self, session: Session) -> None:
        """Wrap `session.dispatch`."""
        self.total = 0
        self.errors: Counter[str] = Counter()
        original = session.dispatch

        async def dispatch(name: Any, args: Any, viewer: str | None = None, **more: Any) -> Any:
            self.total += 1
            try:
                return await original(name, args, viewer, **more)
            except CommandError as exc:
                self.errors[exc.code] += 1
                raise
            except Exception:
                self.errors["internal_error"] += 1
                raise

        session.dispatch = dispatch  # type: ignore[method-assign]

    def as_dict(self) -> dict[str, Any]:
        """`{"total": n, "errors": {code: n}}`."""
        return {"total": self.total, "errors": dict(self.errors)}


class LimitCounter:
    """What the runtime's limits refused and reaped, by the limit's name and by reason."""

    def __init__(self) -> None:
        """All counts start at zero."""
        self.refused: Counter[str] = Counter()
        self.reaped: Counter[str] = Counter()

    def as_dict(self) -> dict[str, Any]:
        """`{"refused": {limit: n}, "reaped": {reason: n}}`."""
        return {"refused": dict(self.refused), "reaped": dict(self.reaped)}
