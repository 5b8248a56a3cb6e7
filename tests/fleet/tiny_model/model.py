"""A tiny CPU model for fleet tests: 64x64 frames at 10 fps and one command with a reply."""

import numpy as np

from reactor_runtime import InputField, ModelMessage, Output, ReactorModel, Video, event


class TinyOutput(Output):
    main_video: Video


class Pong(ModelMessage):
    """The reply to `ping`."""

    value: int


class TinyModel(ReactorModel):
    fps = 10
    output_type = TinyOutput

    def load(self, config: dict) -> None:
        self.shade = 0

    @event(description="Answer with the value sent")
    async def ping(self, value: int = InputField(0, description="echoed back")) -> Pong:
        return Pong(value=value)

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            self.shade = (self.shade + 8) % 256
            frame = np.full((64, 64, 3), self.shade, dtype=np.uint8)
            await self.emit(TinyOutput(main_video=frame))
