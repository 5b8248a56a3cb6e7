"""A model written the 3.x way: nested manifest, `load(config_path)`, `self.output`, two Outputs."""

import time
from pathlib import Path

import numpy as np
import yaml

from reactor_runtime import (
    Audio,
    InputField,
    MessageField,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    event,
)

CHANNEL = {"red": 0, "green": 1, "blue": 2}


class Picture(Output):
    main_video: Video


class Beep(Output):
    main_audio: Audio


class ColorChanged(ModelMessage):
    """Sent to the caller when the tint changes."""

    name = "color_changed"
    color: str = MessageField(description="The new tint")


class Tints(ReactorModel):
    def load(self, config_path: Path | None) -> None:
        settings = yaml.safe_load(config_path.read_text()) if config_path else {}
        self.size = settings.get("size", 32)
        self.color = "red"
        self.beep = False

    @event(name="set_color", description="Change the tint")
    async def set_color(
        self, color: str = InputField("red", choices=["red", "green", "blue"])
    ) -> ColorChanged:
        self.color = color
        self.beep = True
        return ColorChanged(color=color)

    async def run(self) -> None:
        while True:
            await self.connected.wait()
            started = time.perf_counter()
            frame = np.zeros((self.size, self.size, 3), np.uint8)
            frame[..., CHANNEL[self.color]] = 200
            took = time.perf_counter() - started
            await self.output.emit(Picture(main_video=frame), compute_time=took)
            if self.beep:
                self.beep = False
                tone = np.sin(np.arange(1600) * 2 * np.pi * 1000 / 48_000) * 0.5
                await self.output.emit(Beep(main_audio=tone.astype(np.float32)))
