"""reactor_runtime: turn a model's inference loop into a live, interactive A/V stream.

The authoring surface: subclass `ReactorModel`, declare tracks on an `Output`
(and optionally `Input`) dataclass, mark commands with `@event`, send
`ModelMessage`s, and `await self.emit(...)` from `run()`; or subclass
`ReactorPipeline`, declare `state: MyState` (an `InputState`) and yield outputs
from `inference()`. Names the 3.x
generation uses for the same things (`self.output`, `BufferClosed`,
`MessageField`, ...) are the same objects.
"""

from .clients import ClientInfo
from .config import get_weights_path
from .events import (
    CommandError,
    InputField,
    connected,
    disconnected,
    event,
    file_uploaded,
    session_ended,
    session_started,
)
from .media.input_buffer import (
    FIFO,
    LATEST,
    BufferClosed,
    InputBuffer,
    InputClosed,
    InputFrame,
    ReadMode,
)
from .messages import MessageField, ModelMessage
from .model import ReactorModel
from .pipeline import Idle, ReactorPipeline
from .state import InputState
from .tracks import Audio, Input, Metadata, Output, TrackPayload, Video
from .uploads import UploadedFile

__version__ = "0.1.0"

__all__ = [
    "FIFO",
    "LATEST",
    "Audio",
    "BufferClosed",
    "ClientInfo",
    "CommandError",
    "Idle",
    "Input",
    "InputBuffer",
    "InputClosed",
    "InputField",
    "InputFrame",
    "InputState",
    "MessageField",
    "Metadata",
    "ModelMessage",
    "Output",
    "ReactorModel",
    "ReactorPipeline",
    "ReadMode",
    "TrackPayload",
    "UploadedFile",
    "Video",
    "__version__",
    "connected",
    "disconnected",
    "event",
    "file_uploaded",
    "get_weights_path",
    "session_ended",
    "session_started",
]
