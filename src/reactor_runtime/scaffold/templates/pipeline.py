"""StarterModel: a pipeline; `inference()` yields a picture per step from the session's state.

Each public field of `Controls` is a command (`set_speed`, `set_paused`) the viewer
sends; `_phase` is the model's own. Load your weights in `load()`.
`reactor run .` serves it; `reactor render . -o out.mp4` renders it offline.
"""

from pathlib import Path

import numpy as np
import yaml

from reactor_runtime import (
    Idle,
    InputField,
    InputState,
    ModelMessage,
    Output,
    ReactorPipeline,
    Video,
    event,
)


class StarterOutput(Output):
    """The tracks viewers get: each field is one."""

    main_video: Video  # (H, W, 3) uint8 RGB


class Rewound(ModelMessage):
    """A message to viewers (here, the reply to `rewind`)."""

    phase: float


class Controls(InputState):
    """The session's state: public fields are set by viewers, `_private` ones are yours."""

    speed: float = InputField(1.0, ge=0, le=10, description="How fast the colours move")
    paused: bool = False
    _phase: float = 0.0


def gradient(height: int, width: int, phase: float) -> np.ndarray:
    """A colour gradient sliding sideways by `phase` pixels."""
    row = ((np.arange(width) + phase) % 256).astype(np.uint8)
    picture = np.empty((height, width, 3), np.uint8)
    picture[..., 0], picture[..., 1], picture[..., 2] = row, row[::-1], 96
    return picture


class StarterModel(ReactorPipeline):
    """A sliding colour gradient; `set_speed`, `set_paused` and `rewind` steer it."""

    state: Controls

    def load(self, config_path: Path | None) -> None:
        """Load weights here; `config_path` is the file runtime.config names."""
        config = yaml.safe_load(config_path.read_text()) if config_path else {}
        self.height, self.width = config.get("size", [360, 640])

    @event(description="Slide the colours back to where they started")
    def rewind(self) -> Rewound:
        """A hand-written command; it runs between two steps of `inference()`."""
        self.state._phase = 0.0
        return Rewound(0.0)  # the reply to the viewer who asked

    def inference(self):
        """Yield one output per step (or `Idle` to skip one); restarted if it returns."""
        while True:
            if self.state.paused:
                yield Idle
                continue
            self.state._phase += 4 * self.state.speed
            yield StarterOutput(main_video=gradient(self.height, self.width, self.state._phase))
