"""Buffers of frames the viewer sends (webcam, mic), read by the model (`self.input.<track>`).

What a read returns depends on the model's generation (`generation.generation()`),
decided once per model class, never per call:

- seed style: `try_read()` / `read()` with `n == 1` return one `InputFrame`
  (`try_read`: or None); with `n > 1`, a list of `n` frames;
- 3.x style: a list of `n` frames whatever `n` (`try_read`: or None), as that
  generation's `InputBuffer` does.

An audio input declaring `buffer_seconds` (3.x) is bounded by samples, that
many seconds of audio at its declared `sample_rate`, and to one frame per
millisecond of it, instead of by `capacity` frames: the same length of audio
whatever frame size the sender uses.

Everything else is the same for both: LATEST / FIFO, the bound, the counters,
`TimeoutError` after `timeout` seconds (0 = do not wait), and `InputClosed`
(also named `BufferClosed`) once the track is closed and too few frames remain.
"""

from __future__ import annotations

import asyncio
import enum
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class ReadMode(enum.Enum):
    """How a read picks frames: oldest first, or the newest ones (skipping older).

    The values are the 3.x generation's (1 and 2), for models that store them.
    """

    FIFO = 1
    LATEST = 2


LATEST = ReadMode.LATEST
FIFO = ReadMode.FIFO

INPUT_CAPACITY = 8
"""Frames an input buffer holds before dropping the oldest (counted): about a quarter
second of 30 fps video, enough for a batch read, few enough that a reader that falls
behind is not handed stale pictures. 3.x holds 128; audio inputs that need more
declare `buffer_seconds`."""


class InputClosed(Exception):
    """The viewer's track ended (the viewer left); a waiting `read` wakes with this."""


BufferClosed = InputClosed
"""The 3.x name of `InputClosed` (the same class)."""


@dataclass(slots=True, eq=False)
class InputFrame:
    """One frame from a viewer: `InputFrame(data, pts, metadata, capture_time_us)`.

    The positional order is the 3.x generation's. `data` is video `(H, W, 3)`
    uint8 RGB or audio `(channels, n)` int16 at the track's declared
    `sample_rate` (48 kHz unless declared); `pts` is in seconds on the sender's
    clock. `metadata` is what the sender attached to the frame
    (opaque bytes) and `capture_time_us` the capture time it declared
    (microseconds on its own clock); both None when it sent none. `arrived_at`
    (keyword only) is when it arrived here, on `time.monotonic()`. Frames compare
    by identity: two frames with equal pixels are still two frames.
    """

    data: np.ndarray
    pts: float | None = None
    metadata: bytes | None = None
    capture_time_us: int | None = None
    arrived_at: float = field(default_factory=time.monotonic, kw_only=True)

    def __post_init__(self) -> None:
        if self.metadata is not None and not isinstance(self.metadata, bytes | bytearray):
            raise TypeError(
                f"InputFrame.metadata: expected bytes or None, got {type(self.metadata).__name__}"
                f" (the arrival time is the keyword `arrived_at=`)"
            )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class InputBuffer:
    """A bounded buffer of one input track.

    The transport pushes from the server's loop; the model reads from its own.
    When full, the oldest frame is dropped (counted in `dropped`); frames a
    LATEST read skips are counted in `skipped`. `reset()` runs when a viewer
    connects, `close()` when it leaves, waking blocked readers with `InputClosed`.
    With `lists` (a 3.x-style model) every read returns a list of frames.
    """

    def __init__(
        self,
        name: str,
        capacity: int = INPUT_CAPACITY,
        *,
        lists: bool = False,
        max_samples: int | None = None,
    ) -> None:
        """Create the buffer of track `name`, holding at most `capacity` frames.

        With `max_samples` it also holds at most that many audio samples (the
        newest frame is always kept).
        """
        self.name = name
        self.capacity = capacity
        self.lists = lists
        self.max_samples = max_samples
        self._samples = 0
        self._frames: deque[InputFrame] = deque()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = True
        self.received = 0
        self.dropped = 0
        self.skipped = 0

    @property
    def closed(self) -> bool:
        """True while no viewer sends this track."""
        return self._closed

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def available(self) -> int:
        """How many frames are buffered now."""
        return len(self._frames)

    @property
    def total_received(self) -> int:
        """Frames pushed since the buffer was created."""
        return self.received

    def clear(self) -> None:
        """Drop every buffered frame; the track stays open."""
        with self._lock:
            self._frames.clear()
            self._samples = 0

    def reset(self) -> None:
        """Empty the buffer and open it for a new sender."""
        with self._lock:
            self._frames.clear()
            self._samples = 0
            self._closed = False

    def close(self) -> None:
        """Close the buffer: blocked and later reads raise `InputClosed` once it is empty."""
        with self._lock:
            self._closed = True
            waiters, self._waiters = self._waiters, []
        self._wake(waiters)

    def push(self, frame: InputFrame) -> None:
        """Add one frame, dropping the oldest when full."""
        with self._lock:
            self._frames.append(frame)
            self._samples += _samples(frame)
            while len(self._frames) > 1 and self._over_bound():
                self._samples -= _samples(self._frames.popleft())
                self.dropped += 1
            self.received += 1
            waiters, self._waiters = self._waiters, []
        self._wake(waiters)

    def try_read(self, n: int = 1, mode: ReadMode = LATEST) -> Any:
        """Take frames without waiting.

        Returns:
            A list of `n` frames in time order, or None if fewer are buffered;
            for a seed-style model (`lists` False) and `n == 1`, the frame itself.
            LATEST takes the newest and discards older ones; FIFO takes the oldest.

        Raises:
            ValueError: `n` is not an int in [1, capacity].
            TypeError: `mode` is not a `ReadMode`.
        """
        if not isinstance(n, int) or not 1 <= n <= self.capacity:
            raise ValueError(
                f"input '{self.name}': n must be an int in [1, {self.capacity}], got {n!r}"
            )
        if not isinstance(mode, ReadMode):
            raise TypeError(f"input '{self.name}': mode must be LATEST or FIFO, got {mode!r}")
        with self._lock:
            if len(self._frames) < n:
                return None
            if mode is ReadMode.LATEST:
                self.skipped += len(self._frames) - n
                taken = list(self._frames)[-n:]
                self._frames.clear()
                self._samples = 0
            else:
                taken = [self._frames.popleft() for _ in range(n)]
                self._samples -= sum(_samples(f) for f in taken)
        return taken if self.lists or n > 1 else taken[0]

    async def read(self, n: int = 1, timeout: float | None = None, mode: ReadMode = LATEST) -> Any:
        """Wait until `n` frames are buffered and take them (as `try_read`).

        Raises:
            TimeoutError: `timeout` seconds passed first (0: none are buffered now).
            InputClosed: the track is closed and too few frames remain.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            got = self.try_read(n, mode)
            if got is not None:
                return got
            with self._lock:
                if self._closed:
                    raise InputClosed(f"input '{self.name}': no viewer is sending this track")
                if len(self._frames) >= n:
                    continue
                future: asyncio.Future[None] = loop.create_future()
                self._waiters.append((loop, future))
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"input '{self.name}': no frame within {timeout} s")
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                raise TimeoutError(f"input '{self.name}': no frame within {timeout} s") from None

    def _over_bound(self) -> bool:
        over_samples = self.max_samples is not None and self._samples > self.max_samples
        return over_samples or len(self._frames) > self.capacity

    def stats(self) -> dict[str, int]:
        """Counters: received, dropped (buffer full), skipped (LATEST reads)."""
        return {"received": self.received, "dropped": self.dropped, "skipped": self.skipped}

    @staticmethod
    def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)


def _samples(frame: InputFrame) -> int:
    return int(frame.data.shape[-1]) if frame.data.ndim == 2 else 0


def seconds_bound(seconds: float, rate: int = 48_000) -> tuple[int, int]:
    """`(capacity, max_samples)` of a buffer holding `seconds` of audio at `rate` Hz.

    Raises:
        ValueError: `seconds` is not a number > 0.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"buffer_seconds: expected a number of seconds > 0, got {seconds!r}")
    return math.ceil(seconds * 1000), math.ceil(seconds * rate)


class Inputs:
    """`self.input`: one `InputBuffer` per declared input track, as attributes."""

    def __init__(
        self,
        names: list[str],
        capacity: int = INPUT_CAPACITY,
        *,
        lists: bool = False,
        seconds: dict[str, float] | None = None,
        rates: dict[str, int] | None = None,
    ) -> None:
        """Create buffers for `names`.

        With `lists`, buffers that always read lists; `seconds` bounds the named
        (audio) tracks by seconds of audio (at their `rates`, default 48 kHz) instead
        of `capacity` frames.
        """
        self._buffers: dict[str, InputBuffer] = {}
        for name in names:
            frames, samples = capacity, None
            if seconds and name in seconds:
                frames, samples = seconds_bound(seconds[name], (rates or {}).get(name, 48_000))
            self._buffers[name] = InputBuffer(name, frames, lists=lists, max_samples=samples)

    @classmethod
    def of(cls, tracks: Iterable[Any], *, lists: bool = False) -> Inputs:
        """Buffers for declared input tracks (`.name`, `.type`), bounded as each declares."""
        tracks = list(tracks)
        seconds = {
            t.name: value
            for t in tracks
            if (value := getattr(t.type, "buffer_seconds", None)) is not None
        }
        rates = {t.name: rate for t in tracks if (rate := getattr(t.type, "sample_rate", None))}
        return cls([t.name for t in tracks], lists=lists, seconds=seconds, rates=rates)

    def __getattr__(self, name: str) -> InputBuffer:
        try:
            return self.__dict__["_buffers"][name]
        except KeyError:
            known = ", ".join(self.__dict__["_buffers"]) or "none"
            raise AttributeError(f"no input track '{name}' (declared: {known})") from None

    def __getitem__(self, name: str) -> InputBuffer:
        return getattr(self, name)

    def __iter__(self):
        return iter(self._buffers.values())
