"""Transport-wide congestion control feedback (transport-cc): what each packet became.

A libwebrtc viewer (Chromium, both official SDKs) that was answered the transport-cc
header extension stops sending REMB, its own guess at our rate, and reports instead
when each of our packets arrived (RTCP RTPFB, PT 205, FMT 15;
draft-holmer-rmcat-transport-wide-cc-extensions-01), every 50-250 ms. The estimate
then lives with us, the sender, which knows what it sent, when, and which packets
were probes. This module is the wire part of that, pure bytes and no clock of its own:

- `TransportSequence` numbers every packet sent to one viewer (16 bits, one counter
  across its tracks) and encodes the header extension's value;
- `feedback_packets` picks the transport-cc packets out of a compound RTCP datagram,
  `parse_feedback` reads one (`build_feedback` writes one: any valid chunk choice
  round-trips);
- `SendHistory` keeps what was sent by sequence number and turns each feedback into
  `PacketResult`s in sequence order, for the send-side estimate.

Malformed feedback raises `ValueError` naming the field, the expected and the actual
value, and nothing is read out of bounds. Arrival times are on the viewer's clock:
the 24-bit reference time (64 ms units) plus cumulative 250 us deltas, unwrapped by
`SendHistory` so they stay monotonic across the reference's wrap (~12 days).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
"""The RTP header extension carrying each packet's transport-wide sequence number."""

RTPFB = 205
"""RTCP packet type of transport-layer feedback (RFC 4585)."""
TRANSPORT_CC_FMT = 15
"""Feedback message type of transport-cc within RTPFB."""
HEADER_SIZE = 20
"""Bytes before the first packet chunk: common header, two SSRCs, base, count, reference."""
DELTA_US = 250
"""Microseconds per receive-delta tick."""
REFERENCE_US = 64_000
"""Microseconds per reference-time tick."""
REFERENCE_WRAP = 1 << 24
"""The reference time is 24 bits: it wraps every 2^24 x 64 ms, about 12.4 days."""
SEQ_WRAP = 1 << 16
"""Transport-wide sequence numbers are 16 bits."""
MAX_RUN = 0x1FFF
"""Longest run one run-length chunk holds (13 bits)."""
ALIGNMENT_SLACK = 3
"""Bytes tolerated after the receive deltas: older libwebrtc aligns with zeros, no P bit."""
HISTORY_SECONDS = 2.0
"""Seconds a sent packet is kept for its feedback: feedback comes every 50-250 ms, plus
a round trip and a queue; a packet not reported by then never will be."""
HISTORY_MAX_PACKETS = 16_384
"""Sent packets kept at most (2 s at ~80 Mbit/s of 1200-byte packets), to bound memory;
at most 65536, so that a 16-bit sequence number names one packet kept."""

_LOST, _SMALL, _LARGE = 0, 1, 2


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


@dataclass(slots=True)
class TransportFeedback:
    """One transport-cc feedback packet, read.

    Attributes:
        sender_ssrc: SSRC of the viewer sending the feedback.
        media_ssrc: The media SSRC it names (libwebrtc: one of ours, or 0/1).
        base_seq: Transport-wide sequence number of its first packet.
        feedback_count: The viewer's 8-bit feedback packet counter.
        reference_us: Its reference time in microseconds (signed, 64 ms steps).
        packets: (16-bit sequence number, arrival in microseconds on the viewer's
            clock or None if not received), from `base_seq` on.
    """

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    feedback_count: int
    reference_us: int
    packets: list[tuple[int, int | None]] = field(default_factory=list)


class TransportSequence:
    """The transport-wide sequence counter of one viewer: one number per packet sent."""

    def __init__(self, start: int = 0) -> None:
        """Count from `start` (0 to 65535)."""
        self._next = _check_seq("start", start)

    def peek(self) -> int:
        """The number the next packet will get (not taken yet)."""
        return self._next

    def next(self) -> int:
        """The number for the next packet; wraps from 65535 to 0."""
        seq = self._next
        self._next = (seq + 1) % SEQ_WRAP
        return seq

    @staticmethod
    def encode(seq: int) -> bytes:
        """The header extension's value for `seq`: 2 bytes, big-endian."""
        return _check_seq("seq", seq).to_bytes(2, "big")


def feedback_packets(compound: bytes) -> list[bytes]:
    """The transport-cc packets in a compound RTCP datagram (decrypted), whole.

    Scanning stops quietly at a tail that is not a whole RTCP packet (too short for
    its length field, or not version 2); the packets before it are returned.
    """
    found = []
    offset = 0
    while offset + 4 <= len(compound):
        first, packet_type, words = struct.unpack_from("!BBH", compound, offset)
        end = offset + (words + 1) * 4
        if first >> 6 != 2 or end > len(compound):
            break
        if packet_type == RTPFB and first & 0x1F == TRANSPORT_CC_FMT:
            found.append(bytes(compound[offset:end]))
        offset = end
    return found


def parse_feedback(packet: bytes) -> TransportFeedback:
    """Read one whole transport-cc RTCP packet.

    Raises:
        ValueError: The packet is malformed; the message names the field, the
            expected and the actual value.
    """
    size = len(packet)
    if size < HEADER_SIZE:
        _fail(f"{size} bytes, expected at least {HEADER_SIZE} (header up to the chunks)")
    first, packet_type, words = struct.unpack_from("!BBH", packet)
    _expect("version", first >> 6, 2)
    _expect("packet type", packet_type, RTPFB)
    _expect("feedback message type (FMT)", first & 0x1F, TRANSPORT_CC_FMT)
    if (words + 1) * 4 != size:
        _fail(f"length field says {(words + 1) * 4} bytes, the packet has {size}")
    end = size
    if first & 0x20:
        padding = packet[-1]
        if not 1 <= padding <= size - HEADER_SIZE:
            _fail(f"padding of {padding} bytes, expected 1 to {size - HEADER_SIZE}")
        end -= padding
    sender, media, base, count, reference = struct.unpack_from("!IIHHI", packet, 4)
    if count == 0:
        _fail("packet status count 0, expected at least 1")
    ticks = reference >> 8
    if ticks & 0x800000:
        ticks -= REFERENCE_WRAP
    symbols: list[int] = []
    offset = HEADER_SIZE
    while len(symbols) < count:
        if offset + 2 > end:
            _fail(f"packet chunks end after {len(symbols)} of {count} status symbols")
        symbols += _decode_chunk(struct.unpack_from("!H", packet, offset)[0], offset)
        offset += 2
    extra = sum(1 for symbol in symbols[count:] if symbol != _LOST)
    if extra:
        _fail(f"{extra} received status symbols past the packet status count {count}")
    del symbols[count:]
    needed = symbols.count(_SMALL) + 2 * symbols.count(_LARGE)
    if offset + needed > end:
        _fail(f"receive deltas need {needed} bytes, the packet has {end - offset} left")
    if end - offset - needed > ALIGNMENT_SLACK:
        left = end - offset - needed
        _fail(f"{left} bytes after the receive deltas, expected at most {ALIGNMENT_SLACK}")
    feedback = TransportFeedback(sender, media, base, reference & 0xFF, ticks * REFERENCE_US)
    arrival = feedback.reference_us
    for index, symbol in enumerate(symbols):
        seq = (base + index) % SEQ_WRAP
        if symbol == _LOST:
            feedback.packets.append((seq, None))
            continue
        if symbol == _SMALL:
            delta, offset = packet[offset], offset + 1
        else:
            delta, offset = struct.unpack_from("!h", packet, offset)[0], offset + 2
        arrival += delta * DELTA_US
        feedback.packets.append((seq, arrival))
    return feedback


def build_feedback(
    sender_ssrc: int,
    media_ssrc: int,
    base_seq: int,
    feedback_count: int,
    reference_us: int,
    arrivals: Sequence[int | None],
) -> bytes:
    """Write one transport-cc RTCP packet (the inverse of `parse_feedback`).

    `reference_us` must be a multiple of 64 ms in the signed 24-bit range; `arrivals`
    (1 to 65535, from `base_seq` on) are microseconds, rounded to 250 us steps from the
    reference, or None for not received. Padded to 32-bit words, with the P bit.

    Raises:
        ValueError: A value does not fit the wire format (the message names it).
    """
    _check_seq("base_seq", base_seq)
    for name, value, high in (
        ("sender_ssrc", sender_ssrc, 0xFFFFFFFF),
        ("media_ssrc", media_ssrc, 0xFFFFFFFF),
        ("feedback_count", feedback_count, 0xFF),
    ):
        if not 0 <= value <= high:
            _fail(f"{name} {value}, expected 0 to {high}")
    if not 1 <= len(arrivals) < SEQ_WRAP:
        _fail(f"{len(arrivals)} arrivals, expected 1 to {SEQ_WRAP - 1}")
    ticks, rest = divmod(reference_us, REFERENCE_US)
    if rest or not -(REFERENCE_WRAP >> 1) <= ticks < REFERENCE_WRAP >> 1:
        _fail(f"reference_us {reference_us}, expected a signed 24-bit multiple of 64000")
    symbols: list[int] = []
    deltas = bytearray()
    previous = 0
    for arrival in arrivals:
        if arrival is None:
            symbols.append(_LOST)
            continue
        tick = round((arrival - reference_us) / DELTA_US)
        delta, previous = tick - previous, tick
        if 0 <= delta <= 0xFF:
            symbols.append(_SMALL)
            deltas.append(delta)
        elif -0x8000 <= delta < 0x8000:
            symbols.append(_LARGE)
            deltas += struct.pack("!h", delta)
        else:
            _fail(f"receive delta {delta * DELTA_US} us at {arrival}, expected -8192000 to 8191750")
    reference = (ticks % REFERENCE_WRAP) << 8 | feedback_count
    body = struct.pack("!IIHHI", sender_ssrc, media_ssrc, base_seq, len(symbols), reference)
    body += b"".join(struct.pack("!H", chunk) for chunk in _encode_chunks(symbols)) + deltas
    padding = -(4 + len(body)) % 4
    if padding:
        body += bytes(padding - 1) + bytes([padding])
    first = 0x80 | (0x20 if padding else 0) | TRANSPORT_CC_FMT
    return struct.pack("!BBH", first, RTPFB, (4 + len(body)) // 4 - 1) + body


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
        _check_seq("seq", seq)
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


def _decode_chunk(chunk: int, offset: int) -> list[int]:
    """The status symbols of one packet chunk (at byte `offset`, for errors)."""
    if not chunk & 0x8000:
        symbol, run = chunk >> 13 & 0x3, chunk & MAX_RUN
        if run == 0:
            _fail(f"run-length chunk at byte {offset} has run 0, expected 1 to {MAX_RUN}")
        symbols = [symbol] * run
    elif not chunk & 0x4000:
        symbols = [chunk >> shift & 0x1 for shift in range(13, -1, -1)]
    else:
        symbols = [chunk >> shift & 0x3 for shift in range(12, -1, -2)]
    if 3 in symbols:
        _fail(f"status symbol 3 (reserved) in the chunk at byte {offset}, expected 0 to 2")
    return symbols


def _encode_chunks(symbols: list[int]) -> list[int]:
    """Packet chunks for `symbols`: runs of 14 or more, else the narrowest vector."""
    chunks = []
    index = 0
    while index < len(symbols):
        symbol = symbols[index]
        run = 1
        while index + run < len(symbols) and symbols[index + run] == symbol and run < MAX_RUN:
            run += 1
        if run >= 14 or index + run == len(symbols):
            chunks.append(symbol << 13 | run)
            index += run
        elif _LARGE not in symbols[index : index + 14]:
            window = symbols[index : index + 14]
            chunks.append(0x8000 | sum(s << (13 - i) for i, s in enumerate(window)))
            index += len(window)
        else:
            window = symbols[index : index + 7]
            chunks.append(0xC000 | sum(s << (12 - 2 * i) for i, s in enumerate(window)))
            index += len(window)
    return chunks


def _check_seq(name: str, seq: int) -> int:
    if not 0 <= seq < SEQ_WRAP:
        raise ValueError(f"transport sequence: {name} {seq}, expected 0 to {SEQ_WRAP - 1}")
    return seq


def _expect(name: str, actual: int, expected: int) -> None:
    if actual != expected:
        _fail(f"{name} {actual}, expected {expected}")


def _fail(message: str) -> NoReturn:
    raise ValueError(f"transport feedback: {message}")
