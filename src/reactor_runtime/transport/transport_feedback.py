"""Transport-wide congestion control feedback (transport-cc): what each packet became.

(Being written: the RTCP parser, the sequence numbering and the send history land
here; `PacketResult` is the shared vocabulary of the send-side estimate.)
"""

from __future__ import annotations

from dataclasses import dataclass

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
"""The RTP header extension carrying each packet's transport-wide sequence number."""


@dataclass(frozen=True, slots=True)
class PacketResult:
    """One sent packet as the viewer's transport feedback reported it.

    Attributes:
        sent_at: When it left us (our monotonic clock, seconds).
        size: Its size on the wire (bytes of the RTP packet).
        arrived_at: When it reached the viewer (the viewer's clock, seconds; only
            differences between two arrivals mean anything), None if reported lost.
        probe: The probe cluster it belonged to, None for media and retransmissions.
    """

    sent_at: float
    size: int
    arrived_at: float | None
    probe: int | None = None
