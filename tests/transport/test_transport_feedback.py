"""Transport-cc feedback on the wire (`transport.transport_feedback`)."""

from __future__ import annotations

import random
import struct

import pytest

from reactor_runtime.transport.transport_feedback import (
    TransportSequence,
    build_feedback,
    feedback_packets,
    parse_feedback,
)

# Written by hand from the draft's layout: V=2 P=1 FMT=15, PT=205, length 7 words.
HAND = bytes.fromhex(
    "af cd 0007"  # V=2 P=1 FMT=15 | PT 205 | 7 + 1 words
    "11223344 55667788"  # sender SSRC | media SSRC
    "fffe 0005"  # base sequence 65534 | packet status count 5
    "fffffe 07"  # reference time -2 (x 64 ms) | feedback packet count 7
    "2002"  # run-length chunk: symbol 1 (small delta), run 2
    "e100"  # 2-bit vector: 2 (large), 0 (lost), 1 (small), then padding zeros
    "04 ff ff9c 01"  # deltas: 4, 255 (x 250 us), -100 (2 bytes), 1
    "000003"  # padding: 3 bytes, the last says how many
)


def test_a_hand_assembled_packet_is_read_field_by_field():
    feedback = parse_feedback(HAND)
    assert feedback.sender_ssrc == 0x11223344
    assert feedback.media_ssrc == 0x55667788
    assert feedback.base_seq == 65534
    assert feedback.feedback_count == 7
    assert feedback.reference_us == -128_000
    assert feedback.packets == [
        (65534, -127_000),
        (65535, -63_250),
        (0, -88_250),
        (1, None),
        (2, -88_000),
    ]


def test_alignment_by_zeros_without_the_p_bit_is_read_too():
    legacy = bytes([HAND[0] & ~0x20]) + HAND[1:-3] + bytes(3)
    assert parse_feedback(legacy).packets == parse_feedback(HAND).packets


PATTERNS = {
    "all received": [1000 + 250 * i for i in range(40)],
    "a lost run longer than one chunk": [5000, *[None] * 9000, 9000],
    "mixed": [0, None, 250, 250, None, None, 1500, 64_000, None, 70_000] * 3,
    "negative and long deltas": [64_000, 10_000, 200_000, 199_750, 2_000_000, 0],
    "one packet": [None],
    "status counts off 7 and 14": [250 * i if i % 3 else None for i in range(23)],
    "a large delta in a short tail": [0, 250, -5000],
}


@pytest.mark.parametrize("arrivals", PATTERNS.values(), ids=PATTERNS.keys())
def test_build_then_parse_gives_back_every_arrival(arrivals):
    packet = build_feedback(1, 2, 65530, 255, -64_000, arrivals)
    feedback = parse_feedback(packet)
    assert (feedback.sender_ssrc, feedback.media_ssrc, feedback.base_seq) == (1, 2, 65530)
    assert (feedback.feedback_count, feedback.reference_us) == (255, -64_000)
    assert feedback.packets == [((65530 + i) % 65536, a) for i, a in enumerate(arrivals)]


def test_a_lost_run_longer_than_8191_takes_two_run_length_chunks():
    packet = build_feedback(0, 0, 0, 0, 0, [0, *[None] * 9000, 250])
    chunks = struct.unpack_from("!4H", packet, 20)
    assert chunks[1] == 8191, "a run of 8191 lost"
    assert chunks[2] == 9000 - 8191 - 13, "the rest, after the 13 of the first vector"


def test_every_length_pads_to_whole_words_with_the_p_bit():
    for count in range(1, 9):
        packet = build_feedback(0, 0, 0, 0, 0, [250 * i for i in range(count)])
        padding = -(20 + 2 + count) % 4
        assert len(packet) == 20 + 2 + count + padding
        assert packet[0] & 0x20 == (0x20 if padding else 0)
        assert not padding or packet[-1] == padding
        assert len(parse_feedback(packet).packets) == count


def patch(offset, data, packet=HAND):
    return packet[:offset] + bytes.fromhex(data) + packet[offset + len(bytes.fromhex(data)) :]


MALFORMED = [
    ("version 1, expected 2", patch(0, "6f")),
    ("packet type 206, expected 205", patch(1, "ce")),
    ("feedback message type \\(FMT\\) 1, expected 15", patch(0, "a1")),
    ("length field says 36 bytes, the packet has 32", patch(2, "0008")),
    ("padding of 0 bytes, expected 1 to 12", patch(31, "00")),
    ("packet status count 0, expected at least 1", patch(14, "0000")),
    ("status symbol 3 \\(reserved\\) in the chunk at byte 22", patch(22, "f100")),
    ("run-length chunk at byte 20 has run 0, expected 1 to 8191", patch(20, "2000")),
    ("2 received status symbols past the packet status count 5", patch(22, "e150")),
    (
        "3 received status symbols past the packet status count 20",
        bytes.fromhex("8fcd000a")
        + HAND[4:12]
        + bytes.fromhex("00000014 00000007 2017")
        + bytes(22),
    ),
    (
        "receive deltas need 5 bytes, the packet has 1 left",
        patch(2, "0006", HAND[:24] + bytes.fromhex("00000003")),
    ),
    (
        "4 bytes after the receive deltas, expected at most 3",
        patch(2, "0008", HAND[:29] + bytes(4) + bytes.fromhex("000003")),
    ),
    (
        "packet chunks end after 14 of 1000 status symbols",
        bytes.fromhex("8fcd0005") + HAND[4:12] + bytes.fromhex("000003e8 00000000 c000c000"),
    ),
]


@pytest.mark.parametrize(("message", "packet"), MALFORMED, ids=[m[:30] for m, _ in MALFORMED])
def test_malformed_feedback_is_refused_naming_the_field_and_both_values(message, packet):
    with pytest.raises(ValueError, match=f"^transport feedback: {message}"):
        parse_feedback(packet)


def test_truncated_flipped_and_random_bytes_raise_only_value_error():
    rng = random.Random(10)
    valid = [HAND, *(build_feedback(1, 2, 3, 4, 0, arrivals) for arrivals in PATTERNS.values())]
    cases = []
    for packet in valid:
        for cut in range(0, len(packet), max(1, len(packet) // 40)):
            cases.append(packet[:cut])
            words = max(cut // 4 - 1, 0)
            cases.append(packet[:1] + b"\xcd" + struct.pack("!H", words) + packet[4 : cut & ~3])
        for _ in range(100):
            flipped = bytearray(packet)
            flipped[rng.randrange(len(packet))] ^= 1 << rng.randrange(8)
            cases.append(bytes(flipped))
    for _ in range(2000):
        size = rng.randrange(5, 40) * 4
        first = rng.choice([b"\x8f", b"\xaf"])
        cases.append(first + b"\xcd" + struct.pack("!H", size // 4 - 1) + rng.randbytes(size - 4))
    parsed = 0
    for case in cases:
        try:
            feedback = parse_feedback(case)
        except ValueError:
            continue
        parsed += 1
        assert len(feedback.packets) >= 1
    assert 0 < parsed < len(cases), "both good and bad inputs were exercised"
    for case in cases:
        feedback_packets(case)


def test_a_compound_datagram_yields_only_its_whole_transport_cc_packets():
    receiver_report = bytes.fromhex("81c9000700000001") + bytes(24)
    nack = bytes.fromhex("81cd0003000000010000000200100000")
    transport_cc = build_feedback(1, 2, 100, 0, 0, [0, None, 500])
    truncated = bytes.fromhex("8fcd0009") + transport_cc[4:]
    compound = receiver_report + transport_cc + nack + transport_cc + truncated
    assert feedback_packets(compound) == [transport_cc, transport_cc]
    assert feedback_packets(receiver_report + b"\x81") == []


def test_transport_sequence_numbers_wrap_from_65535_to_0_and_are_big_endian():
    sequence = TransportSequence(start=65534)
    assert [sequence.next() for _ in range(3)] == [65534, 65535, 0]
    assert TransportSequence.encode(0x1234) == b"\x12\x34"
    with pytest.raises(ValueError, match="seq 65536, expected 0 to 65535"):
        TransportSequence.encode(65536)
