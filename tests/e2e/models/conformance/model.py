"""A model exercising everything a client must handle (official-client conformance tests).

- Output: `main_video` (a moving 320x240 pattern) and `main_audio` (a 440 Hz tone:
  the official Python SDK gives no audio callbacks for all-zero audio).
- Input: `webcam`; the model reads it every frame and reports what it saw in a
  `webcam_seen` message (first frame, then every 30th; counted per viewer) and in
  `/health` input stats.
- Commands: `echo(text)` returns an `echoed` reply (v0 clients receive it as an
  ordinary message), `shout(text)` broadcasts `shouted`, `fail()` raises a
  `CommandError`, `webcam_stats()` returns the input counters.
- Messages: `tick` once a second while a viewer is connected.
"""

import numpy as np

from reactor_runtime import (
    Audio,
    CommandError,
    Input,
    InputField,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    connected,
    event,
)

WIDTH, HEIGHT = 320, 240
RATE = 48_000


class ConformanceOutput(Output):
    main_video: Video
    main_audio: Audio


class ConformanceInput(Input):
    webcam: Video


class Echoed(ModelMessage):
    text: str


class Shouted(ModelMessage):
    text: str


class Tick(ModelMessage):
    frame: int


class WebcamSeen(ModelMessage):
    frames: int
    width: int
    height: int
    mean: float


class ConformanceModel(ReactorModel):
    fps = 30

    def load(self, config: dict) -> None:
        self.webcam_frames = 0
        self.webcam_shape = (0, 0)
        self.webcam_mean = 0.0
        y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
        self.base = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x ^ y) & 255], -1).astype(
            np.uint8
        )

    @connected
    def reset_webcam_counters(self) -> None:
        # Each viewer's webcam_seen reports count only that viewer's frames.
        self.webcam_frames = 0

    @event(description="Reply with the same text")
    async def echo(self, text: str = InputField("hello", max_length=200)) -> Echoed:
        return Echoed(text=text)

    @event(description="Broadcast the text to every viewer")
    async def shout(self, text: str = InputField("hello", max_length=200)) -> None:
        await self.send(Shouted(text=text))

    @event(description="Always fails")
    async def fail(self) -> None:
        raise CommandError("refused", "this command always fails")

    @event(description="Report the webcam frames read so far")
    async def webcam_stats(self) -> WebcamSeen:
        return self._seen()

    def _seen(self) -> WebcamSeen:
        height, width = self.webcam_shape
        return WebcamSeen(
            frames=self.webcam_frames, width=width, height=height, mean=self.webcam_mean
        )

    async def _read_webcam(self) -> None:
        if self.input.webcam.closed:
            return
        frame = self.input.webcam.try_read()
        if frame is None:
            return
        self.webcam_frames += 1
        self.webcam_shape = frame.data.shape[:2]
        self.webcam_mean = round(float(frame.data.mean()), 2)
        if self.webcam_frames % 30 == 1:
            await self.send(self._seen())

    async def run(self) -> None:
        n = 0
        samples = RATE // self.fps
        while True:
            await self.connected.wait()
            picture = np.roll(self.base, n * 4, axis=1)
            t = (n * samples + np.arange(samples)) / RATE
            tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[np.newaxis]
            await self._read_webcam()
            await self.emit(ConformanceOutput(main_video=picture, main_audio=tone))
            if n % self.fps == 0:
                await self.send(Tick(frame=n))
            n += 1
