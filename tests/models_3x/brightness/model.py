"""A pipeline written the 3.x way: typed state, a generator, `set_level` made from the state."""

from pathlib import Path

import numpy as np
import yaml

from reactor_runtime import Idle, InputField, InputState, Output, ReactorPipeline, Video


class Picture(Output):
    main_video: Video


class Settings(InputState):
    level: int = InputField(40, ge=0, le=255, description="Gray level of the picture")
    paused: bool = False
    _frames: int = 0


class Brightness(ReactorPipeline):
    state: Settings

    def load(self, config_path: Path | None) -> None:
        self.size = yaml.safe_load(config_path.read_text())["size"] if config_path else 32

    def inference(self):
        while True:
            if self.state.paused:
                yield Idle
                continue
            self.state._frames += 1
            yield Picture(main_video=np.full((self.size, self.size, 3), self.state.level, np.uint8))
