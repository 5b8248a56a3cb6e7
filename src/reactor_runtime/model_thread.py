"""`ModelThread`: the thread and event loop a model lives on, apart from the server's.

A model's `load()` and `run()` may block (a GPU forward pass, a `queue.get()`),
so they run on a daemon thread with a loop of its own; the caller's loop (the
server's) only hands coroutines over and awaits their results. Shutting down
cancels what runs there and gives up on code stuck in a blocking call after
`STOP_WAIT` seconds: the daemon thread then dies with the process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

STOP_WAIT = 2.0
"""Seconds `stop()` waits for the loop's tasks to cancel, then for the thread to end."""


class ModelThread:
    """A daemon thread running one event loop, fed coroutines from another loop."""

    def __init__(self, name: str) -> None:
        """Nothing runs until `start()`; the thread is named `name`."""
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """True while the loop accepts coroutines."""
        return self.loop is not None and not self.loop.is_closed()

    async def start(self, build: Callable[[], T]) -> T:
        """Start the thread, call `build()` on it (its loop current), and return the result.

        If `build` raises, the loop is closed and the exception is raised here.
        """
        built: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._main, args=(build, built), name=self.name, daemon=True
        )
        self._thread.start()
        return await asyncio.wrap_future(built)

    def _main(self, build: Callable[[], T], built: concurrent.futures.Future[T]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            result = build()
        except BaseException as exc:
            loop.close()
            built.set_exception(exc)
            return
        built.set_result(result)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the model loop without waiting for it."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run `coro` on the model loop; with `timeout`, stop waiting (not the coroutine).

        Returns:
            What `coro` returned, or None when `timeout` passed first.

        Raises:
            RuntimeError: the loop is not running (`coro` is closed unrun).
        """
        if not self.alive:
            coro.close()
            raise RuntimeError("the model is not running")
        future = asyncio.wrap_future(self.submit(coro))
        if timeout is None:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            log.warning("the model loop is busy; a viewer hook will run when run() next awaits")
            return None

    async def stop(self) -> None:
        """Cancel every task of the model loop, stop it and join the thread (bounded)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            done = asyncio.run_coroutine_threadsafe(_cancel_all_tasks(), loop)
            # A run() stuck in blocking code cannot see the cancellation; do not wait forever.
            await asyncio.wait([asyncio.wrap_future(done)], timeout=STOP_WAIT)
            loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_WAIT)


async def _cancel_all_tasks() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
