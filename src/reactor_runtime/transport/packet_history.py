"""The packets a video sender sent, kept by full sequence number for retransmission.

aiortc's sender keeps 128 packets keyed by `seq % 128`: ~150 ms at 8 Mbit/s, and one
keyframe fills it, so a NACK after one long round trip finds nothing.
`PacketHistory` takes its place (`rtp_sender.SenderBridge.install`) and keeps
`HISTORY_SECONDS` of packets, each under its own 16-bit sequence number, with when it
was sent (the resend budget needs it) and when it was last resent.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from aiortc.rtp import RtpPacket

HISTORY_SECONDS = 1.2
"""Seconds of sent packets kept for retransmission. A NACK comes back one round trip
plus the receiver's reordering wait after the loss; 1 s covers a 500 ms RTT path
with room, and libwebrtc keeps about as much."""
HISTORY_MAX_PACKETS = 4096
"""Hard bound on the packets one sender keeps: `HISTORY_SECONDS` at ~30 Mbit/s of
1200-byte packets, above the highest bit rate we send (20 Mbit/s); ~5 MB at most."""

RTP_HEADER_BYTES = 12
"""Bytes of a plain RTP header, counted with a held packet's payload for its size."""
_SEQ_MOD = 1 << 16


class PacketHistory:
    """Sent RTP packets of one sender, by full 16-bit sequence number, for `seconds`.

    aiortc's send loop stores each packet as `history[seq % 128] = packet`; the key is
    ignored here and the packet's own sequence number used instead.
    """

    def __init__(
        self,
        seconds: float = HISTORY_SECONDS,
        max_packets: int = HISTORY_MAX_PACKETS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Keep packets for `seconds`, and never more than `max_packets` of them."""
        if max_packets < 1 or max_packets >= _SEQ_MOD:
            raise ValueError(
                f"max_packets must be in 1..{_SEQ_MOD - 1} (16-bit sequence numbers), "
                f"got {max_packets}"
            )
        self.seconds = seconds
        self.max_packets = max_packets
        self.clock = clock
        self._packets: dict[int, tuple[float, RtpPacket]] = {}
        self._order: deque[tuple[float, int]] = deque()
        self._resent: dict[int, float] = {}

    def __setitem__(self, _key: int, packet: RtpPacket) -> None:
        """Keep `packet` (called by aiortc's send loop with its own key)."""
        now = self.clock()
        seq = packet.sequence_number
        self._packets[seq] = (now, packet)
        self._order.append((now, seq))
        self._expire(now)

    def __len__(self) -> int:
        """Packets held."""
        return len(self._packets)

    def get(self, seq: int) -> RtpPacket | None:
        """The packet sent with sequence number `seq` (wrapped at 65536), if still held."""
        entry = self.entry(seq)
        return None if entry is None else entry[1]

    def entry(self, seq: int) -> tuple[float, RtpPacket] | None:
        """(when it was sent, the packet) for sequence number `seq`, if still held."""
        entry = self._packets.get(seq % _SEQ_MOD)
        if entry is None or self.clock() - entry[0] > self.seconds:
            return None
        return entry

    def claim_resend(self, seq: int, interval: float) -> bool:
        """Whether packet `seq` may be resent now (not resent in the last `interval` s)."""
        now = self.clock()
        seq %= _SEQ_MOD
        last = self._resent.get(seq)
        if last is not None and now - last < interval:
            return False
        self._resent[seq] = now
        return True

    def recent(self, size: int) -> list[RtpPacket]:
        """The latest packets held, oldest first, about `size` bytes of them in all."""
        found: list[RtpPacket] = []
        total = 0
        for sent, seq in reversed(self._order):
            if total >= size:
                break
            entry = self._packets.get(seq)
            if entry is None or entry[0] != sent:
                continue
            found.append(entry[1])
            total += RTP_HEADER_BYTES + len(entry[1].payload)
        found.reverse()
        return found

    def _expire(self, now: float) -> None:
        order, packets = self._order, self._packets
        while order and (len(order) > self.max_packets or now - order[0][0] > self.seconds):
            sent, seq = order.popleft()
            entry = packets.get(seq)
            if entry is not None and entry[0] == sent:
                del packets[seq]
                self._resent.pop(seq, None)
