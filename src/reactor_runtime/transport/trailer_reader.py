"""Reading frame-metadata trailers off one aiortc video receiver, before it decodes.

`TrailerReader.install` makes one receiver's completed frames lose their trailer (see
`frame_metadata`) before the decoder sees them (`rtp_receiver.filter_frames`, the one
place that bends aiortc's receiver); the trailer's metadata is kept by the frame's RTP
timestamp, which the decoded picture keeps as its `pts`, until the picture asks for
it (`take`).

Used on both ends of a connection that declared `a=x-reactor-frame-metadata:1`: the
runtime reading a client's tracks, and our client reading the runtime's.
Metadata that cannot be used (malformed, or over `max_trailer`) is dropped and
counted; its frame is still decoded when the trailer's length says where it ends.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from .frame_metadata import (
    MAX_TRAILER,
    FrameMetadata,
    FrameMetadataCounters,
    TrailerError,
    split_trailer,
)
from .rtp_receiver import filter_frames

log = logging.getLogger(__name__)

KEEP = 64
"""Trailers kept waiting for their decoded picture: ~2 s of 30 fps. A frame the
decoder drops (undecodable, skipped) leaves its entry behind until it ages out."""


class TrailerReader:
    """The trailers of one received video track, by RTP timestamp.

    Attributes:
        received: Frames that came with a trailer.
        dropped: Trailers whose metadata was dropped (malformed or too large).
    """

    def __init__(
        self,
        name: str,
        max_trailer: int = MAX_TRAILER,
        totals: FrameMetadataCounters | None = None,
    ) -> None:
        """Read the trailers of track `name`, refusing protobufs over `max_trailer` bytes.

        `totals`, if given, counts them too (the session's counters).
        """
        self.name = name
        self.totals = totals
        self.max_trailer = max_trailer
        self.received = 0
        self.dropped = 0
        self._pending: OrderedDict[int, FrameMetadata] = OrderedDict()

    def install(self, receiver: Any) -> None:
        """Strip trailers off `receiver`'s completed frames from now on.

        Raises:
            RuntimeError: This aiortc's receiver has no decoder queue where expected
                (`rtp_receiver.filter_frames`).
        """
        filter_frames(receiver, self.strip)

    def strip(self, data: bytes, timestamp: int) -> bytes:
        """The codec payload of one received frame; its metadata is kept for `take`."""
        try:
            payload, meta = split_trailer(data, self.max_trailer)
        except TrailerError as exc:
            self.dropped += 1
            if self.totals is not None:
                self.totals.trailers_dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "track %r: frame metadata dropped (%s); %d so far",
                    self.name,
                    exc,
                    self.dropped,
                )
            return data if exc.payload is None else exc.payload
        if meta is not None:
            self.received += 1
            if self.totals is not None:
                self.totals.trailers_received += 1
            self._pending[timestamp] = meta
            while len(self._pending) > KEEP:
                self._pending.popitem(last=False)
        return payload

    def take(self, pts: int | None) -> FrameMetadata | None:
        """The metadata of the frame decoded with `pts`, once; None if it had none."""
        if pts is None:
            return None
        return self._pending.pop(pts, None)

    def stats(self) -> dict[str, int]:
        """Counters of this track's trailers."""
        return {"received": self.received, "dropped": self.dropped}
