"""The small typed frames that flow from `emit()` to the sinks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..tracks import TRANSPORT_SAMPLE_RATE

CLOCK_RATE = TRANSPORT_SAMPLE_RATE
"""Ticks per second of the media clock: one tick is one 48 kHz audio sample."""


@dataclass(slots=True)
class Frame:
    """One step of playback as emitted.

    At most one picture per video track, and the audio (48 kHz int16
    `(channels, samples)`) that starts with it.

    `emit_seq` numbers the emit that produced the frame; `produced_at` is the
    monotonic time the emit was called, `queued_at` the time it entered the
    output buffer (0 before); both on `time.monotonic`, the pacer's clock.
    `metadata` holds the encoded metadata a `TrackPayload` gave a video track.
    """

    video: dict[str, np.ndarray]
    audio: dict[str, np.ndarray]
    emit_seq: int = 0
    produced_at: float = 0.0
    queued_at: float = 0.0
    metadata: dict[str, bytes] = field(default_factory=dict)

    def audio_samples(self) -> int:
        """The longest audio slice of this frame, in samples."""
        return max((a.shape[1] for a in self.audio.values()), default=0)


@dataclass(slots=True)
class PacedFrame:
    """A frame released by the pacer at its presentation time.

    `pts` and `duration` are in media-clock ticks (48 kHz samples). Every
    declared audio track has exactly `duration` samples here: the emitted
    slice, then silence. `gap` ticks of silence precede `pts` (an underrun or a
    pause with no viewer); sinks that need continuous audio fill them in.
    `metadata` is the frame's video metadata (see `Frame`).
    """

    index: int
    pts: int
    duration: int
    video: dict[str, np.ndarray]
    audio: dict[str, np.ndarray]
    gap: int = 0
    produced_at: float = 0.0
    released_at: float = 0.0
    silence: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, bytes] = field(default_factory=dict)

    @property
    def time(self) -> float:
        """The presentation time in seconds."""
        return self.pts / CLOCK_RATE
