"""Which generation a model is written against, and the input shapes each one reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reactor_runtime import Input, InputFrame, ModelMessage, Output, ReactorModel, Video
from reactor_runtime.generation import generation, input_holders
from reactor_runtime.pipeline import ReactorPipeline

from .sessions import running


class Camera(Input):
    webcam: Video


class Picture(Output):
    main_video: Video


class Got(ModelMessage):
    shape: str
    count: int


class SeedReader(ReactorModel):
    output_type = Picture
    input_type = Camera

    def load(self, config: dict) -> None:
        pass

    async def run(self) -> None:
        got = await self.input.webcam.read(timeout=5)
        await self.send(Got(type(got).__name__, 1 if isinstance(got, InputFrame) else len(got)))
        await self.connected.wait()
        await self.disconnected.wait()


class ThreeXReader(ReactorModel):
    output_type = Picture
    input_type = Camera
    camera: Camera

    def load(self, config_path: Path | None) -> None:
        pass

    async def run(self) -> None:
        got = await self.camera.webcam.read(timeout=5)
        await self.send(Got(type(got).__name__, len(got)))
        await self.disconnected.wait()


class Pipe(ReactorPipeline):
    output_type = Picture

    def load(self, config: dict) -> None:
        pass

    def inference(self):
        yield None


class PathLoader(ReactorModel):
    output_type = Picture

    def load(self, config_path=None) -> None:
        pass


def test_the_generation_follows_base_class_input_binding_and_load_signature():
    assert generation(SeedReader) == "seed"
    assert generation(ThreeXReader) == "3x"
    assert generation(Pipe) == "3x"
    assert generation(PathLoader) == "3x"
    assert input_holders(ThreeXReader) == ["camera"]
    assert input_holders(SeedReader) == []


async def reads(model_class: type[ReactorModel]) -> dict:
    async with running(model_class) as (session, rec):
        session.inputs.webcam.reset()
        session.push_input("webcam", InputFrame(np.zeros((2, 2, 3), np.uint8), 0.0))
        await rec.until(lambda: any(t == "got" for t, _ in rec.messages))
        return next(data for t, data in rec.messages if t == "got")


async def test_a_seed_model_reads_one_frame_where_a_3x_model_reads_a_list():
    assert await reads(SeedReader) == {"shape": "InputFrame", "count": 1}
    assert await reads(ThreeXReader) == {"shape": "list", "count": 1}


async def test_a_3x_input_holder_is_the_same_buffers_as_self_input():
    async with running(ThreeXReader, viewer=False) as (session, _):
        assert session.model.camera is session.model.input is session.inputs
        assert session.inputs.webcam.lists
