"""`ReactorPipeline`: a model written as a generator, `inference()`, over a typed `InputState`.

A pipeline is a `ReactorModel` whose `run()` drives the generator, so it runs on
the same session machinery (thread, loop, buffer, pacer, commands) as any model.
The driver advances the generator one `yield` at a time while holding the
model's step lock, which every command handler and viewer hook also takes:
they land between two yields, never inside one, and `self.state` is stable
within a turn.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any, ClassVar

from .media.input_buffer import InputClosed
from .stateful import StatefulModel, fps_pinned
from .tracks import Output

log = logging.getLogger(__name__)

IDLE_PAUSE = 0.005
"""Seconds an idle turn (`Idle` or `None` yielded) waits, so commands land without a busy loop."""
RESTART_PAUSE = 0.005
"""Seconds before a generator that returned is started again (a guard against a hot loop)."""


class _IdleType:
    """The type of `Idle`: one shared, falsy instance."""

    _instance: ClassVar[_IdleType | None] = None

    def __new__(cls) -> _IdleType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Idle"

    def __bool__(self) -> bool:
        return False


Idle = _IdleType()
"""Yield this (or `None`) from `inference()` when there is nothing to show this turn."""


class ReactorPipeline(StatefulModel):
    """A model that yields its outputs from `inference()` instead of writing `run()`.

    Declare `state: MyState` (an `InputState` subclass) and a generator,
    `def inference(self)` or `async def inference(self)`, that reads
    `self.state` and yields an `Output` per step, or `Idle` / `None` to skip a
    turn. Public state fields become `set_<field>` commands.

    - `self.state` is per session: built fresh from its defaults when the
      session starts, kept while viewers come and go, `None` after it ends.
    - The generator runs while the session is live and a viewer is connected;
      a new one starts on each (re)connection, and again if it returns. Its
      `finally:` runs when the viewer leaves.
    - Unless the class sets `fps`, each emit declares the time the turn took
      as its `compute_time`, so playback follows the generator's pace (up to
      `fps`, 30 by default); with `fps` set, playback keeps that rate while the
      generator keeps up.
    - Yielding anything else raises `TypeError`; like any exception from
      `run()`, it is reported to viewers and the loop is restarted.
    """

    def inference(self) -> Any:
        """Yield `Output`s (or `Idle`); override as a sync or async generator."""
        raise NotImplementedError(f"{type(self).__name__}.inference() is not implemented")

    async def run(self) -> None:
        """Drive `inference()` while a viewer is connected; see the class docstring.

        Raises:
            TypeError: `inference()` is not a generator, or yielded something
                other than an `Output`, `Idle` or `None`.
        """
        pinned = fps_pinned(type(self))
        while True:
            await self._live.wait()
            generator = self._start()
            try:
                while self._live.is_set():
                    try:
                        async with self._step_lock:
                            started = time.perf_counter()
                            item = await _advance(generator)
                            took = time.perf_counter() - started
                    except InputClosed:
                        break
                    if item is _ENDED:
                        await _close(generator)
                        await asyncio.sleep(RESTART_PAUSE)
                        generator = self._start()
                        continue
                    if item is None or item is Idle:
                        await asyncio.sleep(IDLE_PAUSE)
                        continue
                    if not isinstance(item, Output):
                        raise TypeError(
                            f"{type(self).__name__}.inference() yielded {type(item).__name__}; "
                            f"yield an Output instance, Idle or None"
                        )
                    await self.emit(item, compute_time=None if pinned else took)
            finally:
                await _close(generator)

    def _start(self) -> Any:
        generator = self.inference()
        if not (inspect.isgenerator(generator) or inspect.isasyncgen(generator)):
            raise TypeError(
                f"{type(self).__name__}.inference() must be a generator (use yield), "
                f"got {type(generator).__name__}"
            )
        return generator


_ENDED = object()


async def _advance(generator: Any) -> Any:
    """The generator's next item, or `_ENDED` when it returned."""
    try:
        if inspect.isasyncgen(generator):
            return await generator.__anext__()
        return next(generator)
    except (StopIteration, StopAsyncIteration):
        return _ENDED


async def _close(generator: Any) -> None:
    try:
        if inspect.isasyncgen(generator):
            await generator.aclose()
        else:
            generator.close()
    except Exception:
        log.exception("inference() raised while closing")
