"""`ReactorModel`: the class a model author subclasses."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, ClassVar

from .media.input_buffer import Inputs
from .media.output_buffer import OutputBuffer
from .messages import ModelMessage
from .tracks import Input, Output, TrackSpec, merge_tracks

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
    _step_lock: asyncio.Lock
    """Held by every command handler and viewer hook while it runs."""
    _live: asyncio.Event
    """Set while the session is live and a viewer is connected."""

    def load(self, config: dict[str, Any]) -> None:
        """Load weights and state; `config` is the parsed `config.yml` (`{}` if none)."""

    def _session_begins(self) -> None:
        """Runtime hook: a session starts (under the step lock); set up per-session state."""

    def _session_ends(self) -> None:
        """Runtime hook: the session ended (under the step lock); drop per-session state."""

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


def declared_types(model_class: type[ReactorModel], base: type) -> list[type]:
    """The model's `Output` (or `Input`) classes.

    The class attribute (`output_type` / `input_type`: one class, or a tuple of
    them) if set, else every subclass of `base` defined in the model's module.
    """
    attr = "output_type" if base is Output else "input_type"
    explicit = getattr(model_class, attr, None)
    if explicit is not None:
        return list(explicit) if isinstance(explicit, tuple | list) else [explicit]
    module = sys.modules.get(model_class.__module__)
    if module is None:
        return []
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, base)
        and value is not base
        and value.__module__ == model_class.__module__
    ]


def declared_tracks(model_class: type[ReactorModel]) -> tuple[list[TrackSpec], list[TrackSpec]]:
    """The model's output and input tracks, each merged over its declaring classes.

    Raises:
        TypeError: a track name is declared twice with different kinds, or both
            as an output and as an input track.
    """
    outputs = merge_tracks(declared_types(model_class, Output))
    inputs = merge_tracks(declared_types(model_class, Input))
    both = sorted({t.name for t in outputs} & {t.name for t in inputs})
    if both:
        raise TypeError(
            f"{model_class.__name__}: track(s) {', '.join(both)} declared both as output and "
            f"as input; a track name has one direction"
        )
    return outputs, inputs
