"""reactor_runtime: turn a model's inference loop into a live, interactive A/V stream.

The authoring surface: subclass `ReactorModel`, declare tracks on an `Output`
(and optionally `Input`) dataclass, mark commands with `@event`, send
`ModelMessage`s, and `await self.emit(...)` from `run()`; or subclass
`ReactorPipeline`, declare `state: MyState` (an `InputState`) and yield outputs
from `inference()`; or subclass `ReactorApp` and write `generate()` (3.10). Names the 3.x
generation uses for the same things (`self.output` / `OutputStream`,
`BufferClosed`, `MediaInput`, ...) are the same objects.
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
from .logs import get_logger
from .media.input_buffer import (
    FIFO,
    LATEST,
    BufferClosed,
    InputBuffer,
    InputClosed,
    InputFrame,
    ReadMode,
)
from .media.output_buffer import OutputBuffer
from .messages import MessageField, ModelMessage
from .model import ReactorModel
from .pipeline import Idle, ReactorPipeline
from .reactor_app import ApplicationError, ReactorApp, StepCompleted, StepOutcome
from .state import InputState
from .tracks import Audio, Input, Metadata, Output, Track, TrackPayload, Video
from .uploads import UploadedFile

__version__ = "0.1.0"

MediaInput = Input
"""The 3.x name of `Input` (the same class)."""
OutputStream = OutputBuffer
"""The 3.x name of the class of `self.output` (the same class)."""
FieldInfo = InputField
"""The 3.x name of what `InputField(...)` makes (the same class)."""

__all__ = [
    "FIFO",
    "LATEST",
    "ApplicationError",
    "Audio",
    "BufferClosed",
    "ClientInfo",
    "CommandError",
    "FieldInfo",
    "Idle",
    "Input",
    "InputBuffer",
    "InputClosed",
    "InputField",
    "InputFrame",
    "InputState",
    "MediaInput",
    "MessageField",
    "Metadata",
    "ModelMessage",
    "Output",
    "OutputStream",
    "ReactorApp",
    "ReactorModel",
    "ReactorPipeline",
    "ReadMode",
    "StepCompleted",
    "StepOutcome",
    "Track",
    "TrackPayload",
    "UploadedFile",
    "Video",
    "__version__",
    "connected",
    "disconnected",
    "event",
    "file_uploaded",
    "get_logger",
    "get_weights_path",
    "session_ended",
    "session_started",
]
