"""What `ReactorModel.emit` does: validate, resample, split, queue."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..tracks import (
    MAX_FRAME_METADATA,
    TRANSPORT_SAMPLE_RATE,
    Audio,
    Output,
    TrackPayload,
    TrackSpec,
    Video,
)
from .av_split import split_emit
from .output_buffer import OutputBuffer
from .resample import StreamResampler


class Emitter:
    """Turns a model's `Output` instances into frames in its `OutputBuffer`.

    `has_viewer` tells whether anyone watches (else outputs are discarded);
    `deliver_message` hands a model message to the session.
    """

    def __init__(
        self,
        tracks: list[TrackSpec],
        buffer: OutputBuffer,
        has_viewer: Callable[[], bool],
        deliver_message: Callable[[str, dict[str, Any]], None],
        max_frame_metadata: int = MAX_FRAME_METADATA,
    ) -> None:
        """Serve the declared output `tracks` into `buffer`.

        A video frame's metadata may be at most `max_frame_metadata` bytes once encoded.
        """
        self.max_frame_metadata = max_frame_metadata
        self.tracks = {t.name: t for t in tracks}
        self.buffer = buffer
        self.has_viewer = has_viewer
        self.deliver_message = deliver_message
        self.emits = 0
        self._resamplers: dict[str, StreamResampler] = {}
        buffer.bind(self.emit)

    def validate(
        self, output: Any
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[bytes]]]:
        """Check every track of `output`.

        Returns:
            Video `(N,H,W,3)` arrays, audio `(ch, S)` arrays, and the encoded
            metadata of the video tracks given as a `TrackPayload` (one per frame).

        Raises:
            TypeError, ValueError: naming the track, the expected and the actual value.
        """
        if not isinstance(output, Output):
            raise TypeError(
                f"emit: expected an instance of your Output dataclass, got {type(output).__name__}"
            )
        video: dict[str, np.ndarray] = {}
        audio: dict[str, np.ndarray] = {}
        metadata: dict[str, list[bytes]] = {}
        for field in dataclasses.fields(output):  # type: ignore[arg-type]
            payload = getattr(output, field.name)
            if payload is None:
                continue
            spec = self.tracks.get(field.name)
            if spec is None:
                declared = ", ".join(self.tracks) or "none"
                raise ValueError(
                    f"emit: track '{field.name}' of {type(output).__name__} is not a declared "
                    f"output track (declared: {declared})"
                )
            kind = spec.type
            wrapped = payload if isinstance(payload, TrackPayload) else None
            if wrapped is not None:
                payload = wrapped.data
            if issubclass(kind, Video):
                video[field.name] = kind.validate(field.name, payload)
            elif issubclass(kind, Audio):
                audio[field.name] = kind.validate(field.name, payload)
            if wrapped is not None:
                frames = video[field.name].shape[0] if field.name in video else 1
                encoded = wrapped.encode(field.name, kind, frames, self.max_frame_metadata)
                if encoded is not None:
                    metadata[field.name] = encoded
        sizes = {name: arr.shape[0] for name, arr in video.items()}
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"'{k}': N={v}" for k, v in sizes.items())
            raise ValueError(
                f"emit: video tracks of one emit must share the batch size, got {detail}"
            )
        return video, audio, metadata

    def _to_transport_rate(self, audio: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name, samples in audio.items():
            kind = self.tracks[name].type
            rate = kind.sample_rate  # type: ignore[attr-defined]
            if rate == TRANSPORT_SAMPLE_RATE:
                out[name] = samples
                continue
            resampler = self._resamplers.get(name)
            if resampler is None:
                resampler = StreamResampler(rate, samples.shape[0])
                self._resamplers[name] = resampler
            out[name] = resampler.process(samples)
        return out

    async def emit(
        self, output: Any, drop: bool = False, *, compute_time: float | None = None
    ) -> bool:
        """Validate `output` and queue its frames; see `ReactorModel.emit`."""
        started = time.monotonic()
        if compute_time is not None and (
            isinstance(compute_time, bool)
            or not isinstance(compute_time, int | float)
            or not 0 <= compute_time < math.inf
        ):
            raise ValueError(
                f"emit: compute_time: expected the seconds spent producing this output "
                f"(a number >= 0), got {compute_time!r}"
            )
        video, audio, metadata = self.validate(output)
        self.emits += 1
        # Always yield once: a run() loop whose only await is emit() must still let
        # command handlers and viewer hooks in, even when the buffer has room.
        await asyncio.sleep(0)
        if not self.has_viewer():
            self.buffer.count_discarded(max((a.shape[0] for a in video.values()), default=1))
            return False
        frames = split_emit(
            video,
            self._to_transport_rate(audio),
            emit_seq=self.emits,
            produced_at=started,
            metadata=metadata,
        )
        self.buffer.note_production(started, len(frames), compute_time)
        queued = True
        for frame in frames:
            queued = await self.buffer.put(frame, drop) and queued
        self.buffer.note_emit_end()
        return queued

    def reset(self) -> None:
        """Forget resampler state and production timing (no viewer is watching any more)."""
        self._resamplers.clear()
        self.buffer.reset_production()

    def send_message(self, type_name: str, data: dict[str, Any]) -> None:
        """Hand a validated model message to the session."""
        self.deliver_message(type_name, data)
