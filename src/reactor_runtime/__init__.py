"""reactor_runtime: turn a model's inference loop into a live, interactive A/V stream.

The authoring surface: subclass `ReactorModel`, declare tracks on an `Output`
(and optionally `Input`) dataclass, mark commands with `@event`, send
`ModelMessage`s, and `await self.emit(...)` from `run()`.
"""

from .config import get_weights_path
from .events import CommandError, InputField, connected, disconnected, event
from .media.input_buffer import FIFO, LATEST, InputClosed, InputFrame, ReadMode
from .messages import ModelMessage
from .model import ReactorModel
from .tracks import Audio, Input, Output, Video

__version__ = "0.1.0"

__all__ = [
    "FIFO",
    "LATEST",
    "Audio",
    "CommandError",
    "Input",
    "InputClosed",
    "InputField",
    "InputFrame",
    "ModelMessage",
    "Output",
    "ReactorModel",
    "ReadMode",
    "Video",
    "__version__",
    "connected",
    "disconnected",
    "event",
    "get_weights_path",
]
