"""`ModelThread`: a model's own thread and loop, fed from the caller's loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from reactor_runtime.model_thread import ModelThread


async def test_build_and_calls_run_on_the_model_thread_and_stop_cancels_what_runs_there():
    host = ModelThread("model:test")
    assert await host.start(lambda: threading.current_thread().name) == "model:test"

    async def where() -> str:
        return threading.current_thread().name

    assert await host.call(where()) == "model:test"
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    host.submit(forever())
    assert await host.call(asyncio.sleep(1, "late"), timeout=0.05) is None
    await host.stop()
    assert cancelled.is_set() and not host.alive
    with pytest.raises(RuntimeError, match="the model is not running"):
        await host.call(where())


def broken_load() -> None:
    raise FileNotFoundError("weights.bin")


async def test_a_failing_build_raises_here_and_leaves_no_loop():
    host = ModelThread("model:broken")
    with pytest.raises(FileNotFoundError, match=r"weights\.bin"):
        await host.start(broken_load)
    assert not host.alive
