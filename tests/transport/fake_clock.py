"""A clock tests move by hand: `clock.now += 0.5`, and code under test calls `clock()`."""

from __future__ import annotations


class Clock:
    """Monotonic seconds that only change when a test sets `now`."""

    def __init__(self, now: float = 100.0) -> None:
        """Start at `now` seconds."""
        self.now = now

    def __call__(self) -> float:
        """The current time (seconds)."""
        return self.now
