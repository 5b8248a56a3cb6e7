"""The one place where aiortc's `RTCRtpReceiver` is bent: frames rewritten before decoding.

aiortc reassembles a video frame in its receiver's jitter buffer and puts it, as a
`JitterFrame` (payload, RTP timestamp counted from the track's first frame), on its
decoder thread's queue; the decoded picture keeps that timestamp as its `pts`. There
is no hook between the two, so `filter_frames` stands a wrapper in for that queue on
one receiver: every completed frame's payload passes through a function before the
decoder sees it (`trailer_reader.TrailerReader` strips frame-metadata trailers so).
Other receivers in the process keep aiortc's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .aiortc_private import require

AIORTC_PRIVATE = ("RTCRtpReceiver._RTCRtpReceiver__decoder_queue",)
"""The private names of aiortc this module reads or replaces (see `aiortc_private`)."""
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"

FrameFilter = Callable[[bytes, int], bytes]
"""`(payload, rtp_timestamp) -> payload`: what the decoder gets instead of `payload`."""


class _FilteringQueue:
    """Stands in for a receiver's decoder queue: filters each frame, then queues it."""

    def __init__(self, inner: Any, rewrite: FrameFilter) -> None:
        self._inner = inner
        self._rewrite = rewrite

    def put(self, item: Any) -> None:
        if item is not None:
            frame = item[1]
            frame.data = self._rewrite(frame.data, frame.timestamp)
        self._inner.put(item)

    def __getattr__(self, name: str) -> Any:
        # The decoder thread may hold either object: both read the one real queue.
        return getattr(self._inner, name)


def filter_frames(receiver: Any, rewrite: FrameFilter) -> None:
    """Pass each frame `receiver` completes from now on through `rewrite` before decoding.

    Raises:
        RuntimeError: This aiortc's receiver has no decoder queue where expected (the
            message names the attribute).
    """
    require(receiver, "RTCRtpReceiver", AIORTC_PRIVATE, "transport/rtp_receiver.py")
    queue = getattr(receiver, _DECODER_QUEUE)
    setattr(receiver, _DECODER_QUEUE, _FilteringQueue(queue, rewrite))
