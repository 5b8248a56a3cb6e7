"""StarterModel: `run()` emits a picture and a tone while a viewer watches.

Replace the picture with your model's output and load your weights in `load()`.
`reactor run .` serves it; `reactor render . -o out.mp4` renders it offline.
"""

from dataclasses import dataclass

import numpy as np

from reactor_runtime import Audio, InputField, ModelMessage, Output, ReactorModel, Video, event

SAMPLE_RATE = 48_000


@dataclass
class StarterOutput(Output):
    """The tracks viewers get: each field is one."""

    main_video: Video  # (H, W, 3) uint8 RGB
    main_audio: Audio  # (1, samples) int16 at 48 kHz


@dataclass
class SpeedChanged(ModelMessage):
    """A message to viewers (here, the reply to `set_speed`)."""

    speed: float


def gradient(height: int, width: int, phase: float) -> np.ndarray:
    """A colour gradient sliding sideways by `phase` pixels."""
    row = ((np.arange(width) + phase) % 256).astype(np.uint8)
    picture = np.empty((height, width, 3), np.uint8)
    picture[..., 0], picture[..., 1], picture[..., 2] = row, row[::-1], 96
    return picture


class StarterModel(ReactorModel):
    """A sliding colour gradient and a tone; `set_speed` changes the pace."""

    fps = 30

    def load(self, config: dict) -> None:
        """Load weights here; `config` is config.yml, parsed."""
        self.height, self.width = config.get("size", [360, 640])
        self.speed = float(config.get("speed", 1.0))
        self.tone_hz = float(config.get("tone_hz", 440))

    @event(description="How fast the colours move")
    async def set_speed(self, speed: float = InputField(1.0, ge=0, le=10)) -> SpeedChanged:
        """A command: its arguments are checked against the InputField before it runs."""
        self.speed = speed
        return SpeedChanged(speed)  # the reply to the viewer who asked

    async def run(self) -> None:
        """Emit one frame and its audio per step while a viewer is connected."""
        samples = SAMPLE_RATE // self.fps
        phase, sent = 0.0, 0
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                t = (sent + np.arange(samples)) / SAMPLE_RATE
                tone = (1500 * np.sin(2 * np.pi * self.tone_hz * t)).astype(np.int16)
                picture = gradient(self.height, self.width, phase)
                await self.emit(StarterOutput(main_video=picture, main_audio=tone[np.newaxis]))
                phase += 4 * self.speed
                sent += samples
