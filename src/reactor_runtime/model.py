"""`ReactorModel`: the class a model author subclasses."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, ClassVar

from .media.input_buffer import Inputs
from .media.output_buffer import OutputBuffer
from .messages import ModelMessage
from .tracks import Input, Output

if TYPE_CHECKING:
    from .media.emitter import Emitter


class ReactorModel:
    """Base class of a servable model.

    Implement `load(config)` (called once, on the model thread) and `async run()`
    (the inference loop, run on the model thread's own event loop and restarted
    if it raises). Inside `run()`:

    - `await self.connected.wait()` waits for a viewer; `self.connected` is set
      while at least one viewer is connected (`self.disconnected` is its inverse).
    - `await self.emit(MyOutput(...))` plays one step (or a batch) of media; it
      waits while `buffer_size` frames are queued, so the loop runs at playback
      speed.
    - `await self.send(MyMessage(...))` sends a message to every viewer.
    - `self.output_buffer` (also `self.output`, the same object) exposes `emit()`,
      `flush()`, `fps`, `buffer_size` and counters; `self.input.<track>` reads the
      viewer's webcam/mic when the model declares an `Input`.

    Class attributes: `fps` (target playback rate), `buffer_size` (queued frames
    before `emit` waits), and optionally `output_type` / `input_type` (the
    `Output` / `Input` dataclasses; found in the model's module when omitted).
    """

    fps: ClassVar[float] = 30
    buffer_size: ClassVar[int] = 3
    output_type: ClassVar[type[Output] | None] = None
    input_type: ClassVar[type[Input] | None] = None

    connected: asyncio.Event
    disconnected: asyncio.Event
    output_buffer: OutputBuffer
    input: Inputs
    _emitter: Emitter

    def load(self, config: dict[str, Any]) -> None:
        """Load weights and state; `config` is the parsed `config.yml` (`{}` if none)."""

    async def run(self) -> None:
        """The inference loop. Override it."""
        raise NotImplementedError(f"{type(self).__name__}.run() is not implemented")

    @property
    def output(self) -> OutputBuffer:
        """The model's output stream: the same object as `self.output_buffer`."""
        return self.output_buffer

    async def emit(
        self, output: Output, drop: bool = False, *, compute_time: float | None = None
    ) -> bool:
        """Queue one output (a frame, or a batch of N frames and their audio) for playback.

        Every track is validated first. With no viewer connected the output is
        discarded at once (counted). With `drop=True` frames that find the buffer
        full are dropped (counted) instead of waiting. `compute_time` (seconds
        spent producing this output) replaces the measured production time of
        this emit for the adaptive frame rate: playback slows to it when it is
        longer than `1 / fps`.

        Returns:
            True if every frame was queued.

        Raises:
            TypeError: `output` is not an `Output`, or a payload has the wrong dtype.
            ValueError: a payload has the wrong shape or channel count, or
                `compute_time` is not a number >= 0.
        """
        return await self._emitter.emit(output, drop, compute_time=compute_time)

    async def send(self, message: ModelMessage) -> None:
        """Send a `ModelMessage` to every connected viewer.

        Raises:
            TypeError: `message` is not a `ModelMessage`, or a field is not JSON-serialisable.
        """
        if not isinstance(message, ModelMessage):
            raise TypeError(
                f"send: expected a ModelMessage dataclass instance, got {type(message).__name__}"
            )
        self._emitter.send_message(message.wire_type(), message.to_data())
