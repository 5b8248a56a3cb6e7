"""Helpers for driving a `Session` in tests: collect paced frames, wait on conditions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from reactor_runtime.media.frames import PacedFrame
from reactor_runtime.session import Session


class Recorder:
    """A sink and message listener that keeps everything it receives."""

    def __init__(self) -> None:
        self.frames: list[PacedFrame] = []
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.notices: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def frame(self, paced: PacedFrame) -> None:
        self.frames.append(paced)
        self._changed.set()

    def message(self, type_name: str, data: dict[str, Any]) -> None:
        self.messages.append((type_name, data))
        self._changed.set()

    def notice(self, code: str, text: str) -> None:
        self.notices.append((code, text))
        self._changed.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"condition not met within {timeout} s")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


@asynccontextmanager
async def running(model_class: type, config: dict | None = None, viewer: bool = True):
    session = Session(model_class, config)
    rec = Recorder()
    session.add_sink(rec.frame)
    session.on_message(rec.message)
    session.on_notice(rec.notice)
    await session.start()
    if viewer:
        await session.viewer_joined("test-viewer")
    try:
        yield session, rec
    finally:
        await session.stop()
