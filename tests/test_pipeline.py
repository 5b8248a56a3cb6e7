"""`ReactorPipeline`, `InputState`, `Idle`: a model written as a generator over typed state."""

import asyncio
import time

import numpy as np
import pytest
from sessions import running

from reactor_runtime import (
    Idle,
    InputField,
    InputState,
    ModelMessage,
    Output,
    ReactorPipeline,
    Video,
    event,
)
from reactor_runtime.events import CommandError, CommandSet


class Frames(Output):
    main_video: Video


class Look(InputState):
    brightness: int = InputField(100, ge=0, le=255, description="Gray level")
    prompt: str
    paused: bool = False
    _turns: int = 0


class Said(ModelMessage):
    text: str


def gray(level: int) -> np.ndarray:
    return np.full((8, 8, 3), level, np.uint8)


class Gray(ReactorPipeline):
    """Yields frames at the state's brightness; idles while paused."""

    output_type = Frames
    state: Look

    def load(self, config):
        self.generators = 0

    def inference(self):
        self.generators += 1
        while True:
            if self.state.paused:
                yield Idle
                continue
            self.state._turns += 1
            yield Frames(main_video=gray(self.state.brightness))

    @event(description="Pause, and say so")
    def set_paused(self, paused: bool) -> Said:
        self.state.paused = paused
        return Said("paused" if paused else "playing")


def levels(rec) -> list[int]:
    return [int(f.video["main_video"][0, 0, 0]) for f in rec.frames if f.video]


def test_public_state_fields_become_set_commands_and_a_written_event_wins():
    commands = CommandSet.of(Gray)

    assert sorted(commands.commands) == ["set_brightness", "set_paused", "set_prompt"]
    schema = commands.get("set_brightness").capability()["schema"]["brightness"]
    assert (schema["minimum"], schema["maximum"], schema["default"]) == (0, 255, 100)
    assert commands.get("set_brightness").description == "Gray level"
    with pytest.raises(CommandError, match="argument 'prompt' is required"):
        commands.get("set_prompt").validate({})
    assert commands.get("set_paused").method_name == "set_paused"


async def test_commands_change_the_state_between_yields_and_idle_skips_turns():
    async with running(Gray) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 2)
        assert await session.dispatch("set_brightness", {"brightness": 7}) is None
        await rec.until(lambda: levels(rec)[-1:] == [7])
        assert await session.dispatch("set_paused", {"paused": True}) == (
            "said",
            {"text": "paused"},
        )
        turns = session.model.state._turns
        await asyncio.sleep(0.1)
        assert session.model.state._turns == turns
        with pytest.raises(CommandError, match="brightness"):
            await session.dispatch("set_brightness", {"brightness": 300})


async def test_the_state_is_kept_across_a_reconnect_and_the_generator_restarts():
    async with running(Gray) as (session, rec):
        await session.dispatch("set_brightness", {"brightness": 9})
        await rec.until(lambda: levels(rec)[-1:] == [9])
        state = session.model.state
        await session.viewer_left("test-viewer")
        await session.viewer_joined("test-viewer")
        await rec.until(lambda: session.model.generators == 2)

        assert session.model.state is state and state.brightness == 9
    assert session.model.state is None


async def test_a_new_session_starts_from_the_defaults():
    async with running(Gray) as (session, _):
        await session.dispatch("set_brightness", {"brightness": 9})
    async with running(Gray) as (session, _):
        assert session.model.state.brightness == 100


class Steady(ReactorPipeline):
    """An async generator that awaits inside a turn and checks the state does not move."""

    output_type = Frames
    state: Look

    async def inference(self):
        self.torn = 0
        while True:
            before = self.state.brightness
            await asyncio.sleep(0.002)
            self.torn += self.state.brightness != before
            yield Frames(main_video=gray(before))


async def test_commands_never_land_inside_a_turn_of_an_async_generator():
    async with running(Steady) as (session, rec):
        for level in range(20):
            await session.dispatch("set_brightness", {"brightness": level})
        await rec.until(lambda: levels(rec)[-1:] == [19])

        assert session.model.torn == 0


class Brief(ReactorPipeline):
    """Two frames per generator; a generator that returns is started again."""

    output_type = Frames
    count = 0

    def inference(self):
        for _ in range(2):
            Brief.count += 1
            yield Frames(main_video=gray(Brief.count))


async def test_a_generator_that_returns_is_restarted():
    async with running(Brief) as (_, rec):
        await rec.until(lambda: len(rec.frames) >= 5)

    assert levels(rec)[:5] == [1, 2, 3, 4, 5]


class Wrong(ReactorPipeline):
    output_type = Frames

    def inference(self):
        yield np.zeros((8, 8, 3), np.uint8)


async def test_yielding_something_else_is_a_clear_type_error():
    async with running(Wrong) as (_, rec):
        await rec.until(lambda: rec.notices)

    assert rec.notices[0][0] == "model_error"
    assert (
        "Wrong.inference() yielded ndarray; yield an Output instance, Idle or None"
        in (rec.notices[0][1])
    )


class Slow(ReactorPipeline):
    """A blocking forward pass of 50 ms per frame, no fps declared."""

    output_type = Frames

    def inference(self):
        while True:
            time.sleep(0.05)
            yield Frames(main_video=gray(1))


async def test_playback_follows_the_generator_pace_when_no_fps_is_declared():
    async with running(Slow) as (_, rec):
        await rec.until(lambda: len(rec.frames) >= 5)

    assert np.median([f.duration for f in rec.frames[1:5]]) == pytest.approx(2400, rel=0.15)
