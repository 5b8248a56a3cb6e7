"""A small A/V model for server tests: gray frames, a tone, one command, one message."""

import numpy as np

from reactor_runtime import (
    Audio,
    InputField,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    connected,
    disconnected,
    event,
)


class SampleOutput(Output):
    main_video: Video
    main_audio: Audio


class GrayChanged(ModelMessage):
    """Sent in reply to set_gray."""

    gray: int


class SampleModel(ReactorModel):
    fps = 30
    version = "1.2"

    def load(self, config: dict) -> None:
        self.gray = int(config.get("gray", 128))
        self.connects = 0
        self.disconnects = 0
        self.phase = 0

    @event(description="Set the gray level of the picture")
    async def set_gray(
        self, value: int = InputField(128, ge=0, le=255, description="gray level")
    ) -> GrayChanged:
        self.gray = value
        return GrayChanged(gray=value)

    @connected
    def count_connect(self) -> None:
        self.connects += 1

    @disconnected
    def count_disconnect(self) -> None:
        self.disconnects += 1

    async def run(self) -> None:
        samples = 48_000 // self.fps
        while True:
            await self.connected.wait()
            t = (self.phase + np.arange(samples)) / 48_000
            self.phase += samples
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[np.newaxis]
            frame = np.full((48, 64, 3), self.gray, np.uint8)
            await self.emit(SampleOutput(main_video=frame, main_audio=tone))
