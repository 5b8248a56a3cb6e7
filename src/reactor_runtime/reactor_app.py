"""`ReactorApp`: a model written as three step hooks, as 3.10 teaches it.

An app is a `ReactorModel` whose `run()` is a step loop, so it runs on the same
session machinery as any model. Each turn, under the model's step lock (which
command handlers and hooks also take, so they land between turns):

1. `await process_input()` returns what the model gets (default: `self.state`),
   or raises `ApplicationError` to refuse the turn: nothing runs, the loop
   waits `REFUSED_PAUSE` and asks again;
2. `generate(input)` runs the model (synchronous; blocking work is fine, it is
   on the model thread); what it returns or raises becomes a `StepOutcome`;
3. `await process_output(outcome)` returns the `Output` to emit, a
   `StepCompleted` report carrying it, or None (default: re-raise the error,
   else the result if it is an `Output`).

Then, outside the lock, the output is emitted (declaring the turn's
`generate()` time as its `compute_time` unless the class sets `fps`) and the
step is reported with `complete_step()`. Steps run while a session is live
and a viewer is connected. Overriding `run()` replaces the loop; the hooks are
then not called.

Differences from 3.10: a raise out of `process_output()` is reported to
viewers and the loop is restarted (as for any `run()`), where 3.10 ends the
session; step reports are counted (`steps_completed`, `last_step`) but never
saved, and stepped sessions (one step per client request) are not served.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .media.input_buffer import InputClosed
from .stateful import StatefulModel, fps_pinned
from .tracks import Output

log = logging.getLogger(__name__)

REFUSED_PAUSE = 0.005
"""Seconds a refused turn waits before asking again, so a paused app does not spin a core."""


class ApplicationError(Exception):
    """Raise from `process_input()` to refuse a step: the model is not called, the loop asks again.

    Subclass it to tell reasons apart (`class WaitingForCamera(ApplicationError)`).
    """


@dataclass(frozen=True)
class StepOutcome:
    """What one `generate()` call did: its `result` or its `error`, and how long it took.

    Built by the runtime and given to `process_output()`; `elapsed` is in seconds.
    """

    result: Any = None
    error: Exception | None = None
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        if self.result is not None and self.error is not None:
            raise ValueError(
                f"StepOutcome: a result ({type(self.result).__name__}) or an error "
                f"({type(self.error).__name__}), never both"
            )

    def to_output(self) -> Output | None:
        """The result as media: the `Output` `generate()` returned, or None.

        Raises:
            Exception: the `error` this outcome holds.
            NotImplementedError: the result is neither an `Output` nor None; return one
                from `generate()`, or map the result in `process_output()`.
        """
        if self.error is not None:
            raise self.error
        if self.result is None or isinstance(self.result, Output):
            return self.result
        raise NotImplementedError(
            f"generate() returned {type(self.result).__name__}, not an Output: return an "
            f"Output from generate(), or override process_output() to build one from it"
        )


RESERVED_STEP_FILES = frozenset({"result.json", "output.mp4"})
"""Step file names the 3.x runtime writes itself, refused in `StepCompleted.files`."""


@dataclass(frozen=True)
class StepCompleted:
    """The report that one step is done: its `output`, extra `files`, `error`, `elapsed` (s).

    Raises:
        ValueError: a file name is empty, `.`/`..`, holds a path separator or is
            one of `RESERVED_STEP_FILES`.
        TypeError: a file's contents are not bytes.
    """

    output: Output | None = None
    files: Mapping[str, bytes] = field(default_factory=dict)
    error: str | None = None
    elapsed: float | None = None

    def __post_init__(self) -> None:
        for name, data in self.files.items():
            if not isinstance(name, str) or name in {"", ".", ".."} or {"/", "\\"} & set(name):
                raise ValueError(f"StepCompleted.files: {name!r} is not a plain file name")
            if name in RESERVED_STEP_FILES:
                raise ValueError(f"StepCompleted.files: {name!r} is reserved for the runtime")
            if not isinstance(data, bytes):
                raise TypeError(
                    f"StepCompleted.files[{name!r}]: expected bytes, got {type(data).__name__}"
                )
        object.__setattr__(self, "files", dict(self.files))


class ReactorApp(StatefulModel):
    """A model written as `process_input()`, `generate()` and `process_output()`.

    See the module docstring for the loop. `state: MyState` works as for
    `ReactorPipeline`: public fields become `set_<field>` commands and
    `self.state` is fresh per session.
    """

    steps_completed: int = 0
    """Steps reported with `complete_step()` since the model loaded."""
    last_step: StepCompleted | None = None
    """The last step reported."""

    async def process_input(self) -> Any:
        """What `generate()` gets this turn (default `self.state`).

        Raises:
            ApplicationError: to refuse the turn.
        """
        return self.state

    def generate(self, input: Any, /) -> Any:
        """Run one step of the model on `input`; override it."""
        raise NotImplementedError(
            f"{type(self).__name__} must define generate(), or override run() with its own loop"
        )

    async def process_output(self, outcome: StepOutcome, /) -> Output | StepCompleted | None:
        """What the turn emits (default: re-raise the outcome's error, else its `Output`)."""
        return outcome.to_output()

    async def complete_step(self, step: StepCompleted) -> None:
        """Report one finished step (the loop does it; a hand-written `run()` may)."""
        self.steps_completed += 1
        self.last_step = step

    async def run(self) -> None:
        """The step loop of the module docstring.

        Raises:
            TypeError: `process_output()` returned something other than an `Output`,
                a `StepCompleted` or None.
        """
        pinned = fps_pinned(type(self))
        while True:
            await self._live.wait()
            refused: str | None = None
            while self._live.is_set():
                try:
                    async with self._step_lock:
                        step = await self._turn()
                except ApplicationError as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    if reason != refused:
                        log.debug("step refused: %s", reason)
                        refused = reason
                    await asyncio.sleep(REFUSED_PAUSE)
                    continue
                except InputClosed:
                    break
                refused = None
                if step.output is not None:
                    await self.emit(step.output, compute_time=None if pinned else step.elapsed)
                await self.complete_step(step)
                await asyncio.sleep(0)

    async def _turn(self) -> StepCompleted:
        """One turn's three hooks (under the step lock); raises `ApplicationError` to refuse."""
        given = await _maybe_await(self.process_input())
        started = time.perf_counter()
        try:
            outcome = StepOutcome(result=self.generate(given))
        except Exception as exc:
            outcome = StepOutcome(error=exc)
        outcome = replace(outcome, elapsed=time.perf_counter() - started)
        returned = await _maybe_await(self.process_output(outcome))
        if isinstance(returned, StepCompleted):
            return (
                returned
                if returned.elapsed is not None
                else replace(returned, elapsed=outcome.elapsed)
            )
        if returned is None or isinstance(returned, Output):
            return StepCompleted(output=returned, elapsed=outcome.elapsed)
        raise TypeError(
            f"{type(self).__name__}.process_output() returned {type(returned).__name__}; "
            f"return an Output, a StepCompleted or None"
        )


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value
