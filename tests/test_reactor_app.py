"""`ReactorApp`: the 3.10 step loop (process_input, generate, process_output) on our session."""

from __future__ import annotations

import numpy as np
import pytest

from reactor_runtime import (
    ApplicationError,
    InputField,
    InputState,
    Output,
    ReactorApp,
    StepCompleted,
    StepOutcome,
    Video,
)
from reactor_runtime.generation import generation

from .sessions import running


class Gray(Output):
    main_video: Video


class Knobs(InputState):
    level: int = InputField(10, ge=0, le=255)
    paused: bool = False


class Paused(ApplicationError):
    pass


class GrayApp(ReactorApp):
    output_type = Gray
    state: Knobs

    def load(self, config_path=None) -> None:
        self.refusals = 0

    async def process_input(self) -> int:
        if self.state.paused:
            self.refusals += 1
            raise Paused("paused by the viewer")
        return self.state.level

    def generate(self, level: int, /) -> Gray:
        return Gray(main_video=np.full((8, 8, 3), level, np.uint8))

    async def process_output(self, outcome: StepOutcome, /) -> StepCompleted:
        return StepCompleted(output=outcome.to_output(), files={"note.txt": b"ok"})


class Wrong(ReactorApp):
    output_type = Gray

    def generate(self, input, /):
        return "not media"


def level_of(rec) -> int:
    return int(rec.frames[-1].video["main_video"][0, 0, 0])


async def test_steps_emit_take_state_commands_between_turns_and_refusals_emit_nothing():
    assert generation(GrayApp) == "3x"
    async with running(GrayApp) as (session, rec):
        await rec.until(lambda: len(rec.frames) >= 3)
        assert level_of(rec) == 10
        await session.dispatch("set_level", {"level": 200})
        await rec.until(lambda: level_of(rec) == 200)
        await session.dispatch("set_paused", {"paused": True})
        await rec.until(lambda: session.model.refusals >= 3)
        steps = session.model.steps_completed
        await rec.until(lambda: session.model.refusals >= 10)
        assert session.model.steps_completed == steps
        assert session.model.last_step.files == {"note.txt": b"ok"}
        assert session.model.last_step.elapsed is not None


async def test_a_result_that_is_not_media_is_reported_to_viewers():
    async with running(Wrong) as (_, rec):
        await rec.until(lambda: any(code == "model_error" for code, _ in rec.notices))
        text = next(text for code, text in rec.notices if code == "model_error")
        assert "generate() returned str, not an Output" in text


def test_step_records_refuse_what_3x_refuses():
    with pytest.raises(ValueError, match=r"a result .* or an error"):
        StepOutcome(result=1, error=RuntimeError())
    with pytest.raises(ValueError, match=r"'output\.mp4' is reserved"):
        StepCompleted(files={"output.mp4": b""})
    with pytest.raises(TypeError, match=r"files\['a'\]: expected bytes, got str"):
        StepCompleted(files={"a": "text"})
