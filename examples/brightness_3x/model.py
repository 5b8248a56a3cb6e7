"""Brightness, 3.x style: a `ReactorPipeline` over a typed per-session state.

The same model as `examples/brightness`, written as the 3.x generation teaches:
`state: Adjust` makes `set_brightness` from the state's field, `camera: Camera`
binds the webcam (its reads return lists of frames), `inference()` yields one
output per step, `load()` takes the config file's `Path`, and the
manifest is the nested one (`runtime.import`, `runtime.config`, `model.name`).
"""

from pathlib import Path

import numpy as np
import yaml

from reactor_runtime import Input, InputField, InputState, Output, ReactorPipeline, Video


class Camera(Input):
    webcam: Video


class Picture(Output):
    main_video: Video


class Adjust(InputState):
    brightness: float = InputField(1.0, ge=0, le=3, description="gain")
    _steps: int = 0


def test_picture(height: int, width: int) -> np.ndarray:
    """Four mid-grey bands, dark to light: brightness changes show on every band."""
    levels = np.array([40, 80, 120, 160], np.uint8)
    bands = levels[np.arange(width) * len(levels) // width]
    return np.broadcast_to(bands[np.newaxis, :, np.newaxis], (height, width, 3)).copy()


def brighten(picture: np.ndarray, gain: float) -> np.ndarray:
    """`picture` (uint8 RGB) with every channel multiplied by `gain`, clipped to 0-255."""
    return np.clip(picture.astype(np.float32) * gain, 0, 255).astype(np.uint8)


class Brightness(ReactorPipeline):
    state: Adjust
    camera: Camera
    fps = 30

    def load(self, config_path: Path | None) -> None:
        config = yaml.safe_load(config_path.read_text()) if config_path else {}
        self.height, self.width = config.get("size", [240, 320])

    def inference(self):
        fallback = test_picture(self.height, self.width)
        while True:
            frames = self.camera.webcam.try_read()
            picture = fallback if frames is None else frames[-1].data
            self.state._steps += 1
            yield Picture(main_video=brighten(picture, self.state.brightness))
