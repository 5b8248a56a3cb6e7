"""Streaming resampling of a track's audio to the 48 kHz transport rate."""

from __future__ import annotations

import numpy as np
import soxr

from ..tracks import TRANSPORT_SAMPLE_RATE


class StreamResampler:
    """Resample int16 `(channels, samples)` blocks of one track to 48 kHz.

    soxr keeps filter state across calls, so consecutive blocks join without a
    click. Each call returns exactly the samples its input is worth at the
    output rate (cumulatively rounded), so audio stays aligned with the video
    it was emitted with. That needs a resampler whose output does not come in
    bursts: soxr's higher qualities hold back up to ~20-40 ms and release it
    in blocks, which would put audio late or pad it with silence. Its quick
    cubic quality delays by a few samples and releases steadily; the few
    samples of initial delay are padded once, at the start of the stream.
    """

    def __init__(self, in_rate: int, channels: int, out_rate: int = TRANSPORT_SAMPLE_RATE) -> None:
        """Prepare a resampler from `in_rate` to `out_rate` for `channels` channels."""
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype="int16", quality="QQ")
        self._held = np.zeros((channels, 0), dtype=np.int16)
        self._in_total = 0
        self._out_total = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Resample one block; returns int16 `(channels, m)` with m the block's worth."""
        self._in_total += samples.shape[1]
        out = self._stream.resample_chunk(np.ascontiguousarray(samples.T))
        out = out.reshape(-1, self.channels).T
        if self._out_total == 0 and self._held.shape[1] == 0 and out.shape[1]:
            # The filter's initial delay: pad it once so the stream starts on time.
            due = self._due() - out.shape[1]
            if due > 0:
                out = np.concatenate([np.zeros((self.channels, due), np.int16), out], axis=1)
        held = np.concatenate([self._held, out], axis=1) if self._held.shape[1] else out
        take = min(self._due(), held.shape[1])
        self._held = held[:, take:]
        self._out_total += take
        return np.ascontiguousarray(held[:, :take])

    def _due(self) -> int:
        return self._in_total * self.out_rate // self.in_rate - self._out_total

    def flush(self) -> np.ndarray:
        """Return every sample still held (end of stream) and start afresh."""
        tail = self._stream.resample_chunk(np.zeros((0, self.channels), np.int16), last=True)
        out = np.concatenate([self._held, tail.reshape(-1, self.channels).T], axis=1)
        self._stream.clear()
        self._held = np.zeros((self.channels, 0), dtype=np.int16)
        self._in_total = self._out_total = 0
        return np.ascontiguousarray(out)
