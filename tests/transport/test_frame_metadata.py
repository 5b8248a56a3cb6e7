"""The frame-metadata trailer and its SDP opt-in, against bytes the official SDK sent."""

from __future__ import annotations

import numpy as np
import pytest

from reactor_runtime import TrackPayload, Video
from reactor_runtime.tracks import MAX_FRAME_METADATA
from reactor_runtime.transport.frame_metadata import (
    SDP_LINE,
    FrameMetadata,
    FrameMetadataCounters,
    TrailerError,
    encode_trailer,
    offer_declares,
    split_trailer,
    with_declaration,
)
from reactor_runtime.transport.trailer_reader import TrailerReader

# The end of the first frame reactor-sdk 1.13.0 sent us after
# push_frame(frame, user_data=b"tag-000", capture_time_us=1_000_000).
SDK_TRAILER = bytes.fromhex("080110c0843d1a077461672d3030300f000000") + b"RXMT"


def test_the_sdk_s_trailer_splits_into_its_payload_and_metadata() -> None:
    payload, meta = split_trailer(b"\x90vp8-payload" + SDK_TRAILER)
    assert payload == b"\x90vp8-payload"
    assert meta == FrameMetadata(frame_id=1, capture_time_us=1_000_000, user_data=b"tag-000")


def test_our_trailer_is_byte_identical_to_the_sdk_s() -> None:
    meta = FrameMetadata(frame_id=1, capture_time_us=1_000_000, user_data=b"tag-000")
    assert encode_trailer(meta) == SDK_TRAILER


def test_a_negative_capture_time_and_a_large_frame_id_round_trip() -> None:
    meta = FrameMetadata(frame_id=(1 << 64) - 1, capture_time_us=-5, user_data=b"\x00" * 300)
    assert split_trailer(b"x" + encode_trailer(meta)) == (b"x", meta)


def test_a_frame_without_the_magic_is_returned_unchanged() -> None:
    frame = b"\x10\x02\x00\x9d\x01\x2a" * 10
    assert split_trailer(frame) == (frame, None)


def test_a_trailer_over_the_limit_is_refused_with_its_size_and_the_limit() -> None:
    trailer = encode_trailer(FrameMetadata(user_data=b"u" * 200))
    with pytest.raises(TrailerError, match=r"203 bytes is over the limit of 100"):
        split_trailer(b"x" + trailer, max_trailer=100)


def test_a_length_longer_than_the_frame_or_a_truncated_field_is_refused() -> None:
    with pytest.raises(TrailerError, match="longer than"):
        split_trailer(b"\x08\x01" + (50).to_bytes(4, "little") + b"RXMT")
    with pytest.raises(TrailerError, match="field 3"):
        split_trailer(b"\x1a\x09ab" + (4).to_bytes(4, "little") + b"RXMT")


def test_an_offer_declares_trailers_only_at_session_level_in_version_1() -> None:
    head = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    media = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"
    assert offer_declares(head + SDP_LINE + "\r\n" + media)
    assert not offer_declares(head + media)
    assert not offer_declares(head + media + SDP_LINE + "\r\n")
    assert not offer_declares(head + "a=x-reactor-frame-metadata:2\r\n" + media)


def test_the_answer_declares_trailers_right_after_its_timing_line() -> None:
    answer = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 X 96\r\n"
    declared = with_declaration(answer)
    assert declared.split("\r\n")[3:5] == ["t=0 0", SDP_LINE]
    assert offer_declares(declared)


def test_metadata_over_the_per_frame_limit_fails_the_emit_naming_the_track() -> None:
    frame = np.zeros((2, 2, 3), np.uint8)
    payload = TrackPayload(frame, metadata=b"m" * (MAX_FRAME_METADATA + 1))
    with pytest.raises(ValueError, match=rf"track 'main': .* {MAX_FRAME_METADATA + 1} bytes"):
        payload.encode("main", Video, 1)
    assert TrackPayload(frame, metadata={"a": 1}).encode("main", Video, 1, limit=7) == [b'{"a":1}']


def test_a_bad_trailer_from_a_viewer_is_dropped_and_counted_and_its_frame_kept() -> None:
    totals = FrameMetadataCounters()
    reader = TrailerReader("webcam", max_trailer=100, totals=totals)
    big = encode_trailer(FrameMetadata(user_data=b"u" * 200))
    assert reader.strip(b"vp8" + big, 3000) == b"vp8"
    assert reader.strip(b"vp8" + encode_trailer(FrameMetadata(7, 5)), 6000) == b"vp8"
    assert (reader.take(3000), reader.take(6000)) == (None, FrameMetadata(7, 5))
    assert (totals.trailers_dropped, totals.trailers_received) == (1, 1)
