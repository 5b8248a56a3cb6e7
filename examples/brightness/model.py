"""Brightness, seed style: the viewer's webcam (or a test picture) made brighter or darker.

The same model as `examples/brightness_3x`, written with the API of the seed's
documentation: a `ReactorModel` whose `run()` emits while a viewer watches,
`load(config: dict)`, an `@event` handler and the flat `reactor.yaml`.
"""

from dataclasses import dataclass

import numpy as np

from reactor_runtime import Input, InputField, ModelMessage, Output, ReactorModel, Video, event


@dataclass
class Camera(Input):
    webcam: Video


@dataclass
class Picture(Output):
    main_video: Video


@dataclass
class BrightnessChanged(ModelMessage):
    brightness: float


def test_picture(height: int, width: int) -> np.ndarray:
    """Four mid-grey bands, dark to light: brightness changes show on every band."""
    levels = np.array([40, 80, 120, 160], np.uint8)
    bands = levels[np.arange(width) * len(levels) // width]
    return np.broadcast_to(bands[np.newaxis, :, np.newaxis], (height, width, 3)).copy()


def brighten(picture: np.ndarray, gain: float) -> np.ndarray:
    """`picture` (uint8 RGB) with every channel multiplied by `gain`, clipped to 0-255."""
    return np.clip(picture.astype(np.float32) * gain, 0, 255).astype(np.uint8)


class Brightness(ReactorModel):
    fps = 30

    def load(self, config: dict) -> None:
        self.height, self.width = config.get("size", [240, 320])
        self.brightness = float(config.get("brightness", 1.0))

    @event(name="set_brightness", description="Gain applied to the picture (1 keeps it)")
    async def set_brightness(
        self, brightness: float = InputField(1.0, ge=0, le=3, description="gain")
    ) -> BrightnessChanged:
        self.brightness = brightness
        return BrightnessChanged(brightness)

    async def run(self) -> None:
        fallback = test_picture(self.height, self.width)
        while True:
            await self.connected.wait()
            while self.connected.is_set():
                frame = self.input.webcam.try_read()
                picture = fallback if frame is None else frame.data
                await self.emit(Picture(main_video=brighten(picture, self.brightness)))
