"""The bounded queue between the model thread and the pacer, with its counters."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from .frames import Frame

EmitFn = Callable[..., Awaitable[bool]]

PRODUCTION_WINDOW = 9
"""Emits whose per-frame production times the playback interval follows: a model that
turns slower starts to move it after 5 emits (once the median has moved) and has
moved it all after 9."""
PRODUCTION_OUTLIER = 0.5
"""A production time further than this share from the window's median is left out
of the mean (`OutputBuffer._typical_production`): a live model that missed a slot
behind a busy CPU (twice its interval), a GC pause. With them in, as in any plain
average, the outlier's excess went into the playback interval, and the frames behind
it waited that long in the pacer until its schedule was met again (one missed slot
of a 30 fps model held the next 60 frames 20-33 ms)."""


@dataclass
class BufferStats:
    """Counters of an output buffer; every frame that does not play is counted somewhere."""

    emitted_frames: int = 0
    sent_frames: int = 0
    dropped_frames: int = 0
    flushed_frames: int = 0
    discarded_frames: int = 0
    emitted_audio_samples: int = 0
    sent_audio_samples: int = 0
    silence_samples: int = 0
    underruns: int = 0
    advances: int = 0
    frame_metadata: int = 0
    """Frames played with the model's metadata (sent on: `transport.frame_metadata`)."""

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class OutputBuffer:
    """Frames emitted by the model, waiting for the pacer (`self.output_buffer`, `self.output`).

    The model side (`put`) runs on the model's loop, the pacer side (`get`) on the
    server's loop; wake-ups cross threads with `call_soon_threadsafe`. `put`
    waits while `capacity` frames are queued, so the model runs at playback
    speed; with `drop=True` it drops the frame instead (counted).

    The model's handle on its output stream is this object under both names:
    `emit()`, `fps`, `flush()` and `buffer_size` are all here.
    """

    def __init__(
        self, capacity: int = 3, fps: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Create a buffer holding at most `capacity` frames, played at `fps`.

        `clock` (monotonic seconds) times the model's production.
        """
        if capacity < 1:
            raise ValueError(f"buffer_size: expected an int >= 1, got {capacity!r}")
        self.capacity = capacity
        self._fps = float(fps)
        self._frames: deque[Frame] = deque()
        self._lock = threading.Lock()
        self._space_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._frame_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.stats = BufferStats()
        self.production_interval: float | None = None
        self._production: deque[float] = deque(maxlen=PRODUCTION_WINDOW)
        self._last_emit_start: float | None = None
        self._puts_started: float | None = None
        self._last_put_wait = 0.0
        self.clock = clock
        self._emit: EmitFn | None = None

    def bind(self, emit: EmitFn) -> None:
        """Route `emit()` to the running model's emitter (done by the session)."""
        self._emit = emit

    async def emit(
        self, output: Any, *, compute_time: float | None = None, drop: bool = False
    ) -> bool:
        """Queue one output for playback; the same as `ReactorModel.emit`.

        Raises:
            RuntimeError: the buffer belongs to no running model.
        """
        if self._emit is None:
            raise RuntimeError("output.emit: this output buffer is not bound to a running model")
        return await self._emit(output, drop, compute_time=compute_time)

    @property
    def buffer_size(self) -> int:
        """Frames queued before `emit` waits (the model's `buffer_size`)."""
        return self.capacity

    @property
    def fps(self) -> float:
        """Target playback rate in frames per second; settable at run time."""
        return self._fps

    @fps.setter
    def fps(self, value: float) -> None:
        if not isinstance(value, int | float) or not 0 < value <= 240:
            raise ValueError(f"output_buffer.fps: expected a number in (0, 240], got {value!r}")
        self._fps = float(value)

    @property
    def depth(self) -> int:
        """Frames queued now."""
        return len(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def flush(self) -> int:
        """Drop every queued frame (counted) and free an `emit` waiting for space.

        Returns:
            The number of frames dropped.
        """
        with self._lock:
            dropped = len(self._frames)
            self._frames.clear()
            self.stats.flushed_frames += dropped
            waiters, self._space_waiters = self._space_waiters, []
        self._wake(waiters)
        return dropped

    def note_production(
        self, started: float, frames: int, compute_time: float | None = None
    ) -> None:
        """Record how long the model took to make the `frames` of the emit begun at `started`.

        `started` is in monotonic seconds; the emit's puts follow this call. The
        measure runs from the start of the previous emit to the start of this one,
        less the time the previous emit waited in `put`, so backpressure never reads
        as slow production, and the emit's own work counts: a model on a steady grid
        measures its grid's interval, neither more nor less. A `compute_time` the
        model declared for this emit (seconds for all `frames`) stands in for the
        measurement: a model that also waits on something else (a camera, a
        command) is not read as slow. `production_interval` follows the last
        `PRODUCTION_WINDOW` emits' times, those far from their median left out
        (`PRODUCTION_OUTLIER`, `_typical_production`).
        """
        if frames <= 0:
            return
        per_frame = None
        if compute_time is not None:
            per_frame = compute_time / frames
        elif self._last_emit_start is not None:
            busy = started - self._last_emit_start - self._last_put_wait
            per_frame = max(0.0, busy) / frames
        self._last_emit_start = started
        self._puts_started = self.clock()
        if per_frame is not None:
            self._production.append(per_frame)
            self.production_interval = self._typical_production()

    def _typical_production(self) -> float:
        """The lower of the window's median and the mean of its inliers.

        Each alone sits above a steady model's true interval about half the time (the
        median on the high side of jitter that alternates, the mean on the noise of
        9 samples), and any excess over the target rate slows playback: the pacer's
        wait then creeps up by it every frame until the schedule is met again
        (measured: 1.5-2 ms more, p50, at 720p30). A model that really is slower
        moves both.
        """
        median = statistics.median(self._production)
        band = PRODUCTION_OUTLIER * median
        kept = [t for t in self._production if abs(t - median) <= band]
        return min(median, statistics.fmean(kept)) if kept else median

    def note_emit_end(self) -> None:
        """Mark the end of an emit's puts: their time is not the model's production."""
        if self._puts_started is not None:
            self._last_put_wait = self.clock() - self._puts_started

    def reset_production(self) -> None:
        """Forget the measured production rate (a new viewer, a restarted model)."""
        self.production_interval = None
        self._production.clear()
        self._last_emit_start = self._puts_started = None
        self._last_put_wait = 0.0

    async def put(self, frame: Frame, drop: bool = False) -> bool:
        """Queue one frame, waiting for space unless `drop` is set.

        Returns:
            True if queued, False if dropped because the buffer was full.
        """
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if len(self._frames) < self.capacity:
                    frame.queued_at = time.monotonic()
                    self._frames.append(frame)
                    self.stats.emitted_frames += 1
                    self.stats.emitted_audio_samples += frame.audio_samples()
                    waiters, self._frame_waiters = self._frame_waiters, []
                    break
                if drop:
                    self.stats.dropped_frames += 1
                    return False
                future: asyncio.Future[None] = loop.create_future()
                self._space_waiters.append((loop, future))
            await future
        self._wake(waiters)
        return True

    def get_nowait(self) -> Frame | None:
        """Take the oldest frame, or None if the buffer is empty."""
        with self._lock:
            if not self._frames:
                return None
            frame = self._frames.popleft()
            waiters, self._space_waiters = self._space_waiters, []
        self._wake(waiters)
        return frame

    async def get(self) -> Frame:
        """Wait for and take the oldest frame."""
        loop = asyncio.get_running_loop()
        while True:
            frame = self.get_nowait()
            if frame is not None:
                return frame
            with self._lock:
                if self._frames:
                    continue
                future: asyncio.Future[None] = loop.create_future()
                self._frame_waiters.append((loop, future))
            await future

    def count_discarded(self, frames: int) -> None:
        """Count frames discarded because no viewer was connected."""
        with self._lock:
            self.stats.discarded_frames += frames

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)
