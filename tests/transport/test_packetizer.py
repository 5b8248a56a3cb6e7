"""Our RTP packetizers: the RFC 7741 VP8 descriptor bit by bit, and the H.264 split."""

from __future__ import annotations

import fractions

import av
import pytest
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import VpxPayloadDescriptor

from reactor_runtime.transport.encoded import EncodedVideo
from reactor_runtime.transport.packetizer import PACKET_MAX, H264Packetizer, Vp8Packetizer


def frame(size: int, tid: int = 0, keyframe: bool = False, pts: int = 3000) -> EncodedVideo:
    packet = av.Packet(bytes(i % 251 for i in range(size)))
    packet.pts = pts
    packet.time_base = fractions.Fraction(1, 90_000)
    packet.is_keyframe = keyframe
    return EncodedVideo(packet, tid)


def descriptor(payload: bytes) -> dict[str, int]:
    """Parse the RFC 7741 descriptor we write (X, I with M, L, T set) bit by bit."""
    b = payload[:6]
    return {
        "X": b[0] >> 7,
        "R": (b[0] >> 6) & 1,
        "N": (b[0] >> 5) & 1,
        "S": (b[0] >> 4) & 1,
        "PID": b[0] & 0x0F,
        "I": b[1] >> 7,
        "L": (b[1] >> 6) & 1,
        "T": (b[1] >> 5) & 1,
        "K": (b[1] >> 4) & 1,
        "RSV": b[1] & 0x0F,
        "M": b[2] >> 7,
        "picture_id": ((b[2] & 0x7F) << 8) | b[3],
        "TL0PICIDX": b[4],
        "TID": b[5] >> 6,
        "Y": (b[5] >> 5) & 1,
        "KEYIDX": b[5] & 0x1F,
    }


def test_the_vp8_descriptor_carries_picture_id_tl0picidx_and_tid_bit_by_bit():
    packetizer = Vp8Packetizer(picture_id=0x7FFF, tl0picidx=255, describe_layers=True)
    payloads, timestamp = packetizer.pack(frame(3000, tid=0, keyframe=True, pts=4500))
    assert timestamp == 4500 and len(payloads) == 3
    assert all(len(p) <= PACKET_MAX for p in payloads)
    first = descriptor(payloads[0])
    assert first == {
        "X": 1, "R": 0, "N": 0, "S": 1, "PID": 0,
        "I": 1, "L": 1, "T": 1, "K": 0, "RSV": 0,
        "M": 1, "picture_id": 0x7FFF, "TL0PICIDX": 0,  # both wrapped
        "TID": 0, "Y": 1, "KEYIDX": 0,
    }  # fmt: skip
    assert [descriptor(p)["S"] for p in payloads] == [1, 0, 0]
    assert b"".join(p[6:] for p in payloads) == bytes(frame(3000).packet)
    enhancement = descriptor(packetizer.pack(frame(100, tid=1))[0][0])
    assert (enhancement["picture_id"], enhancement["TL0PICIDX"]) == (0, 0)
    assert (enhancement["TID"], enhancement["Y"], enhancement["N"]) == (1, 1, 1)

    parsed, rest = VpxPayloadDescriptor.parse(payloads[0])
    assert parsed.picture_id == 0x7FFF and parsed.tl0picidx == 0 and parsed.tid == (0, 1)
    assert rest == payloads[0][6:]


def test_a_base_layer_only_viewer_sees_consecutive_picture_ids_and_tl0picidx():
    full, base = (
        Vp8Packetizer(picture_id=10, tl0picidx=7, describe_layers=True),
        Vp8Packetizer(picture_id=10, tl0picidx=7, describe_layers=True),
    )
    seen_full, seen_base = [], []
    for i in range(8):
        unit = frame(500, tid=i % 2, keyframe=i == 0, pts=i * 3000)
        d = descriptor(full.pack(unit)[0][0])
        seen_full.append((d["picture_id"], d["TL0PICIDX"], d["TID"]))
        if unit.temporal_id == 0:  # what a base-layer-only viewer's track lets through
            d = descriptor(base.pack(unit)[0][0])
            seen_base.append((d["picture_id"], d["TL0PICIDX"], d["TID"]))
    assert seen_full == [(10, 8, 0), (11, 8, 1), (12, 9, 0), (13, 9, 1),
                         (14, 10, 0), (15, 10, 1), (16, 11, 0), (17, 11, 1)]  # fmt: skip
    assert seen_base == [(10, 8, 0), (11, 9, 0), (12, 10, 0), (13, 11, 0)]


def test_a_trailer_is_appended_to_the_frame_before_it_is_split():
    vp8 = Vp8Packetizer(trailer=lambda unit: b"META" if unit.temporal_id == 0 else None)
    payloads, _ = vp8.pack(frame(PACKET_MAX - 6 - 2))
    assert len(payloads) == 2 and payloads[-1][6:] == b"TA", "the trailer may be split too"
    assert b"".join(p[6:] for p in payloads).endswith(b"META")
    assert len(vp8.pack(frame(10, tid=1))[0][0]) == 16

    h264 = H264Packetizer(trailer=lambda unit: b"\x00\x00\x01\x06tail")
    unit = frame(0)
    object.__setattr__(unit, "packet", av.Packet(b"\x00\x00\x00\x01\x65" + b"\x11" * 3000))
    unit.packet.pts, unit.packet.time_base = 900, fractions.Fraction(1, 90_000)
    payloads, timestamp = h264.pack(unit)
    assert timestamp == 900 and all(len(p) <= PACKET_MAX for p in payloads)
    stream = b"".join(h264_depayload(p) for p in payloads)
    assert stream.endswith(b"\x00\x00\x00\x01\x06tail") and b"\x65" + b"\x11" * 3000 in stream


def test_anything_but_an_encoded_frame_is_refused_naming_what_came():
    with pytest.raises(TypeError, match="expected EncodedVideo, got <class 'bytes'>"):
        Vp8Packetizer().pack(b"raw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temporal_id: expected 0 or 1, got 2"):
        Vp8Packetizer().pack(frame(10, tid=2))


def test_by_default_every_frame_is_described_as_one_sequence_of_base_frames():
    packetizer = Vp8Packetizer(picture_id=0, tl0picidx=0)
    seen = [descriptor(packetizer.pack(frame(50, tid=i % 2))[0][0]) for i in range(4)]
    assert [(d["picture_id"], d["TL0PICIDX"], d["TID"], d["N"]) for d in seen] == [
        (0, 1, 0, 0),
        (1, 2, 0, 0),
        (2, 3, 0, 0),
        (3, 4, 0, 0),
    ]
