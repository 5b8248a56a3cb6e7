"""Streaming resampling of a track's audio to the 48 kHz transport rate."""

from __future__ import annotations

import numpy as np
import soxr

from ..tracks import TRANSPORT_SAMPLE_RATE


class StreamResampler:
    """Resample int16 `(channels, samples)` blocks of one track to 48 kHz.

    soxr keeps filter state across calls, so consecutive blocks join without a
    click. The output lags the input by the filter delay (a few ms); `flush()`
    returns what is still held.
    """

    def __init__(self, in_rate: int, channels: int, out_rate: int = TRANSPORT_SAMPLE_RATE) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype="int16", quality="HQ")

    def process(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample one block; returns int16 `(channels, m)`."""
        out = self._stream.resample_chunk(np.ascontiguousarray(samples.T), last=last)
        return np.ascontiguousarray(out.reshape(-1, self.channels).T)

    def flush(self) -> np.ndarray:
        """Return the samples still inside the filter and start afresh."""
        empty = np.zeros((self.channels, 0), dtype=np.int16)
        out = self.process(empty, last=True)
        self._stream.clear()
        return out
