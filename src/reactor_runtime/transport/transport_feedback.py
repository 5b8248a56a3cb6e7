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
- `PacketResult` is what a feedback says of one sent packet (`send_history` matches
  feedbacks to what was sent).

Malformed feedback raises `ValueError` naming the field, the expected and the actual
value, and nothing is read out of bounds. Arrival times are on the viewer's clock:
the 24-bit reference time (64 ms units) plus cumulative 250 us deltas
(`send_history.SendHistory` unwraps the reference).
"""

from __future__ import annotations

import struct
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
        self._next = check_seq("start", start)

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
        return check_seq("seq", seq).to_bytes(2, "big")


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
    check_seq("base_seq", base_seq)
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


def check_seq(name: str, seq: int) -> int:
    """`seq` if it is a 16-bit transport sequence number, else ValueError naming `name`."""
    if not 0 <= seq < SEQ_WRAP:
        raise ValueError(f"transport sequence: {name} {seq}, expected 0 to {SEQ_WRAP - 1}")
    return seq


def _expect(name: str, actual: int, expected: int) -> None:
    if actual != expected:
        _fail(f"{name} {actual}, expected {expected}")


def _fail(message: str) -> NoReturn:
    raise ValueError(f"transport feedback: {message}")
