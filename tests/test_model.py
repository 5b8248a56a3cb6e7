"""`ReactorModel` as both generations write it: `self.output`, `emit(compute_time=)`."""

import asyncio

import numpy as np
import pytest
from sessions import running

from reactor_runtime import Output, ReactorModel, Video
from reactor_runtime.media.output_buffer import OutputBuffer


class Frames(Output):
    main_video: Video


class ThroughOutput(ReactorModel):
    """Emits through `self.output`, declaring `compute_time` as its class says."""

    output_type = Frames
    buffer_size = 2
    compute_time: float | None = None
    pause = 0.0

    def load(self, config):
        self.same = self.output is self.output_buffer
        self.output.fps = 24

    async def run(self):
        await self.connected.wait()
        for i in range(6):
            await asyncio.sleep(self.pause)
            picture = np.full((8, 8, 3), i, np.uint8)
            await self.output.emit(Frames(main_video=picture), compute_time=self.compute_time)
        await asyncio.Event().wait()


async def test_self_output_is_the_output_buffer_and_carries_emit_fps_flush_and_size():
    async with running(ThroughOutput) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 6)
        model = session.model

        assert model.same and model.output is session.buffer
        assert isinstance(model.output, OutputBuffer)
        assert model.output.fps == session.buffer.fps == 24
        assert model.output.buffer_size == 2
        assert model.output.flush() == 0
        assert [int(f.video["main_video"][0, 0, 0]) for f in rec.frames] == list(range(6))


async def test_a_declared_compute_time_sets_the_playback_rate_of_a_fast_model():
    class Slow(ThroughOutput):
        compute_time = 0.1

    async with running(Slow) as (_, rec):
        await rec.until(lambda: len(rec.frames) >= 4)

    assert {f.duration for f in rec.frames[:4]} == {4800}


async def test_a_small_compute_time_keeps_a_model_that_also_waits_at_its_fps():
    class Waits(ThroughOutput):
        compute_time = 0.001
        pause = 0.08

    async with running(Waits) as (_, rec):
        await rec.until(lambda: len(rec.frames) >= 4)

    assert {f.duration for f in rec.frames[:4]} == {2000}


@pytest.mark.parametrize("bad", [-1, "0.1", float("nan"), True])
async def test_a_compute_time_that_is_not_seconds_is_refused_naming_it(bad):
    async with running(ThroughOutput) as (session, _):
        emit = session.model.output.emit(
            Frames(main_video=np.zeros((2, 2, 3), np.uint8)), compute_time=bad
        )
        with pytest.raises(ValueError, match=r"compute_time: expected .* got"):
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(emit, session.model_loop))


async def test_an_unbound_output_buffer_says_so_on_emit():
    with pytest.raises(RuntimeError, match="not bound to a running model"):
        await OutputBuffer().emit(Frames(main_video=np.zeros((2, 2, 3), np.uint8)))
