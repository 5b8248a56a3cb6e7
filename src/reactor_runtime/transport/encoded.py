"""The encoded unit a viewer's track hands to its RTP sender.

The `MediaHub` encodes each video frame once per codec; every viewer of that codec
gets the same `EncodedVideo`, read-only. Besides the encoder's packet it carries what
the packetizer needs to describe the frame on the wire (its VP8 temporal layer) and
the model's per-frame metadata, which the packetizer may append to the payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import av


@dataclass(frozen=True, slots=True)
class EncodedVideo:
    """One encoded video frame as shared by every viewer of its codec.

    Attributes:
        packet: The encoder's packet (pts in 1/90000 s, `is_keyframe` set).
        temporal_id: VP8 temporal layer: 0 for the base layer (every keyframe), 1 for
            the enhancement layer a base-layer-only viewer skips. H.264 is always 0.
        metadata: The model's metadata for this frame, or None.
        low: Whether the frame is of its track's low stream (`low_stream`), sent only
            to the viewers on it, rather than of the main stream.
    """

    packet: av.Packet
    temporal_id: int = 0
    metadata: bytes | None = None
    low: bool = False

    @property
    def is_keyframe(self) -> bool:
        """Whether the frame decodes on its own."""
        return bool(self.packet.is_keyframe)

    @property
    def size(self) -> int:
        """Bytes of the encoded frame."""
        return self.packet.size
