"""The pacer: releases buffered frames at their presentation times on one media clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from .frames import CLOCK_RATE, Frame, PacedFrame
from .output_buffer import OutputBuffer

log = logging.getLogger(__name__)

Sink = Callable[[PacedFrame], None]

LATE_TOLERANCE = 0.004
"""A frame released this late (seconds) is still on schedule; later is an underrun."""

PHASE_WINDOW = 1.0
"""Seconds of frames watched before the schedule may move earlier to meet them."""
UNDERRUN_WINDOW = 0.2
"""The same right after an underrun. A frame that came late moved the schedule as late
as it was; when the model's next frames come on its own grid again they all wait
that long, and a whole `PHASE_WINDOW` of it (a live model 15 ms late once: 17 ms more
on every frame for a second, a twentieth of a minute's frames)."""
PHASE_SLACK = 0.003
"""Seconds a self-paced model's frames are left waiting for their slot, for its jitter."""


class Pacer:
    """Take frames from an `OutputBuffer` and release them in real time to sinks.

    Presentation time `pts` (48 kHz ticks) maps to the monotonic clock as
    `origin + pts / 48000`, for audio and video alike. A frame lasts one
    playback interval: `1 / fps`, or the model's measured production interval
    when the model is slower (adaptive frame rate), and never less than its
    own audio, so audio is never cut or stretched. When the buffer runs dry the
    next frame is presented when it arrives and the gap is silence (counted).

    The schedule also moves earlier, to meet a model that paces itself (a live
    source, a file): every frame of the last `PHASE_WINDOW` (`UNDERRUN_WINDOW` after
    an underrun) waited for its slot, so the slot is moved to `PHASE_SLACK` after
    the earliest arrival (counted in `advances`). Without that the frames' wait
    would be whatever phase the first frame or the last underrun happened to leave
    (0 to 1 interval), or a backlog the model built while catching up, kept as
    latency for good. Nothing is dropped: the frame plays sooner and later
    timestamps stay contiguous. A model faster than `fps` is held by backpressure
    instead and is left alone.
    """

    def __init__(
        self,
        buffer: OutputBuffer,
        audio_channels: dict[str, int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Pace `buffer`; `audio_channels` maps each audio track to its channel count."""
        self.buffer = buffer
        self.audio_channels = audio_channels
        self.clock = clock
        self.sinks: list[Sink] = []
        self.origin: float | None = None
        self._end = 0
        self._index = 0
        self._window_start: float | None = None
        self._window_slack = 0.0
        self._window = PHASE_WINDOW

    def interval(self) -> float:
        """The current playback interval in seconds."""
        target = 1.0 / self.buffer.fps
        produced = self.buffer.production_interval
        return target if produced is None else max(target, produced)

    @property
    def current_fps(self) -> float:
        """Frames per second being played now."""
        return 1.0 / self.interval()

    async def run(self) -> None:
        """Release frames until cancelled."""
        while True:
            frame = await self.buffer.get()
            self._meet(frame)
            gap = await self._wait_for_slot()
            paced = self._pace(frame, gap)
            for sink in list(self.sinks):
                try:
                    sink(paced)
                except Exception:
                    log.exception("media sink %r failed; frame %d skipped there", sink, paced.index)

    def _meet(self, frame: Frame) -> None:
        """Move the schedule earlier if the frames of a self-paced model keep waiting."""
        if self.origin is None:
            return
        produced = self.buffer.production_interval
        if produced is None or produced < 0.9 / self.buffer.fps or not frame.queued_at:
            self._window_start = None
            return
        now = self.clock()
        due = self.origin + self._end / CLOCK_RATE
        slack = due - frame.queued_at
        if self._window_start is None:
            self._window_start, self._window_slack = now, slack
            return
        self._window_slack = min(self._window_slack, slack)
        if now - self._window_start < self._window:
            return
        self._window_start, self._window = None, PHASE_WINDOW
        advance = min(self._window_slack, due - now) - PHASE_SLACK
        if advance > 0.001:
            self.origin -= advance
            self.buffer.stats.advances += 1

    def reset(self) -> None:
        """Start a new timeline at the next frame (the last viewer left)."""
        self.origin = None
        self._end = 0
        self._window_start = None

    def pts_now(self) -> int:
        """The media time of the clock's present instant (0 before the first frame)."""
        if self.origin is None:
            return 0
        return round((self.clock() - self.origin) * CLOCK_RATE)

    async def _wait_for_slot(self) -> int:
        now = self.clock()
        if self.origin is None:
            self.origin = now
            return 0
        due = self.origin + self._end / CLOCK_RATE
        if now < due:
            await asyncio.sleep(due - now)
            return 0
        if now - due <= LATE_TOLERANCE:
            return 0
        self.buffer.stats.underruns += 1
        self._window_start, self._window = None, UNDERRUN_WINDOW
        return round((now - due) * CLOCK_RATE)

    def _pace(self, frame: Frame, gap: int) -> PacedFrame:
        own_audio = frame.audio_samples()
        if frame.video:
            duration = max(round(self.interval() * CLOCK_RATE), own_audio)
        else:
            duration = own_audio or round(self.interval() * CLOCK_RATE)
        audio: dict[str, np.ndarray] = {}
        silence: dict[str, int] = {}
        stats = self.buffer.stats
        for name, channels in self.audio_channels.items():
            samples = frame.audio.get(name)
            have = 0 if samples is None else samples.shape[1]
            if have == duration:
                audio[name] = samples  # type: ignore[assignment]
            else:
                padded = np.zeros((channels, duration), dtype=np.int16)
                if have:
                    padded[:, :have] = samples
                audio[name] = padded
            silence[name] = duration - have + gap
            stats.silence_samples += duration - have + gap
            stats.sent_audio_samples += have
        pts = self._end + gap
        paced = PacedFrame(
            index=self._index,
            pts=pts,
            duration=duration,
            video=frame.video,
            audio=audio,
            gap=gap,
            produced_at=frame.produced_at,
            released_at=self.clock(),
            silence=silence,
            metadata=frame.metadata,
        )
        self._end = pts + duration
        self._index += 1
        stats.sent_frames += 1
        if frame.metadata:
            stats.frame_metadata += 1
        return paced
