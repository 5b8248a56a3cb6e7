"""The audio half of the hub's per-track work: paced samples to contiguous Opus packets.

`AudioPipeline` cuts a track's paced samples into 20 ms Opus packets on the loop
itself (0.1-0.3 ms each), so audio never waits behind a video encode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import av
import numpy as np

from .opus import OPUS_FRAME, OpusEncoder

MAX_SILENCE = 48_000
"""Longest run of silence sent in one go (ticks); a longer gap is a timestamp jump."""


class AudioPipeline:
    """One audio track: paced samples in, contiguous 20 ms Opus packets out (on the loop).

    Samples are kept on the hub timeline: a paced frame that starts later than the
    audio sent so far is preceded by silence, and silence is also sent in real time
    while the pacer has nothing, so the viewer's audio clock never stops.
    """

    def __init__(
        self, name: str, channels: int, deliver: Callable[[str, list[av.Packet]], None]
    ) -> None:
        """Prepare the pipeline of track `name` with `channels` channels."""
        self.name = name
        self.channels = channels
        self.deliver = deliver
        self.active = False
        self.packets = 0
        self.silence_samples = 0
        self.trimmed_samples = 0
        self._encoder: OpusEncoder | None = None
        self._chunks: list[np.ndarray] = []
        self._held = 0
        self._start: int | None = None

    @property
    def end(self) -> int | None:
        """Hub time (ticks) just after the last sample taken in, or None before any."""
        return None if self._start is None else self._start + self._held

    def set_active(self, active: bool) -> None:
        """Start or stop producing packets; a restart begins at the next paced frame."""
        if active != self.active:
            self.active = active
            self._restart(None)

    def push(self, samples: np.ndarray, pts: int) -> None:
        """Take `(channels, n)` int16 samples whose first one is at hub time `pts`."""
        if not self.active:
            return
        end = self.end
        if end is None:
            self._start = pts
        elif pts > end:
            self.fill_silence(pts)
        elif pts < end:
            # Real-time silence already covered the start of this slice.
            cut = min(end - pts, samples.shape[1])
            self.trimmed_samples += cut
            samples = samples[:, cut:]
        if samples.shape[1]:
            self._append(samples)

    def fill_silence(self, until: int) -> None:
        """Append silence up to hub time `until` (a long gap restarts the timeline)."""
        end = self.end
        if not self.active or end is None or until <= end:
            return
        missing = until - end
        if missing > MAX_SILENCE:
            self._restart(until)
            return
        self.silence_samples += missing
        self._append(np.zeros((self.channels, missing), dtype=np.int16))

    def _restart(self, start: int | None) -> None:
        # A fresh encoder too: Opus predicts from the previous stream, and its state
        # from before the gap decodes as a full-scale click on the new stream.
        self._chunks, self._held, self._start = [], 0, start
        self._encoder = None

    def _append(self, samples: np.ndarray) -> None:
        self._chunks.append(samples)
        self._held += samples.shape[1]
        if self._held < OPUS_FRAME:
            return
        held = np.concatenate(self._chunks, axis=1) if len(self._chunks) > 1 else self._chunks[0]
        whole = self._held - self._held % OPUS_FRAME
        if self._encoder is None:
            self._encoder = OpusEncoder(self.channels)
        assert self._start is not None
        packets: list[av.Packet] = []
        for offset in range(0, whole, OPUS_FRAME):
            packets += self._encoder.encode(held[:, offset : offset + OPUS_FRAME], self._start)
            self._start += OPUS_FRAME
        rest = held[:, whole:]
        self._chunks = [rest] if rest.shape[1] else []
        self._held = rest.shape[1]
        self.packets += len(packets)
        if packets:
            self.deliver(self.name, packets)

    def stats(self) -> dict[str, Any]:
        """Counters of this track."""
        return {
            "packets": self.packets,
            "silence_samples": self.silence_samples,
            "trimmed_samples": self.trimmed_samples,
        }
