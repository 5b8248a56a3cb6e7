import asyncio

import numpy as np
import pytest

from reactor_runtime.media.frames import Frame
from reactor_runtime.media.output_buffer import OutputBuffer


def frame(i: int = 0) -> Frame:
    return Frame(video={"v": np.full((2, 2, 3), i, np.uint8)}, audio={})


async def test_put_waits_while_the_buffer_holds_buffer_size_frames():
    buf = OutputBuffer(capacity=2)
    assert await buf.put(frame(0))
    assert await buf.put(frame(1))
    third = asyncio.create_task(buf.put(frame(2)))
    await asyncio.sleep(0.05)
    assert not third.done() and buf.depth == 2
    assert buf.get_nowait().video["v"][0, 0, 0] == 0
    assert await asyncio.wait_for(third, 1.0) is True
    assert [buf.get_nowait().video["v"][0, 0, 0] for _ in range(2)] == [1, 2]


async def test_drop_true_drops_instead_of_waiting_and_counts_it():
    buf = OutputBuffer(capacity=1)
    assert await buf.put(frame(), drop=True)
    assert await buf.put(frame(), drop=True) is False
    assert buf.stats.dropped_frames == 1 and buf.stats.emitted_frames == 1


async def test_flush_empties_the_buffer_and_frees_a_waiting_put():
    buf = OutputBuffer(capacity=1)
    await buf.put(frame(0))
    waiting = asyncio.create_task(buf.put(frame(1)))
    await asyncio.sleep(0.02)
    assert buf.flush() == 1
    assert await asyncio.wait_for(waiting, 1.0) is True
    assert buf.stats.flushed_frames == 1 and buf.depth == 1


async def test_get_waits_for_a_frame_put_from_another_thread():
    buf = OutputBuffer(capacity=2)
    getter = asyncio.create_task(buf.get())
    await asyncio.sleep(0.01)

    def producer() -> None:
        asyncio.run(buf.put(frame(7)))

    await asyncio.to_thread(producer)
    got = await asyncio.wait_for(getter, 1.0)
    assert got.video["v"][0, 0, 0] == 7


def test_fps_is_settable_and_checked():
    buf = OutputBuffer(fps=30)
    buf.fps = 12.5
    assert buf.fps == 12.5
    with pytest.raises(ValueError, match=r"output_buffer\.fps.*got -1"):
        buf.fps = -1


def test_buffer_size_below_one_is_refused():
    with pytest.raises(ValueError, match="buffer_size"):
        OutputBuffer(capacity=0)


def test_production_interval_follows_a_slower_model_but_not_one_missed_slot():
    buf = OutputBuffer()
    for _ in range(12):
        buf.note_production(started=0, frames=1, compute_time=1 / 30)
    assert buf.production_interval == pytest.approx(1 / 30)
    # One slot missed behind a busy CPU: the playback interval stays where it was.
    buf.note_production(started=0, frames=1, compute_time=2 / 30)
    assert buf.production_interval == pytest.approx(1 / 30)
    # A model that turned slower moves it once it is the median, and then all of it.
    for _ in range(5):
        buf.note_production(started=0, frames=1, compute_time=0.05)
    assert buf.production_interval > 0.04
    for _ in range(4):
        buf.note_production(started=0, frames=1, compute_time=0.05)
    assert buf.production_interval == pytest.approx(0.05)
    # Per frame: one emit of 3 frames in 0.1 s.
    buf.reset_production()
    buf.note_production(started=0, frames=3, compute_time=0.1)
    assert buf.production_interval == pytest.approx(0.1 / 3)


def test_a_model_on_a_steady_grid_measures_its_interval_whatever_its_jitter_and_puts():
    """Start to start, less the time waiting in put: no bias from alternating jitter."""
    now = [0.0]
    buf = OutputBuffer(clock=lambda: now[0])

    def emit(k: int, put_wait: float) -> float:
        started = k / 30 + (0.0012 if k % 2 else 0.0001)  # sleep overshoot alternates
        now[0] = started + 0.0008  # validation before the puts
        buf.note_production(started, frames=1)
        now[0] += put_wait
        buf.note_emit_end()
        return buf.production_interval or 0.0

    # The median alone reads this grid 1.1 ms slow half the time (34.4 ms): playback
    # would run slower than the model and its frames would queue.
    for k in range(10):
        emit(k, 0.0)
    assert max(emit(k, 0.0) for k in range(10, 40)) - 1 / 30 < 0.0002
    # Backpressure: every put now waits 10 ms for space, which is not production.
    for k in range(40, 60):
        interval = emit(k, 0.010)
    assert 1 / 30 - 0.012 < interval < 1 / 30 - 0.008
