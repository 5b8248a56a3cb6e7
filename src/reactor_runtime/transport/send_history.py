"""What was sent to one viewer, by transport-wide sequence number, for its feedback.

`SendHistory` records each packet as it leaves (`on_sent`: size, send time, probe
cluster) and turns each transport-cc feedback (`transport_feedback`) into
`PacketResult`s in sequence order, for the send-side estimate. It unwraps the 16-bit
sequence numbers and the 24-bit reference time, so arrivals stay monotonic across
the reference's wrap (~12 days), and counts every report it cannot use.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .transport_feedback import (
    REFERENCE_US,
    REFERENCE_WRAP,
    SEQ_WRAP,
    PacketResult,
    TransportFeedback,
    check_seq,
)

HISTORY_SECONDS = 2.0
"""Seconds a sent packet is kept for its feedback: feedback comes every 50-250 ms, plus
a round trip and a queue; a packet not reported by then never will be."""
HISTORY_MAX_PACKETS = 16_384
"""Sent packets kept at most (2 s at ~80 Mbit/s of 1200-byte packets), to bound memory;
at most 65536, so that a 16-bit sequence number names one packet kept."""


@dataclass(slots=True)
class _Sent:
    size: int
    sent_at: float
    probe: int | None
    received: bool | None = None


class SendHistory:
    """What was sent to one viewer, by transport-wide sequence number.

    Keeps each packet `seconds` of send time (`HISTORY_SECONDS`), at most
    `max_packets` (`HISTORY_MAX_PACKETS`). Counters: `reported` (results given),
    `lost` (of them, reported lost), `recovered` (reported lost, then received: both
    were given), `repeated` (reports of a packet already given as received, or lost
    again: skipped), `unknown` (sequence numbers never sent or already forgotten:
    skipped), `unreported` (packets forgotten before any feedback named them).
    """

    def __init__(
        self, seconds: float = HISTORY_SECONDS, max_packets: int = HISTORY_MAX_PACKETS
    ) -> None:
        """An empty history keeping `seconds` of sent packets, at most `max_packets`."""
        if not 1 <= max_packets <= SEQ_WRAP:
            raise ValueError(
                f"send history: max_packets {max_packets}, expected 1 to {SEQ_WRAP} "
                "(HISTORY_MAX_PACKETS: one packet per 16-bit sequence number)"
            )
        self.seconds, self.max_packets = seconds, max_packets
        self._sent: OrderedDict[int, _Sent] = OrderedDict()
        self._newest: int | None = None
        self._reference: tuple[int, int] | None = None
        self.reported = self.lost = self.recovered = 0
        self.repeated = self.unknown = self.unreported = 0

    def on_sent(self, seq: int, size: int, sent_at: float, probe: int | None = None) -> None:
        """Record packet `seq` (16 bits, from `TransportSequence`) of `size` bytes.

        Raises:
            ValueError: `seq` is out of range or does not follow the last one sent.
        """
        check_seq("seq", seq)
        if self._newest is None:
            self._newest = seq
        else:
            step = (seq - self._newest + SEQ_WRAP // 2) % SEQ_WRAP - SEQ_WRAP // 2
            if step <= 0:
                raise ValueError(
                    f"send history: transport sequence {seq} sent after "
                    f"{self._newest % SEQ_WRAP}, expected a later one"
                )
            self._newest += step
        self._sent[self._newest] = _Sent(size, sent_at, probe)
        while self._sent:
            oldest = next(iter(self._sent.values()))
            fresh = oldest.sent_at >= sent_at - self.seconds
            if fresh and len(self._sent) <= self.max_packets:
                break
            self._sent.popitem(last=False)
            self.unreported += oldest.received is None

    def on_feedback(self, feedback: TransportFeedback) -> list[PacketResult]:
        """The packets `feedback` reports, as results in sequence order."""
        offset_us = self._reference_offset(feedback.reference_us)
        results = []
        for seq, arrival in feedback.packets:
            sent = None
            if self._newest is not None:
                sent = self._sent.get(self._newest - (self._newest - seq) % SEQ_WRAP)
            if sent is None:
                self.unknown += 1
                continue
            if sent.received or (arrival is None and sent.received is False):
                self.repeated += 1
                continue
            if arrival is None:
                self.lost += 1
            elif sent.received is False:
                self.recovered += 1
            sent.received = arrival is not None
            arrived_at = None if arrival is None else (arrival + offset_us) / 1e6
            results.append(PacketResult(sent.sent_at, sent.size, arrived_at, sent.probe))
        self.reported += len(results)
        return results

    def stats(self) -> dict[str, int]:
        """The counters, and the packets kept now (`history`)."""
        counters = ("reported", "lost", "recovered", "repeated", "unknown", "unreported")
        return {name: getattr(self, name) for name in counters} | {"history": len(self._sent)}

    def _reference_offset(self, reference_us: int) -> int:
        """Microseconds to add to this feedback's arrivals for an unwrapped reference."""
        raw = (reference_us // REFERENCE_US) % REFERENCE_WRAP
        if self._reference is None:
            unwrapped = reference_us // REFERENCE_US
        else:
            last_raw, last = self._reference
            half = REFERENCE_WRAP // 2
            unwrapped = last + (raw - last_raw + half) % REFERENCE_WRAP - half
        self._reference = (raw, unwrapped)
        return unwrapped * REFERENCE_US - reference_us
